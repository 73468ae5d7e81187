"""The receiver over real HTTP: refusals store nothing; accepted deliveries land once."""

from __future__ import annotations

import random
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from pipelines.events.receiver import MAX_BODY_BYTES, ReceiverSettings
from pipelines.events.service import ServiceOptions
from tests.events.helpers import (
    PROJECT_UUID,
    duckdb_rows,
    encode,
    hook_server,
    running_receiver,
    segment_payload,
    spool_rows,
    survey_payload,
    wait_for,
)

SECRET = "sentinel-webhook-secret-7f3a"
SETTINGS = ReceiverSettings(SECRET, token_header="X-Refiner-Token", project_uuid=PROJECT_UUID)


@pytest.fixture
def options(tmp_path: Path) -> ServiceOptions:
    return ServiceOptions(
        spool_path=tmp_path / "events" / "spool.sqlite", duckdb_path=str(tmp_path / "w.duckdb")
    )


def test_refusals_store_nothing(options: ServiceOptions, caplog: pytest.LogCaptureFixture) -> None:
    good = encode(survey_payload())
    with running_receiver(options, SETTINGS) as (url, _), httpx.Client(base_url=url) as http:
        path = "/webhooks/refiner"
        assert http.post(path, content=good).status_code == 401
        assert http.post(path, params={"token": "wrong"}, content=good).status_code == 401
        bearer = {"Authorization": "Bearer nope"}
        assert http.post(path, headers=bearer, content=good).status_code == 401
        token = {"token": SECRET}
        huge = b'{"uuid": "' + b"x" * MAX_BODY_BYTES + b'"}'
        assert http.post(path, params=token, content=huge).status_code == 413

        def stream() -> object:
            yield b'{"uuid": "'
            for _ in range(20):
                yield b"y" * 100_000

        streamed = http.post(path, params=token, content=stream())  # chunked, no length
        assert streamed.status_code == 413
        not_json = http.post(path, params=token, content=b"{not json")
        assert not_json.status_code == 400
        assert not_json.json() == {"error": "bad request"}
        shape = http.post(path, params=token, content=b'{"uuid": 5, "triggered_event": []}')
        assert shape.status_code == 400
        assert "uuid" not in shape.text
        other = survey_payload()
        other["project_uuid"] = "another-project"
        assert http.post(path, params=token, content=encode(other)).status_code == 403
        assert http.get("/healthz").json()["refused"] == 8
    assert spool_rows(options.spool_path, "deliveries") == 0
    assert not Path(str(options.duckdb_path)).exists()
    assert "not JSON" in caplog.text
    assert SECRET not in caplog.text


def test_token_in_query_bearer_or_named_header(options: ServiceOptions) -> None:
    with running_receiver(options, SETTINGS) as (url, _), httpx.Client(base_url=url) as http:
        path = "/webhooks/refiner"
        sent = [
            http.post(path, params={"token": SECRET}, content=encode(survey_payload())),
            http.post(
                path,
                headers={"Authorization": f"Bearer {SECRET}"},
                content=encode(survey_payload()),
            ),
            http.post(path, headers={"X-Refiner-Token": SECRET}, content=encode(survey_payload())),
        ]
        assert [r.status_code for r in sent] == [200, 200, 200]
        assert {r.json()["status"] for r in sent} == {"accepted"}
    assert spool_rows(options.spool_path, "deliveries") == 3


def test_duplicate_storm_one_row_and_one_action_each(
    tmp_path: Path, options: ServiceOptions, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every delivery sent 3 times, shuffled, 8 at a time: one row and one action each."""
    monkeypatch.setenv("SOURCES__REFINER__FORWARD_WEBHOOK_SECRET", "whsec_c2VjcmV0")
    bodies = [encode(survey_payload(nps=n % 11)) for n in range(40)]
    bodies += [encode(segment_payload(f"contact-{n}", "seg-1")) for n in range(5)]
    sends = bodies * 3
    random.Random(3).shuffle(sends)
    with hook_server() as hook:
        rules = tmp_path / "rules.toml"
        rules.write_text(
            f'[[rules]]\nname = "forward"\nevent = "Completed Survey"\n'
            f'[[rules.actions]]\ntype = "webhook"\nurl = "{hook.url}/hook"\n'
        )
        storm = ServiceOptions(
            options.spool_path, duckdb_path=options.duckdb_path, rules_path=rules
        )
        with (
            running_receiver(storm, SETTINGS) as (url, _),
            httpx.Client(base_url=url, params={"token": SECRET}) as http,
        ):
            with ThreadPoolExecutor(8) as pool:
                statuses = list(
                    pool.map(lambda body: http.post("/webhooks/refiner", content=body), sends)
                )
            assert {s.status_code for s in statuses} == {200}
            outcomes = [s.json()["status"] for s in statuses]
            assert outcomes.count("accepted") == 45
            assert outcomes.count("duplicate") == 90
            wait_for(lambda: len(hook.requests) >= 40)
        ids = [headers["webhook-id"] for _, headers, _ in hook.requests]
        assert len(ids) == 40 == len(set(ids))
    database = Path(str(options.duckdb_path))
    events = duckdb_rows(
        database, "select count(*), count(distinct delivery_id) from refiner_raw.webhook_events"
    )
    assert events == [(45, 45)]
    actions = duckdb_rows(
        database, "select status, count(*) from refiner_raw.webhook_actions group by status"
    )
    assert actions == [("done", 40)]
