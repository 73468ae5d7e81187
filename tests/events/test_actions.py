"""Rules and actions: validation at start-up, signed forwarding, failure, dead letter, retry,
and payload text that is data only."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from pathlib import Path

import httpx
import pytest

from pipelines.cli import main
from pipelines.events.receiver import ReceiverSettings
from pipelines.events.runner import RetryPolicy
from pipelines.events.service import ServiceOptions
from tests.events.helpers import (
    duckdb_rows,
    encode,
    hook_server,
    running_receiver,
    survey_payload,
    wait_for,
)

SECRET = "sentinel-webhook-secret-91c2"
OPEN = ReceiverSettings(SECRET)
FORWARD_KEY = b"forward-key-bytes"


def options(tmp_path: Path, rules: Path, **extra: object) -> ServiceOptions:
    return ServiceOptions(
        spool_path=tmp_path / "events" / "spool.sqlite",
        duckdb_path=str(tmp_path / "w.duckdb"),
        rules_path=rules,
        **extra,  # type: ignore[arg-type]
    )


def post(url: str, body: bytes) -> httpx.Response:
    return httpx.post(f"{url}/webhooks/refiner", params={"token": SECRET}, content=body)


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        ('when = "answers.nps <="\n[[rules.actions]]\ntype = "slack"\ntext = "x"', "'broken'"),
        ('[[rules.actions]]\ntype = "email"', "unknown action type 'email'"),
        ('[[rules.actions]]\ntype = "slack"\ntext = "{{ answers.nps "', "'broken'"),
        ('[[rules.actions]]\ntype = "track-event"', "needs event"),
    ],
)
def test_bad_rules_refused_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], rule: str, expected: str
) -> None:
    rules = tmp_path / "rules.toml"
    rules.write_text(f'[[rules]]\nname = "broken"\n{rule}\n')
    spool = tmp_path / "spool.sqlite"
    code = main(["listen", "--insecure", "--rules", str(rules), "--spool", str(spool)])
    output = capsys.readouterr()
    assert code == 2
    lines = output.err.strip().splitlines()
    assert len(lines) == 1
    assert expected in lines[0]
    assert not spool.exists()


def test_listen_refuses_to_start_without_secret(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SOURCES__REFINER__WEBHOOK_SECRET", raising=False)
    assert main(["listen", "--spool", str(tmp_path / "s.sqlite")]) == 2
    assert "SOURCES__REFINER__WEBHOOK_SECRET" in capsys.readouterr().err
    insecure_public = ["listen", "--insecure", "--host", "0.0.0.0", "--spool", str(tmp_path)]
    assert main(insecure_public) == 2
    assert "loopback only" in capsys.readouterr().err


def test_failure_dead_letter_then_retry(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(
        "SOURCES__REFINER__FORWARD_WEBHOOK_SECRET",
        "whsec_" + base64.b64encode(FORWARD_KEY).decode(),
    )
    monkeypatch.setenv("COLUMNS", "250")
    body = encode(survey_payload(nps=3))
    with hook_server(statuses=[500, 503]) as hook:
        rules = tmp_path / "rules.toml"
        rules.write_text(
            '[[rules]]\nname = "detractor"\n'
            'when = "answers.nps is defined and answers.nps <= 6"\n'
            f'[[rules.actions]]\ntype = "webhook"\nurl = "{hook.url}/in"\n'
        )
        policy = RetryPolicy(max_attempts=2, backoff_seconds=0.05)
        spool_options = options(tmp_path, rules, retry=policy)
        with running_receiver(spool_options, OPEN) as (url, _):
            assert post(url, body).status_code == 200
            wait_for(lambda: len(hook.requests) == 2)
        spool = str(spool_options.spool_path)
        assert main(["events", "failed", "--spool", spool]) == 0
        listed = capsys.readouterr().out
        assert "1 failed actions" in listed
        assert "detractor" in listed
        assert "webhook answered 503" in listed
        assert main(["events", "retry", "--spool", spool]) == 0
        assert "1 actions queued again" in capsys.readouterr().out
        with running_receiver(spool_options, OPEN) as (url, _):
            assert post(url, body).json()["status"] == "duplicate"
            wait_for(lambda: len(hook.requests) == 3)
        assert main(["events", "failed", "--spool", spool]) == 0
        assert "0 failed actions" in capsys.readouterr().out
    ids = {headers["webhook-id"] for _, headers, _ in hook.requests}
    assert len(ids) == 1
    _, headers, sent = hook.requests[-1]
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + sent
    expected = base64.b64encode(hmac.new(FORWARD_KEY, signed, hashlib.sha256).digest()).decode()
    assert headers["webhook-signature"] == f"v1,{expected}"
    assert json.loads(sent) == json.loads(body)
    outcomes = duckdb_rows(
        Path(str(spool_options.duckdb_path)),
        "select status, attempts from refiner_raw.webhook_actions order by finished_at",
    )
    assert outcomes == [("dead", 2), ("done", 1)]


def test_hostile_strings_are_stored_verbatim_and_never_evaluated(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    hostile = "'); drop table responses; -- {{ 7*7 }} {% raw %}\x00" + "é" * 10_000
    body = encode(survey_payload(nps=2, comment=hostile))
    with hook_server() as hook:
        monkeypatch.setenv("SOURCES__REFINER__SLACK_WEBHOOK_URL", f"{hook.url}/services/T0/B0/x")
        rules = tmp_path / "rules.toml"
        rules.write_text(
            '[[rules]]\nname = "echo"\n'
            '[[rules.actions]]\ntype = "slack"\ntext = "said: {{ answers.comment }}"\n'
        )
        spool_options = options(tmp_path, rules)
        with running_receiver(spool_options, OPEN) as (url, _):
            assert post(url, body).status_code == 200
            wait_for(lambda: len(hook.requests) == 1)
    assert json.loads(hook.requests[0][2])["text"] == f"said: {hostile}"
    database = Path(str(spool_options.duckdb_path))
    answers = duckdb_rows(
        database,
        "select value_text from refiner_raw.webhook_response_answers"
        " where question_identifier = 'comment'",
    )
    assert answers == [(hostile,)]
    payloads = duckdb_rows(database, "select payload from refiner_raw.webhook_events")
    assert payloads == [(body.decode(),)]
    tables = duckdb_rows(
        database, "select count(*) from information_schema.tables where table_name = 'responses'"
    )
    assert tables == [(0,)]
