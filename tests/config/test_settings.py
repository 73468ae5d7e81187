"""One configuration path: every [sources.refiner] key resolved once, in pipelines/config.py.

A key set in .dlt/config.toml, in the environment or as a flag reaches the client and the
source, with precedence flag > environment > config.toml > default; a malformed or
out-of-range setting is refused (exit 2, one line) before the first request.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from emulator import DEFAULT_API_KEY, Emulator
from pipelines.config import make_client, resolve_source_settings
from pipelines.load.run import run_load
from sources.refiner.settings import (
    DEFAULT_BASE_URL,
    DEFAULT_MAX_ATTEMPTS,
    DEFAULT_REQUESTS_PER_MINUTE,
    DEFAULT_TIMEOUT_SECONDS,
    MAX_PAGE_LENGTH,
)
from tests.cli_run import run_refiner
from tests.dlt_project import DltProject

TOML = """[sources.refiner]
base_url = "http://toml.test/v1"
page_length = 70
timeout_seconds = 7.5
requests_per_minute = 120
max_attempts = 3
include = "all"
"""


def test_defaults_when_nothing_is_set(dlt_project: DltProject) -> None:
    settings = resolve_source_settings(api_key="k")
    client = make_client(settings.api)
    with client:
        assert client.base_url == DEFAULT_BASE_URL
        assert client.max_attempts == DEFAULT_MAX_ATTEMPTS
        assert client.rate_limiter.requests_per_minute == pytest.approx(DEFAULT_REQUESTS_PER_MINUTE)
    assert settings.api.timeout_seconds == DEFAULT_TIMEOUT_SECONDS
    assert settings.source.page_length == MAX_PAGE_LENGTH
    assert settings.source.include == "completed"


def test_config_toml_then_environment_then_flags(dlt_project: DltProject) -> None:
    dlt_project.write(secrets='[sources.refiner]\napi_key = "toml-key"\n', config=TOML)
    from_toml = resolve_source_settings()
    client = make_client(from_toml.api)
    with client:
        assert client.base_url == "http://toml.test/v1"
        assert client.max_attempts == 3
        assert client.rate_limiter.requests_per_minute == pytest.approx(120.0)
    assert from_toml.api.api_key == "toml-key"
    assert from_toml.api.timeout_seconds == 7.5
    arguments = from_toml.source_arguments()
    assert (arguments["page_length"], arguments["include"]) == (70, "all")
    assert arguments["base_url"] == "http://toml.test/v1"

    os.environ["SOURCES__REFINER__API_KEY"] = "env-key"
    os.environ["SOURCES__REFINER__BASE_URL"] = "http://env.test/v1"
    os.environ["SOURCES__REFINER__PAGE_LENGTH"] = "40"
    os.environ["SOURCES__REFINER__MAX_ATTEMPTS"] = "2"
    from_env = resolve_source_settings()
    client = make_client(from_env.api)
    with client:
        assert (client.base_url, client.max_attempts) == ("http://env.test/v1", 2)
    assert from_env.api.api_key == "env-key"
    assert from_env.source.page_length == 40
    assert from_env.api.timeout_seconds == 7.5, "a key only in config.toml still applies"

    flagged = resolve_source_settings(api_key="flag-key", base_url="http://flag.test/v1")
    client = make_client(flagged.api)
    with client:
        assert client.base_url == "http://flag.test/v1"
    assert flagged.api.api_key == "flag-key"
    assert flagged.source_arguments()["api_key"] == "flag-key"


def _requested_page_lengths(emulator: Emulator) -> set[str]:
    return {
        str(entry.params.get("page_length"))
        for entry in emulator.request_log.filter("GET", "/contacts")
    }


def test_each_layer_reaches_the_requests_of_a_load(
    dlt_project: DltProject, emulator: Emulator, tmp_path: Path
) -> None:
    """The load builds its client and source from the same resolved settings."""
    dlt_project.write(
        secrets=f'[sources.refiner]\napi_key = "{DEFAULT_API_KEY}"\n',
        config=f'[sources.refiner]\nbase_url = "{emulator.base_url}"\npage_length = 30\n',
    )
    options: dict[str, Any] = {
        "resources": ["contacts"],
        "duckdb_path": tmp_path / "warehouse.duckdb",
        "pipelines_dir": tmp_path / "pipelines",
    }
    run_load(**options)
    assert _requested_page_lengths(emulator) == {"30"}

    emulator.request_log.clear()
    os.environ["SOURCES__REFINER__PAGE_LENGTH"] = "40"
    dlt_project.write(
        secrets='[sources.refiner]\napi_key = "not-the-key"\n',
        config='[sources.refiner]\nbase_url = "http://127.0.0.1:9/v1"\npage_length = 30\n',
    )
    run_load(**options, api_key=DEFAULT_API_KEY, base_url=emulator.base_url, full_refresh=True)
    assert _requested_page_lengths(emulator) == {"40"}


BAD_SETTINGS = [
    pytest.param(
        "PAGE_LENGTH", "5000", "page_length must be from 1 to 1000", id="page-length-5000"
    ),
    pytest.param("PAGE_LENGTH", "0", "page_length must be from 1 to 1000", id="page-length-0"),
    pytest.param(
        "PAGE_LENGTH", "many", "page_length must be a whole number", id="page-length-text"
    ),
    pytest.param("REQUESTS_PER_MINUTE", "0", "requests_per_minute must be positive", id="rate-0"),
    pytest.param(
        "REQUESTS_PER_MINUTE", "fast", "requests_per_minute must be a number", id="rate-text"
    ),
    pytest.param("TIMEOUT_SECONDS", "-1", "timeout_seconds must be positive", id="timeout"),
    pytest.param("MAX_ATTEMPTS", "0", "max_attempts must be at least 1", id="attempts"),
    pytest.param(
        "INCLUDE", "everything", "include must be one of completed, partials, all", id="include"
    ),
    pytest.param(
        "REPORTING_TYPES", '["nps", "bogus"]', "reporting_types must list only", id="report-types"
    ),
    pytest.param("START_DATE", "yesterday", "start_date must be an ISO 8601 date", id="start-date"),
    pytest.param("LOOKBACK_HOURS", "-2", "lookback_hours must be at least 0", id="lookback"),
    pytest.param("MAX_WORKERS", "0", "max_workers must be at least 1", id="workers"),
]


@pytest.mark.parametrize(("name", "value", "message"), BAD_SETTINGS)
def test_bad_setting_is_refused_before_any_request(
    dlt_project: DltProject, emulator: Emulator, tmp_path: Path, name: str, value: str, message: str
) -> None:
    os.environ["SOURCES__REFINER__API_KEY"] = DEFAULT_API_KEY
    os.environ["SOURCES__REFINER__BASE_URL"] = emulator.base_url
    os.environ[f"SOURCES__REFINER__{name}"] = value
    run = run_refiner(
        "load", "--duckdb-path", str(tmp_path / "w.duckdb"), "--pipelines-dir", str(tmp_path)
    )
    assert run.code == 2, run.stderr
    (line,) = run.error_lines
    assert message in line
    assert f"SOURCES__REFINER__{name}" in line, "the error says where to fix it"
    assert len(emulator.request_log) == 0, "a request was sent before the settings were checked"
    assert not (tmp_path / "w.duckdb").exists()
