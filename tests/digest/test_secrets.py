"""Sentinel secrets (SMTP password, Slack URL, LLM key) never reach output, logs or files."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from pipelines.digest.settings import email_settings, llm_settings, slack_settings
from tests.cli_run import run_refiner
from tests.digest.helpers import DAY, Recorder, Warehouse, http_receiver
from tests.digest.smtp import smtp_server

SMTP_PASSWORD = "smtp-sentinel-9f8e7d"
SLACK_PATH = "/services/T1/B2/slack-sentinel-6c5b4a"
LLM_KEY = "llm-sentinel-3a2b1c"
SENTINELS = (SMTP_PASSWORD, "slack-sentinel-6c5b4a", LLM_KEY)

pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")


def _environment(monkeypatch: pytest.MonkeyPatch, smtp_port: int, slack: str, llm: str) -> None:
    for name, value in {
        "DIGEST__SMTP_HOST": "127.0.0.1",
        "DIGEST__SMTP_PORT": str(smtp_port),
        "DIGEST__SMTP_STARTTLS": "false",
        "DIGEST__SMTP_USERNAME": "bot",
        "DIGEST__SMTP_PASSWORD": SMTP_PASSWORD,
        "DIGEST__DIGEST_FROM": "digest@example.com",
        "DIGEST__DIGEST_TO": "team@example.com",
        "DIGEST__SLACK_WEBHOOK_URL": slack + SLACK_PATH,
        "DIGEST__LLM_BASE_URL": llm,
        "DIGEST__LLM_MODEL": "m",
        "DIGEST__LLM_API_KEY": LLM_KEY,
    }.items():
        monkeypatch.setenv(name, value)


@pytest.mark.parametrize("outcome", ["delivered", "refused"])
def test_no_secret_in_output_logs_or_files(
    warehouse: Warehouse,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    tmp_path: Path,
    outcome: str,
) -> None:
    caplog.set_level(logging.DEBUG)
    status = 200 if outcome == "delivered" else 500
    password = SMTP_PASSWORD if outcome == "delivered" else "something else"
    outputs = []
    with (
        smtp_server(username="bot", password=password) as mailbox,
        http_receiver(Recorder(status=status)) as slack,
        http_receiver(Recorder(status=status)) as llm,
    ):
        _environment(monkeypatch, mailbox.port, slack.url, llm.url)
        for target in ("stdout", "file", "slack", "email"):
            run = run_refiner(
                "--debug", "digest", "--duckdb-path", str(warehouse.path),
                "--date", DAY.isoformat(), "--to", target, "--output-dir", str(tmp_path),
                "--summarizer", "openai",
            )  # fmt: skip
            outputs.append(run.stdout + run.stderr)
            if outcome == "delivered":
                assert run.code == 0, run.stderr
            elif target in ("slack", "email"):
                assert run.code == 1
    assert len(llm.requests) == 4
    if outcome == "delivered":
        assert len(mailbox.messages) == 1 and len(slack.requests) == 1
    seen = "\n".join(outputs) + caplog.text
    seen += "".join(path.read_text(errors="replace") for path in tmp_path.iterdir())
    seen += "".join(message.as_string() for message in mailbox.messages)
    seen += "".join(str(request["json"]) for request in slack.requests)
    for sentinel in SENTINELS:
        assert sentinel not in seen


def test_settings_reprs_hide_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    _environment(monkeypatch, 25, "https://hooks.slack.com", "http://127.0.0.1:9")
    shown = repr(email_settings()) + repr(slack_settings()) + repr(llm_settings())
    for sentinel in SENTINELS:
        assert sentinel not in shown
