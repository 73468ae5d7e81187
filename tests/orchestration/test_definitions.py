"""The definitions: asset graph edges, jobs, schedules evaluated at fixed times, settings from
dlt's configuration, how errors map to step failures, and `refiner orchestrate --check`."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

pytest.importorskip("dagster", reason="needs the dagster extra: pip install 'refiner-dlt[dagster]'")

from dagster import (
    AssetKey,
    DagsterInstance,
    DagsterRun,
    DagsterRunStatus,
    Definitions,
    RunRequest,
    build_schedule_context,
    instance_for_test,
)

from pipelines.config import resolve_warehouse
from pipelines.digest.settings import digest_defaults
from pipelines.errors import ConfigError
from pipelines.load.destinations import WarehouseBusyError
from pipelines.orchestration.definitions import build_definitions
from pipelines.orchestration.digest_assets import DIGEST_MARTS
from pipelines.orchestration.failures import is_transient, step_failure
from pipelines.orchestration.keys import RUN_TAG, loaded_tables
from pipelines.orchestration.settings import resolve_settings
from sources.refiner.errors import (
    AuthError,
    RateLimitedError,
    ServerError,
    TransportError,
    ValidationError,
)
from tests.cli_run import run_refiner

STAGING_SOURCES = {
    "stg_refiner__contacts": "contacts",
    "stg_refiner__contact_attributes": "contact_attributes",
    "stg_refiner__forms": "forms",
    "stg_refiner__responses": "responses",
    "stg_refiner__response_answers": "response_answers",
    "stg_refiner__segments": "segments",
    "stg_refiner__reporting": "reporting",
}


@pytest.fixture(scope="module")
def defs() -> Definitions:
    with pytest.MonkeyPatch.context() as patch:
        for name in ("ORCHESTRATION__TIMEZONE", "DIGEST__TIMEZONE"):
            patch.delenv(name, raising=False)
        return build_definitions()


def parents(defs: Definitions, key: str) -> set[str]:
    node = defs.resolve_asset_graph().get(AssetKey.from_user_string(key))
    return {parent.to_user_string() for parent in node.parent_keys}


def test_one_load_asset_per_table_and_sources_map_to_them(defs: Definitions) -> None:
    graph = defs.resolve_asset_graph()
    raw_keys = {key for key in graph.get_all_asset_keys() if key.path[0] == "refiner"}
    load_keys = {key for key in raw_keys if graph.get(key).group_name == "refiner_load"}
    assert load_keys == {AssetKey(["refiner", table]) for table in loaded_tables()}
    assert len(load_keys) == 10
    for key in load_keys:
        assert graph.get(key).is_materializable
        assert not graph.get(key).parent_keys
    # The rest are the webhook tables `refiner listen` writes: shown, not run by Dagster.
    for key in raw_keys - load_keys:
        assert key.path[1].startswith("webhook_"), key
        assert graph.get(key).group_name == "refiner_events"
        assert not graph.get(key).is_materializable
    assert parents(defs, "stg_refiner__responses") == {
        "refiner/responses",
        "refiner/webhook_responses",
    }
    for model, table in STAGING_SOURCES.items():
        assert f"refiner/{table}" in parents(defs, model)


def test_marts_read_staging_and_push_traits_follows_contact_traits(defs: Definitions) -> None:
    assert parents(defs, "fct_responses") >= {"stg_refiner__responses"}
    assert parents(defs, "dim_contacts") >= {"stg_refiner__contacts"}
    assert parents(defs, "contact_traits") >= {"dim_contacts", "fct_responses"}
    assert parents(defs, "push_traits") == {"contact_traits"}
    graph = defs.resolve_asset_graph()
    upstream = graph.upstream_key_iterator(AssetKey("push_traits"))
    assert AssetKey(["refiner", "responses"]) in set(upstream)


def test_daily_digest_follows_the_marts_it_reads(defs: Definitions) -> None:
    assert parents(defs, "daily_digest") == set(DIGEST_MARTS)
    job = defs.resolve_job_def("refiner_daily_digest")
    assert job.asset_layer.executable_asset_keys == {AssetKey("daily_digest")}
    assert RUN_TAG not in job.tags


def test_jobs_select_their_assets_and_share_the_warehouse_tag(defs: Definitions) -> None:
    incremental = defs.resolve_job_def("refiner_incremental")
    reconcile = defs.resolve_job_def("refiner_reconcile")
    assert AssetKey("push_traits") in incremental.asset_layer.executable_asset_keys
    assert AssetKey("push_traits") not in reconcile.asset_layer.executable_asset_keys
    for job in (incremental, reconcile):
        keys = job.asset_layer.executable_asset_keys
        assert {AssetKey(["refiner", "contacts"]), AssetKey("contact_traits")} <= keys
        assert job.tags[RUN_TAG] == "load"
    assert reconcile.run_config == {"ops": {"refiner_load": {"config": {"reconcile": True}}}}


def evaluate(defs: Definitions, name: str, at: datetime, instance: DagsterInstance) -> Any:
    schedule = defs.resolve_schedule_def(name)
    context = build_schedule_context(instance=instance, scheduled_execution_time=at)
    return schedule.evaluate_tick(context)


def test_schedules_at_fixed_times_request_one_keyed_run(defs: Definitions) -> None:
    incremental = defs.resolve_schedule_def("refiner_incremental_schedule")
    reconcile = defs.resolve_schedule_def("refiner_reconcile_schedule")
    assert (incremental.cron_schedule, incremental.execution_timezone) == ("*/30 * * * *", "UTC")
    assert (reconcile.cron_schedule, reconcile.execution_timezone) == ("0 3 * * *", "UTC")
    assert incremental.job_name == "refiner_incremental"
    assert reconcile.job_name == "refiner_reconcile"
    digest = defs.resolve_schedule_def("refiner_daily_digest_schedule")
    assert (digest.cron_schedule, digest.execution_timezone) == ("0 7 * * *", "UTC")
    assert digest.job_name == "refiner_daily_digest"
    with instance_for_test() as instance:
        for name, at in (
            ("refiner_incremental_schedule", datetime(2026, 3, 2, 9, 30, tzinfo=UTC)),
            ("refiner_reconcile_schedule", datetime(2026, 3, 2, 3, 0, tzinfo=UTC)),
            ("refiner_daily_digest_schedule", datetime(2026, 3, 2, 7, 0, tzinfo=UTC)),
        ):
            requests = evaluate(defs, name, at, instance).run_requests
            assert len(requests) == 1
            assert isinstance(requests[0], RunRequest)
            assert requests[0].run_key == f"{name}:2026-03-02T{at:%H:%M}:00+00:00"


def test_a_tick_is_skipped_while_a_warehouse_run_is_in_progress(defs: Definitions) -> None:
    with instance_for_test() as instance:
        running = DagsterRun(
            job_name="refiner_reconcile",
            run_id="0f0f0f0f-0000-4000-8000-000000000001",
            status=DagsterRunStatus.STARTED,
            tags={RUN_TAG: "load"},
        )
        instance.add_run(running)
        at = datetime(2026, 3, 2, 3, 30, tzinfo=UTC)
        result = evaluate(defs, "refiner_incremental_schedule", at, instance)
        assert not result.run_requests
        assert "refiner_reconcile is still writing the warehouse" in result.skip_message
        assert running.run_id in result.skip_message
        # The digest only reads the warehouse: its tick is not held back.
        digest_at = datetime(2026, 3, 2, 7, 0, tzinfo=UTC)
        assert (
            len(evaluate(defs, "refiner_daily_digest_schedule", digest_at, instance).run_requests)
            == 1
        )


def test_the_digest_schedule_runs_in_the_digest_time_zone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DIGEST__TIMEZONE", "Europe/Paris")
    monkeypatch.setenv("ORCHESTRATION__DIGEST_CRON", "30 6 * * 1-5")
    schedule = build_definitions().resolve_schedule_def("refiner_daily_digest_schedule")
    assert (schedule.cron_schedule, schedule.execution_timezone) == (
        "30 6 * * 1-5",
        "Europe/Paris",
    )


def test_schedules_come_from_orchestration_and_the_rest_from_the_cli_keys(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ORCHESTRATION__INCREMENTAL_CRON", "*/15 * * * *")
    monkeypatch.setenv("ORCHESTRATION__RECONCILE_CRON", "30 1 * * 0")
    monkeypatch.setenv("ORCHESTRATION__TIMEZONE", "Europe/Paris")
    monkeypatch.setenv("DIGEST__TIMEZONE", "America/New_York")
    monkeypatch.setenv("WAREHOUSE__DATASET", "other_raw")
    monkeypatch.setenv("DIGEST__TARGETS", "file, email")
    monkeypatch.setenv("DIGEST__OUTPUT_DIR", "reports")
    settings = resolve_settings()
    assert settings.incremental.cron == "*/15 * * * *"
    assert settings.reconcile.cron == "30 1 * * 0"
    assert settings.incremental.timezone == settings.reconcile.timezone == "Europe/Paris"
    assert (settings.digest.cron, settings.digest.timezone) == ("0 7 * * *", "America/New_York")
    assert settings.warehouse == resolve_warehouse()
    assert (settings.warehouse.destination, settings.warehouse.dataset) == ("duckdb", "other_raw")
    assert settings.digest_defaults == digest_defaults()
    assert settings.digest_targets == ("file", "email")
    assert settings.digest_defaults.output_dir == "reports"


def test_the_scheduled_digest_writes_files_unless_targets_are_set(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("DIGEST__TARGETS", raising=False)
    assert resolve_settings().digest_targets == ("file",)
    monkeypatch.setenv("DIGEST__TARGETS", "slack")
    assert resolve_settings().digest_targets == ("slack",)


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("ORCHESTRATION__TIMEZONE", "Mars/Olympus", "orchestration.timezone 'Mars/Olympus'"),
        ("DIGEST__TIMEZONE", "nowhere", "digest.timezone 'nowhere'"),
    ],
)
def test_bad_time_zone_is_a_config_error(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, message: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match="is not an IANA time zone") as raised:
        resolve_settings()
    assert message in str(raised.value)


def test_bad_cron_line_names_its_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORCHESTRATION__RECONCILE_CRON", "every night")
    with pytest.raises(ConfigError, match=r"orchestration.reconcile_cron 'every night' is not"):
        build_definitions()


@pytest.mark.parametrize(
    ("error", "transient"),
    [
        (RateLimitedError("Rate limited", status=429), True),
        (ServerError("Server error", status=503), True),
        (TransportError("Could not connect"), True),
        (RuntimeError('IO Error: Could not set lock on file "x.duckdb": Conflicting lock'), True),
        (WarehouseBusyError("DuckDB file x.duckdb is locked by python (PID 7); close it"), True),
        (AuthError("API key refused", status=401), False),
        (ValidationError("Invalid request", status=422), False),
        (ConfigError("No Refiner API key found."), False),
    ],
)
def test_only_transient_errors_are_retried(error: Exception, transient: bool) -> None:
    assert is_transient(error) is transient
    failure = step_failure(error)
    assert failure.allow_retries is transient
    assert failure.description == str(error)


def test_a_wrapped_transient_error_is_still_transient() -> None:
    try:
        try:
            raise ServerError("Server error", status=502)
        except ServerError as inner:
            raise RuntimeError("load step failed") from inner
    except RuntimeError as outer:
        assert is_transient(outer)


def test_a_looping_error_chain_is_classified_without_hanging() -> None:
    # As the load raises a Refiner error found under dlt's wrappers: from inside the handler of
    # the wrapper whose cause chain leads back to it.
    refused = ValidationError("Invalid request", status=400)
    wrapper = RuntimeError("extract failed")
    wrapper.__cause__ = RuntimeError("resource failed")
    wrapper.__cause__.__cause__ = refused
    refused.__context__ = wrapper
    assert not is_transient(refused)
    assert step_failure(refused).allow_retries is False


def test_orchestrate_check_lists_assets_jobs_and_schedules() -> None:
    run = run_refiner("orchestrate", "--check")
    assert run.code == 0, run.stderr
    out = run.stdout
    assert "Definitions OK: 33 assets, 3 jobs, 3 schedules." in out
    assert "refiner_load: refiner/responses <- -" in out
    assert "refiner_transform: stg_refiner__responses <- refiner/responses" in out
    assert "refiner_sync: push_traits <- contact_traits" in out
    assert "refiner_incremental_schedule: refiner_incremental at '*/30 * * * *' (UTC)" in out
    assert "refiner_reconcile_schedule: refiner_reconcile at '0 3 * * *' (UTC)" in out
    assert "refiner_daily_digest_schedule: refiner_daily_digest at '0 7 * * *' (UTC)" in out
    assert (
        "refiner_digest: daily_digest <- dim_contacts, dim_forms, fct_answers, fct_responses" in out
    )
