"""A real SMTP server for the email tests: aiosmtpd on a free loopback port.

aiosmtpd's Controller cannot bind port 0, so a free port is found first by binding a socket.
`tls_files` makes a self-signed certificate for localhost with the openssl command, for the
STARTTLS test; the client trusts it through SSL_CERT_FILE.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from tests.ports import free_port


@dataclass
class Mailbox:
    """What the server received, and the logins it accepted or refused."""

    messages: list[EmailMessage] = field(default_factory=list)
    envelopes: list[tuple[str, list[str]]] = field(default_factory=list)
    logins: list[tuple[str, bool]] = field(default_factory=list)
    port: int = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        parsed = message_from_bytes(envelope.original_content, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        self.messages.append(parsed)
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        return "250 OK"


@contextmanager
def smtp_server(
    *,
    username: str,
    password: str,
    tls: tuple[Path, Path] | None = None,
    implicit_tls: bool = False,
) -> Iterator[Mailbox]:
    """Serve SMTP with PLAIN auth for `username`/`password`: STARTTLS with `tls`, or TLS from
    the first byte (SMTPS) with `implicit_tls` too."""
    mailbox = Mailbox(port=free_port())

    def authenticate(
        server: Any, session: Any, envelope: Any, mechanism: str, data: Any
    ) -> AuthResult:
        ok = (
            isinstance(data, LoginPassword)
            and data.login.decode() == username
            and data.password.decode() == password
        )
        mailbox.logins.append((data.login.decode() if ok else "?", ok))
        return AuthResult(success=ok, handled=False)

    options: dict[str, Any] = {
        "authenticator": authenticate,
        "auth_required": True,
        "auth_require_tls": tls is not None,
        # One mechanism, so that a refused login is one 535 answer, as from most servers.
        "auth_exclude_mechanism": ["LOGIN"],
    }
    if tls is not None:
        import ssl

        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(str(tls[0]), str(tls[1]))
        if implicit_tls:
            options.update(ssl_context=context, auth_require_tls=False)
        else:
            options.update(tls_context=context, require_starttls=True)
    controller = Controller(mailbox, hostname="127.0.0.1", port=mailbox.port, **options)
    controller.start()
    try:
        yield mailbox
    finally:
        controller.stop()


def tls_files(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate and key for localhost and 127.0.0.1."""
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            "-keyout", str(key), "-out", str(cert), "-subj", "/CN=localhost",
            "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key
