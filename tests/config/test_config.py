"""API settings precedence: flags > environment > .dlt files > defaults."""

from __future__ import annotations

import os

import pytest

from pipelines.config import ApiSettings, make_client, resolve_api_settings
from pipelines.errors import ConfigError
from sources.refiner.settings import DEFAULT_BASE_URL, DEFAULT_MAX_ATTEMPTS
from tests.dlt_project import DltProject


def test_files(dlt_project: DltProject) -> None:
    dlt_project.write(
        secrets='[sources.refiner]\napi_key = "file-key"\n',
        config='[sources.refiner]\nbase_url = "http://file.test/v1"\nrequests_per_minute = 120\n'
        "max_attempts = 3\ntimeout_seconds = 7.5\n",
    )
    settings = resolve_api_settings()
    assert settings == ApiSettings("file-key", "http://file.test/v1", 120.0, 3, 7.5)


def test_env_beats_files_and_flags_beat_env(dlt_project: DltProject) -> None:
    dlt_project.write(
        secrets='[sources.refiner]\napi_key = "file-key"\n',
        config='[sources.refiner]\nbase_url = "http://file.test/v1"\n',
    )
    os.environ["SOURCES__REFINER__API_KEY"] = "env-key"
    os.environ["SOURCES__REFINER__BASE_URL"] = "http://env.test/v1"
    os.environ["SOURCES__REFINER__MAX_ATTEMPTS"] = "2"
    settings = resolve_api_settings()
    assert (settings.api_key, settings.base_url, settings.max_attempts) == (
        "env-key",
        "http://env.test/v1",
        2,
    )
    flagged = resolve_api_settings(api_key="flag-key", base_url="http://flag.test/v1")
    assert (flagged.api_key, flagged.base_url) == ("flag-key", "http://flag.test/v1")


def test_defaults(dlt_project: DltProject) -> None:
    settings = resolve_api_settings(api_key="k")
    assert settings.base_url == DEFAULT_BASE_URL
    assert settings.max_attempts == DEFAULT_MAX_ATTEMPTS


def test_missing_key_says_where_to_set_it(dlt_project: DltProject) -> None:
    with pytest.raises(ConfigError) as raised:
        resolve_api_settings()
    message = str(raised.value)
    assert "--api-key" in message
    assert "SOURCES__REFINER__API_KEY" in message
    assert ".dlt/secrets.toml" in message


@pytest.mark.parametrize("value", ["abc", "-5"])
def test_bad_numbers(dlt_project: DltProject, value: str) -> None:
    os.environ["SOURCES__REFINER__REQUESTS_PER_MINUTE"] = value
    with pytest.raises(ConfigError, match="requests_per_minute"):
        resolve_api_settings(api_key="k")


def test_repr_hides_the_key_and_make_client_uses_settings() -> None:
    settings = ApiSettings("secret-key-value", "http://x.test/v1", 600.0, 2, 5.0)
    assert "secret-key-value" not in repr(settings)
    client = make_client(settings)
    try:
        assert client.base_url == "http://x.test/v1"
        assert client.max_attempts == 2
        assert client.rate_limiter.requests_per_minute == pytest.approx(600.0)
        assert "secret-key-value" not in repr(client)
    finally:
        client.close()
