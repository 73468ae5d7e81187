"""`refiner digest --to slack`: the Block Kit JSON that a local webhook receiver records."""

from __future__ import annotations

import json
import logging

import pytest

from tests.cli_run import run_refiner
from tests.digest.helpers import DAY, EMPTY_DAY, Recorder, Warehouse, http_receiver

MENTIONS = ("<!channel>", "<@U0123>", "<http://evil.example|click>", "<script>", "<b>")


def _send(warehouse: Warehouse, day: str = DAY.isoformat()) -> tuple[int, str]:
    run = run_refiner(
        "--debug", "digest", "--duckdb-path", str(warehouse.path), "--date", day,
        "--timezone", "Europe/Berlin", "--to", "slack",
    )  # fmt: skip
    return run.code, run.stdout + run.stderr


def _texts(blocks: list[dict]) -> list[dict]:
    """Every text object of the blocks (section texts and fields, headers)."""
    found = []
    for block in blocks:
        if "text" in block:
            found.append(block["text"])
        found.extend(block.get("fields", []))
    return found


def test_block_kit_with_neutralised_comments(
    warehouse: Warehouse, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with http_receiver(Recorder()) as slack:
        url = f"{slack.url}/services/T000/B000/slack-sentinel-5e471e1"
        monkeypatch.setenv("DIGEST__SLACK_WEBHOOK_URL", url)
        code, output = _send(warehouse)
    assert code == 0, output
    assert len(slack.requests) == 1
    request = slack.requests[0]
    assert request["path"] == "/services/T000/B000/slack-sentinel-5e471e1"
    payload = request["json"]
    blocks = payload["blocks"]
    assert blocks[0] == {
        "type": "header",
        "text": {
            "type": "plain_text",
            "text": "Refiner digest — Tuesday 10 March 2026 (Europe/Berlin)",
            "emoji": True,
        },
    }
    fields = blocks[1]["fields"]
    assert [field["text"].split(":")[0] for field in fields] == ["NPS", "CSAT", "Responses"]
    assert fields[0]["text"].startswith("NPS: +25.0 -8.3 points")
    texts = _texts(blocks)
    assert all(text["type"] == "plain_text" for text in texts)
    raw = json.dumps(payload, ensure_ascii=False)
    for mention in MENTIONS:
        assert mention not in raw
    hostile = next(text["text"] for text in texts if "channel" in text["text"])
    assert "&lt;!channel&gt; &lt;@U0123&gt; *bold* _it_" in hostile
    assert "&amp; &lt;b&gt;bold&lt;/b&gt;" in hostile
    assert payload["unfurl_links"] is False
    assert not any(block["type"] == "image" for block in blocks)
    assert "NPS trend (30 days): 09 Mar +33, 10 Mar +25" in raw
    assert "slack-sentinel" not in output
    assert "slack-sentinel" not in caplog.text


def test_image_block_only_with_chart_base_url(
    warehouse: Warehouse, monkeypatch: pytest.MonkeyPatch
) -> None:
    with http_receiver(Recorder()) as slack:
        monkeypatch.setenv("DIGEST__SLACK_WEBHOOK_URL", f"{slack.url}/hook")
        monkeypatch.setenv("DIGEST__CHART_BASE_URL", "https://files.example.com/digest/")
        code, output = _send(warehouse)
    assert code == 0, output
    images = [block for block in slack.requests[0]["json"]["blocks"] if block["type"] == "image"]
    assert images == [
        {
            "type": "image",
            "image_url": "https://files.example.com/digest/nps_trend.png",
            "alt_text": "NPS trend, last 30 days",
        }
    ]


def test_empty_day_is_one_line(warehouse: Warehouse, monkeypatch: pytest.MonkeyPatch) -> None:
    with http_receiver(Recorder()) as slack:
        monkeypatch.setenv("DIGEST__SLACK_WEBHOOK_URL", f"{slack.url}/hook")
        code, _ = _send(warehouse, EMPTY_DAY.isoformat())
    assert code == 0
    payload = slack.requests[0]["json"]
    assert payload["text"] == "No responses on Thursday 12 March 2026 (Europe/Berlin)."
    assert len(payload["blocks"]) == 1


def test_refused_webhook_fails_without_the_url(
    warehouse: Warehouse, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with http_receiver(Recorder(status=403, body=b"invalid_token")) as slack:
        monkeypatch.setenv("DIGEST__SLACK_WEBHOOK_URL", f"{slack.url}/hook/slack-sentinel-YYYY")
        code, output = _send(warehouse)
    assert code == 1
    assert "Error: Slack refused the digest: HTTP 403 'invalid_token'." in output
    assert "slack-sentinel" not in output
    assert "slack-sentinel" not in caplog.text
