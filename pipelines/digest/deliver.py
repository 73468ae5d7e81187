"""Where a digest goes: files, email (smtplib) and Slack (slack_sdk's WebhookClient).

Errors name what failed and how to fix it, never a password or the webhook URL.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path

from pipelines.digest.model import Digest
from pipelines.digest.render import (
    CHART_FILE,
    render_html,
    render_json,
    render_slack,
    render_text,
    title,
)
from pipelines.digest.settings import EmailSettings, SlackSettings

# slack_sdk logs each request's URL at debug level; the URL is a secret, so its logger stays
# at INFO even under `refiner --debug`.
_slack_logger = logging.getLogger("pipelines.digest.slack")
_slack_logger.setLevel(logging.INFO)


class DeliveryError(Exception):
    """An email or Slack message could not be sent; the message says why."""


def write_files(digest: Digest, directory: Path, chart: bytes | None) -> list[Path]:
    """Write digest.json, digest.html, digest.txt and (with a chart) nps_trend.png."""
    directory.mkdir(parents=True, exist_ok=True)
    files = {
        "digest.json": render_json(digest),
        "digest.html": render_html(digest, CHART_FILE if chart else None),
        "digest.txt": render_text(digest),
    }
    written = []
    for name, text in files.items():
        path = directory / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    if chart is not None:
        path = directory / CHART_FILE
        path.write_bytes(chart)
        written.append(path)
    return written


def email_message(digest: Digest, settings: EmailSettings, chart: bytes | None) -> EmailMessage:
    """A multipart/alternative message: plain text, and HTML with the chart as a CID image."""
    message = EmailMessage()
    message["Subject"] = title(digest)
    message["From"] = settings.sender
    message["To"] = ", ".join(settings.recipients)
    message.set_content(render_text(digest))
    if chart is None:
        message.add_alternative(render_html(digest, None), subtype="html")
        return message
    content_id = make_msgid(domain="refiner-digest.local")
    message.add_alternative(render_html(digest, f"cid:{content_id[1:-1]}"), subtype="html")
    html_part = message.get_body(preferencelist=("html",))
    assert isinstance(html_part, EmailMessage)
    html_part.add_related(
        chart, maintype="image", subtype="png", cid=content_id, filename=CHART_FILE
    )
    return message


def send_email(digest: Digest, settings: EmailSettings, chart: bytes | None) -> None:
    """Send the digest over SMTP (SSL, or STARTTLS by default; login when a username is set)."""
    message = email_message(digest, settings, chart)
    context = ssl.create_default_context()
    try:
        if settings.ssl:
            client: smtplib.SMTP = smtplib.SMTP_SSL(
                settings.host, settings.port, timeout=settings.timeout_seconds, context=context
            )
        else:
            client = smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout_seconds)
        with client:
            if settings.starttls:
                client.starttls(context=context)
            if settings.username:
                client.login(settings.username, settings.password or "")
            client.send_message(message)
    except smtplib.SMTPAuthenticationError:
        raise DeliveryError(
            f"SMTP login to {settings.host}:{settings.port} failed; check "
            "DIGEST__SMTP_USERNAME and DIGEST__SMTP_PASSWORD."
        ) from None
    except (smtplib.SMTPException, OSError) as error:
        raise DeliveryError(
            f"Could not send the digest by email through {settings.host}:{settings.port} "
            f"({type(error).__name__}); check [digest] smtp_host, smtp_port, smtp_starttls "
            "and smtp_ssl."
        ) from None


def send_slack(digest: Digest, settings: SlackSettings) -> None:
    """Post the Block Kit message to the incoming webhook."""
    from slack_sdk.webhook import WebhookClient

    chart_url = (
        f"{settings.chart_base_url.rstrip('/')}/{CHART_FILE}" if settings.chart_base_url else None
    )
    payload = render_slack(digest, chart_url)
    client = WebhookClient(settings.webhook_url, timeout=30, logger=_slack_logger)
    try:
        response = client.send(
            text=payload["text"], blocks=payload["blocks"], unfurl_links=False, unfurl_media=False
        )
    except Exception as error:
        raise DeliveryError(
            f"Could not reach the Slack webhook ({type(error).__name__}); check "
            "DIGEST__SLACK_WEBHOOK_URL."
        ) from None
    if response.status_code != 200:
        raise DeliveryError(
            f"Slack refused the digest: HTTP {response.status_code} {response.body[:200]!r}."
        )
