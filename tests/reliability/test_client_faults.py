"""Fault matrix at the client level (issue 5 §1, scenarios 7-12), over real HTTP to the emulator.

Each test scripts one fault in the emulator, drives the real `RefinerClient` and checks three
things: the data that comes back equals the emulator's ground truth (or a clear error is
raised), the request log shows exactly the attempts the contract allows, and the sentinel key
appears in no error text.
"""

from __future__ import annotations

import itertools
import random
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest

from emulator import Emulator
from sources.refiner.client import RefinerClient
from sources.refiner.errors import AuthError, RateLimitedError, ServerError, ValidationError
from sources.refiner.timestamps import parse_timestamp
from tests.reliability.conftest import SENTINEL_API_KEY, SecretWitness, wait_until

PAGE_LENGTH = 20
FAST_RETRIES: dict[str, Any] = {
    "timeout": 2.0,
    "max_attempts": 4,
    "backoff_initial": 0.01,
    "backoff_max": 0.05,
    "requests_per_minute": 60_000,
}


@pytest.fixture
def client(emulator_sentinel: Emulator) -> Iterator[RefinerClient]:
    """A client with the sentinel key, short timeouts and millisecond backoff."""
    with RefinerClient(SENTINEL_API_KEY, emulator_sentinel.base_url, **FAST_RETRIES) as made:
        yield made


def completed_responses(emulator: Emulator) -> dict[str, dict[str, Any]]:
    """Ground truth of `GET /responses` with the default `include=completed`."""
    store = emulator.store
    rendered = (store.render_response(uuid) for uuid in list(store.responses))
    return {item["uuid"]: item for item in rendered if item["completed_at"] is not None}


def requests_to(emulator: Emulator, path: str) -> list[Any]:
    """Request-log entries for one API path (without /v1)."""
    return [entry for entry in list(emulator.request_log) if entry.path == path]


def fetch_all_pages(client: RefinerClient, *, limit: int = 200) -> list[dict[str, Any]]:
    """Every raw response item, refusing to walk more than `limit` pages (no endless loop)."""
    items: list[dict[str, Any]] = []
    for number, page in enumerate(client.iter_pages("responses", page_length=PAGE_LENGTH)):
        assert number < limit, f"still paging after {limit} pages: the client loops"
        items.extend(page.items)
    return items


def assert_items_are_ground_truth(items: list[dict[str, Any]], emulator: Emulator) -> None:
    """Exactly the ground-truth responses, each once, each equal to what the API renders."""
    truth = completed_responses(emulator)
    uuids = [item["uuid"] for item in items]
    assert len(uuids) == len(set(uuids)), "an item was returned twice"
    assert set(uuids) == set(truth)
    for item in items:
        assert item == truth[item["uuid"]]


# --- scenario 7: 429 -------------------------------------------------------------------------


def test_s07_retry_after_is_honoured_then_success(
    emulator_sentinel: Emulator, client: RefinerClient
) -> None:
    """429 three times with `Retry-After: 1`, then success: 4 requests, waits >= 1 s each."""
    emulator = emulator_sentinel
    emulator.faults.add("status", status=429, retry_after=1, times=3, path="/segments")
    emulator.request_log.clear()

    segments = list(client.get_segments(page_length=1000))

    log = requests_to(emulator, "/segments")
    assert [entry.status for entry in log] == [429, 429, 429, 200]
    assert client.stats.requests == 4
    gaps = [later.at - earlier.at for earlier, later in itertools.pairwise(log)]
    assert all(gap >= 1.0 for gap in gaps), f"waited less than Retry-After: {gaps}"
    assert {segment.uuid for segment in segments} == set(emulator.store.segments)


def test_s07_rate_limited_forever_fails_within_budget(
    emulator_sentinel: Emulator, witness: SecretWitness
) -> None:
    """Endless 429: RateLimitedError after exactly the configured attempts, within the budget.

    The budget is the Retry-After waits plus the backoff cap per retry plus one second of slack;
    a Retry-After above the client's cap is not waited out at all (one attempt).
    """
    emulator = emulator_sentinel
    emulator.faults.add("status", status=429, retry_after=0.2, times=None, path="/segments")
    attempts = 3
    settings = {**FAST_RETRIES, "max_attempts": attempts}
    with RefinerClient(SENTINEL_API_KEY, emulator.base_url, **settings) as client:
        started = time.monotonic()
        with pytest.raises(RateLimitedError) as raised:
            list(client.get_segments())
        elapsed = time.monotonic() - started
    witness.error("RateLimitedError", raised.value)
    assert len(requests_to(emulator, "/segments")) == attempts
    assert elapsed < (attempts - 1) * (0.2 + FAST_RETRIES["backoff_max"]) + 1.0
    assert "429" in str(raised.value) and f"{attempts} attempts" in str(raised.value)

    emulator.faults.clear()
    emulator.request_log.clear()
    emulator.faults.add("status", status=429, retry_after=3600, times=None, path="/segments")
    with RefinerClient(SENTINEL_API_KEY, emulator.base_url, **settings) as client:
        started = time.monotonic()
        with pytest.raises(RateLimitedError):
            list(client.get_segments())
        assert time.monotonic() - started < 1.0, "waited out an hour-long Retry-After"
    assert len(requests_to(emulator, "/segments")) == 1


# --- scenario 8: transient faults on a random page -------------------------------------------

TRANSIENT_FAULTS: dict[str, dict[str, Any]] = {
    "500": {"kind": "status", "status": 500},
    "502": {"kind": "status", "status": 502},
    "503": {"kind": "status", "status": 503},
    "504": {"kind": "status", "status": 504},
    "connection-reset": {"kind": "reset"},
    "read-timeout": {"kind": "delay", "delay": 1.5},
    "truncated-body": {"kind": "truncate"},
}


@pytest.mark.parametrize("fault", list(TRANSIENT_FAULTS))
def test_s08_transient_fault_once_on_a_random_page(
    fault: str, emulator_sentinel: Emulator, witness: SecretWitness
) -> None:
    """One transient fault on a random page: every item arrives once, with one extra request."""
    emulator = emulator_sentinel
    pages = -(-len(completed_responses(emulator)) // PAGE_LENGTH)
    assert pages >= 5, "the seed must give several pages"
    page = random.Random(f"s08-{fault}").randrange(pages)
    emulator.faults.add(path="/responses", times=1, skip=page, **TRANSIENT_FAULTS[fault])
    settings = {**FAST_RETRIES, "timeout": 0.5}
    with RefinerClient(SENTINEL_API_KEY, emulator.base_url, **settings) as client:
        items = fetch_all_pages(client)
        assert client.stats.retries == 1
    assert_items_are_ground_truth(items, emulator)
    # A delayed request is logged when the emulator finishes answering it, after the timeout.
    assert wait_until(lambda: len(requests_to(emulator, "/responses")) == pages + 1, timeout=3)
    assert [rule.hits for rule in emulator.faults.rules] == [1]


# --- scenario 9: authentication --------------------------------------------------------------

BAD_KEYS = {
    # A key too short to be taken for one: Refiner answers as if none was sent.
    "missing": ("abc", 401, "No API key found"),
    "malformed": ("not a key at all !!", 401, "does not look valid"),
    "unknown": ("0b8f8e8c-6c1a-4b7e-9a64-1f2d3c4b5a69", 404, "API key not valid"),
}


@pytest.mark.parametrize("case", list(BAD_KEYS))
def test_s09_bad_key_fails_at_once_without_retries(
    case: str, emulator_sentinel: Emulator, witness: SecretWitness
) -> None:
    """401/404 auth failures: AuthError on the first request, naming authentication, no key."""
    emulator = emulator_sentinel
    key, status, reason = BAD_KEYS[case]
    witness.secrets = (*witness.secrets, key)
    with RefinerClient(key, emulator.base_url, **FAST_RETRIES) as client:
        started = time.monotonic()
        with pytest.raises(AuthError) as raised:
            list(client.get_responses())
        elapsed = time.monotonic() - started
    log = list(emulator.request_log)
    assert [entry.status for entry in log] == [status], "an auth failure was retried"
    assert elapsed < 1.0
    message = str(raised.value)
    assert "Authentication failed" in message and reason in message
    witness.error(f"AuthError for a {case} key", raised.value)


def test_s09_empty_key_is_refused_before_any_request(emulator_sentinel: Emulator) -> None:
    """No key at all never reaches the network and names the setting to fix."""
    with pytest.raises(ValidationError, match="SOURCES__REFINER__API_KEY"):
        RefinerClient("", emulator_sentinel.base_url)
    assert list(emulator_sentinel.request_log) == []


# --- scenario 10: bodies that are not the documented shape ----------------------------------

BAD_BODIES = {
    "html": "not JSON",
    "items_missing": "`items` is missing",
    "items_not_list": "not a list",
}


@pytest.mark.parametrize("kind", list(BAD_BODIES))
def test_s10_bad_body_fails_clearly(
    kind: str, emulator_sentinel: Emulator, witness: SecretWitness
) -> None:
    """A 200 whose body is HTML or lacks a list of items is a ServerError naming the defect,
    raised after the bounded attempts, on the page that carried it."""
    emulator = emulator_sentinel
    emulator.faults.add(kind, path="/responses", times=None, skip=1)
    with (
        RefinerClient(SENTINEL_API_KEY, emulator.base_url, **FAST_RETRIES) as client,
        pytest.raises(ServerError) as raised,
    ):
        fetch_all_pages(client)
    witness.error(f"ServerError for {kind}", raised.value)
    assert BAD_BODIES[kind] in str(raised.value)
    assert "malformed body" in str(raised.value)
    assert len(requests_to(emulator, "/responses")) == 1 + FAST_RETRIES["max_attempts"]


# --- scenario 11: pagination that would never end -------------------------------------------


@pytest.mark.parametrize("kind", ["empty_page", "repeat_cursor"])
def test_s11_inconsistent_cursor_terminates_with_an_error(
    kind: str, emulator_sentinel: Emulator, client: RefinerClient, witness: SecretWitness
) -> None:
    """An empty page that still has a next cursor, or a cursor sent twice: ServerError, fast."""
    emulator = emulator_sentinel
    emulator.faults.add(kind, path="/responses", times=None, skip=1)
    started = time.monotonic()
    with pytest.raises(ServerError, match="instead of looping") as raised:
        fetch_all_pages(client, limit=50)
    witness.error(f"ServerError for {kind}", raised.value)
    assert time.monotonic() - started < 5.0
    assert len(requests_to(emulator, "/responses")) <= 4


# --- scenario 12: timestamps and a missing cursor field --------------------------------------


def _instant(text: str | None) -> datetime | None:
    return None if text is None else parse_timestamp(text)


@pytest.mark.parametrize("style", ["naive", "offset", "z", "mixed"])
def test_s12_every_timestamp_format_is_the_same_utc_instant(
    style: str, emulator_sentinel: Emulator, client: RefinerClient
) -> None:
    """Responses re-rendered naive, with `+02:00` or with `Z` decode to the true UTC instants."""
    emulator = emulator_sentinel
    truth = completed_responses(emulator)
    emulator.faults.add("timestamps", style=style, path="/responses", times=None)
    raw = fetch_all_pages(client)
    if style == "offset":
        assert all(item["completed_at"].endswith("+02:00") for item in raw)
    models = list(client.get_responses(page_length=PAGE_LENGTH))
    assert {model.uuid for model in models} == set(truth)
    for model in models:
        expected = truth[model.uuid]
        for name in ("first_shown_at", "last_data_reception_at", "completed_at"):
            got = getattr(model, name)
            assert got == _instant(expected[name]), (model.uuid, name, got, expected[name])
            assert got is None or got.utcoffset() == timedelta(0)


def test_s12_records_missing_the_cursor_field_are_kept(
    emulator_sentinel: Emulator, client: RefinerClient
) -> None:
    """Items without `last_data_reception_at` still decode, with the field None."""
    emulator = emulator_sentinel
    emulator.faults.add("missing_field", path="/responses", times=1, count=3)
    models = list(client.get_responses(page_length=PAGE_LENGTH))
    missing = [model for model in models if model.last_data_reception_at is None]
    assert len(missing) == 3
    assert {model.uuid for model in models} == set(completed_responses(emulator))
