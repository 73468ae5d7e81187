"""`refiner digest --to email` against a real SMTP server (aiosmtpd on loopback)."""

from __future__ import annotations

from email.message import EmailMessage
from pathlib import Path

import pytest

from tests.cli_run import run_refiner
from tests.digest.helpers import DAY, SCRIPT, Warehouse
from tests.digest.smtp import smtp_server, tls_files

PASSWORD = "smtp-sentinel-pa55word"
# The tests log in without TLS on loopback on purpose; aiosmtpd warns about that.
pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _configure(monkeypatch: pytest.MonkeyPatch, port: int, **extra: str) -> None:
    settings = {
        "DIGEST__SMTP_HOST": "127.0.0.1",
        "DIGEST__SMTP_PORT": str(port),
        "DIGEST__SMTP_USERNAME": "digest-bot",
        "DIGEST__SMTP_PASSWORD": PASSWORD,
        "DIGEST__DIGEST_FROM": "digest@example.com",
        "DIGEST__DIGEST_TO": "team@example.com, lead@example.com",
        **extra,
    }
    for name, value in settings.items():
        monkeypatch.setenv(name, value)


def _send(warehouse: Warehouse) -> tuple[int, str]:
    run = run_refiner(
        "digest", "--duckdb-path", str(warehouse.path), "--date", DAY.isoformat(),
        "--timezone", "Europe/Berlin", "--to", "email",
    )  # fmt: skip
    return run.code, run.stdout + run.stderr


def _check_message(message: EmailMessage) -> None:
    assert message["Subject"] == "Refiner digest — Tuesday 10 March 2026 (Europe/Berlin)"
    assert message["From"] == "digest@example.com"
    text = message.get_body(preferencelist=("plain",))
    html = message.get_body(preferencelist=("html",))
    assert text is not None and html is not None
    assert "NPS          +25.0" in text.get_content()
    assert SCRIPT in text.get_content()
    html_text = html.get_content()
    assert "<script>" not in html_text
    assert "&lt;script&gt;" in html_text
    images = [part for part in message.walk() if part.get_content_type() == "image/png"]
    assert len(images) == 1
    content_id = images[0]["Content-ID"].strip("<>")
    assert f'src="cid:{content_id}"' in html_text
    png = images[0].get_payload(decode=True)
    assert png.startswith(PNG_MAGIC)
    assert png[12:16] == b"IHDR"
    width, height = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")
    assert (width, height) == (700, 260)


def test_email_with_inline_chart_and_login(
    warehouse: Warehouse, monkeypatch: pytest.MonkeyPatch
) -> None:
    with smtp_server(username="digest-bot", password=PASSWORD) as mailbox:
        _configure(monkeypatch, mailbox.port, DIGEST__SMTP_STARTTLS="false")
        code, output = _send(warehouse)
    assert code == 0, output
    assert mailbox.logins == [("digest-bot", True)]
    assert mailbox.envelopes == [("digest@example.com", ["team@example.com", "lead@example.com"])]
    _check_message(mailbox.messages[0])
    assert PASSWORD not in output


@pytest.mark.parametrize("implicit_tls", [False, True], ids=["starttls", "ssl"])
def test_email_over_tls(
    warehouse: Warehouse, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, implicit_tls: bool
) -> None:
    cert, key = tls_files(tmp_path)
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    with smtp_server(
        username="digest-bot", password=PASSWORD, tls=(cert, key), implicit_tls=implicit_tls
    ) as mailbox:
        _configure(
            monkeypatch,
            mailbox.port,
            DIGEST__SMTP_HOST="localhost",
            DIGEST__SMTP_SSL=str(implicit_tls).lower(),
        )
        code, output = _send(warehouse)
    assert code == 0, output
    assert mailbox.logins == [("digest-bot", True)]
    _check_message(mailbox.messages[0])


def test_wrong_password_is_one_line_without_the_password(
    warehouse: Warehouse, monkeypatch: pytest.MonkeyPatch
) -> None:
    with smtp_server(username="digest-bot", password="another") as mailbox:
        _configure(monkeypatch, mailbox.port, DIGEST__SMTP_STARTTLS="false")
        code, output = _send(warehouse)
    assert code == 1
    assert mailbox.messages == []
    assert output.strip().splitlines() == [
        f"Error: SMTP login to 127.0.0.1:{mailbox.port} failed; check DIGEST__SMTP_USERNAME "
        "and DIGEST__SMTP_PASSWORD."
    ]
    assert PASSWORD not in output


def test_missing_settings_exit_2_naming_them(
    warehouse: Warehouse, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DIGEST__SMTP_HOST", "127.0.0.1")
    code, output = _send(warehouse)
    assert code == 2
    assert "digest_from, digest_to" in output
    assert "DIGEST__DIGEST_FROM, DIGEST__DIGEST_TO" in output
