"""Summarisers: extractive is deterministic; openai calls a local fake endpoint, sends no
identities by default, and falls back to extractive when the endpoint fails or hangs."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from pipelines.digest import run_digest
from pipelines.digest.summarize import extractive
from tests.digest.helpers import DAY, HOSTILE, Recorder, Warehouse, http_receiver
from tests.ports import free_port

KEY = "sk-llm-sentinel-0123456789"
COMPLETION = json.dumps(
    {"choices": [{"message": {"role": "assistant", "content": "  Figures held up.  "}}]}
).encode()


def _run(warehouse: Warehouse, tmp_path: Path, summarizer: str = "openai"):
    return run_digest(
        date=DAY,
        timezone="Europe/Berlin",
        to=("file",),
        output_dir=tmp_path,
        summarizer=summarizer,
        duckdb_path=warehouse.path,
    )


def _configure(monkeypatch: pytest.MonkeyPatch, url: str, **extra: str) -> None:
    monkeypatch.setenv("DIGEST__LLM_BASE_URL", f"{url}/v1")
    monkeypatch.setenv("DIGEST__LLM_MODEL", "tiny-model")
    monkeypatch.setenv("DIGEST__LLM_API_KEY", KEY)
    for name, value in extra.items():
        monkeypatch.setenv(name, value)


def test_extractive_is_deterministic_and_three_to_five_sentences(
    warehouse: Warehouse, tmp_path: Path
) -> None:
    first = _run(warehouse, tmp_path / "a", "extractive").digest
    second = _run(warehouse, tmp_path / "b", "extractive").digest
    assert first.summary is not None and second.summary is not None
    assert first.summary.text == second.summary.text == extractive(first)
    assert first.summary.text.startswith(
        "6 completed responses on Tuesday 10 March 2026, up 50% on the period before. "
        "NPS was +25 from 4 answers (2 promoters, 1 detractor), down 8.3 points"
    )
    assert 3 <= first.summary.text.count(". ") + 1 <= 5
    assert (tmp_path / "a" / "digest.txt").read_text() == (
        tmp_path / "b" / "digest.txt"
    ).read_text()


def test_none_writes_no_summary(warehouse: Warehouse, tmp_path: Path) -> None:
    result = _run(warehouse, tmp_path, "none")
    assert result.digest.summary is None
    assert "Summary" not in result.text


def test_openai_sends_figures_and_comments_without_identities(
    warehouse: Warehouse, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with http_receiver(Recorder(body=COMPLETION)) as llm:
        _configure(monkeypatch, llm.url)
        result = _run(warehouse, tmp_path)
    assert result.digest.summary is not None
    assert (result.digest.summary.text, result.digest.summary.summarizer) == (
        "Figures held up.",
        "openai",
    )
    assert result.digest.summary.note is None
    request = llm.requests[0]
    assert request["path"] == "/v1/chat/completions"
    assert request["headers"]["Authorization"] == f"Bearer {KEY}"
    body = request["json"]
    assert body["model"] == "tiny-model"
    payload = json.loads(body["messages"][1]["content"])
    assert payload["nps"]["score"] == 25.0
    assert payload["responses"]["count"] == 6
    assert [comment["text"] for comment in payload["comments"]][1] == HOSTILE
    sent = json.dumps(body, ensure_ascii=False)
    for identity in warehouse.contact_names + warehouse.contact_emails:
        assert identity not in sent
    assert all("contact_email" not in comment for comment in payload["comments"])


def test_openai_sends_identities_when_allowed(
    warehouse: Warehouse, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with http_receiver(Recorder(body=COMPLETION)) as llm:
        _configure(monkeypatch, llm.url, DIGEST__LLM_INCLUDE_IDENTITIES="true")
        _run(warehouse, tmp_path)
    sent = json.dumps(llm.requests[0]["json"], ensure_ascii=False)
    assert any(email in sent for email in warehouse.contact_emails)


@pytest.mark.parametrize(
    ("recorder", "reason"),
    [
        (Recorder(status=500, body=b'{"error": "boom"}'), "HTTP 500"),
        (Recorder(body=b'{"choices": []}'), "the answer is not a chat completion"),
        (Recorder(body=COMPLETION, delay_seconds=5), "no answer within 1 s"),
    ],
    ids=["error", "garbage", "hang"],
)
def test_openai_falls_back_to_extractive_saying_so(
    warehouse: Warehouse,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    recorder: Recorder,
    reason: str,
) -> None:
    caplog.set_level(logging.DEBUG)
    with http_receiver(recorder) as llm:
        _configure(monkeypatch, llm.url, DIGEST__LLM_TIMEOUT_SECONDS="1")
        result = _run(warehouse, tmp_path)
    summary = result.digest.summary
    assert summary is not None
    assert summary.summarizer == "extractive"
    assert summary.text == extractive(result.digest)
    assert summary.note == f"The openai summariser failed ({reason}); this summary is extractive."
    assert summary.note in result.text
    assert summary.note in (tmp_path / "digest.html").read_text()
    assert len(llm.requests) == 1
    assert KEY not in caplog.text
    assert KEY not in result.text


def test_unreachable_endpoint_falls_back(
    warehouse: Warehouse, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _configure(monkeypatch, f"http://127.0.0.1:{free_port()}")
    summary = _run(warehouse, tmp_path).digest.summary
    assert summary is not None
    assert summary.note == (
        "The openai summariser failed (could not reach the endpoint: ConnectError); "
        "this summary is extractive."
    )
