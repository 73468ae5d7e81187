"""Faults at the client level, over real HTTP to the emulator's fault injection.

Retries, error mapping, secret hygiene and rate limiting; then the fault matrix's client
scenarios (issue 5 §1, 7-12), each with the sentinel key: the data that comes back equals the
emulator's ground truth (or a clear error is raised), the request log shows exactly the
attempts the contract allows, and the sentinel key appears in no error text.
"""

from __future__ import annotations

import itertools
import logging
import random
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any

import pytest

from emulator import Emulator
from sources.refiner.client import RefinerClient
from sources.refiner.errors import (
    AuthError,
    RateLimitedError,
    ServerError,
    TransportError,
    ValidationError,
)
from sources.refiner.ratelimit import RateLimiter
from sources.refiner.timestamps import parse_timestamp
from tests.client.helpers import MakeClient
from tests.client.test_ratelimit import StartRecorder, busiest_window
from tests.load.scenarios import wait_until
from tests.secrets import SENTINEL_API_KEY, SecretWitness

SENTINEL_KEY = "0f1e2d3c-4b5a-11ee-8000-53c4e7ce75e1"  # well-formed, unknown to the emulator


def logged(emulator: Emulator, path: str) -> list[Any]:
    return [entry for entry in emulator.request_log.entries() if entry.path == path]


def test_429_three_times_honours_retry_after(emulator: Emulator, make_client: MakeClient) -> None:
    client = make_client(emulator)
    emulator.faults.add("status", status=429, retry_after=1, times=3, path="/account")
    assert client.get_account_info().subscription.plan
    sent = logged(emulator, "/account")
    assert [entry.status for entry in sent] == [429, 429, 429, 200]
    gaps = [later.at - earlier.at for earlier, later in itertools.pairwise(sent)]
    assert all(gap >= 1.0 for gap in gaps), gaps
    assert client.stats.retries == 3


def test_429_forever_fails_after_the_configured_attempts(
    emulator: Emulator, make_client: MakeClient
) -> None:
    client = make_client(emulator, max_attempts=3)
    emulator.faults.add("status", status=429, retry_after=0.1, times=None, path="/segments")
    with pytest.raises(RateLimitedError, match="gave up after 3 attempts") as raised:
        list(client.get_segments())
    assert raised.value.status == 429 and raised.value.retry_after == pytest.approx(0.1)
    assert len(logged(emulator, "/segments")) == 3


def test_429_forever_stops_within_the_retry_budget(
    emulator: Emulator, make_client: MakeClient
) -> None:
    client = make_client(emulator, max_attempts=10, retry_budget_seconds=1.0)
    emulator.faults.add("status", status=429, retry_after=0.4, times=None, path="/account")
    started = time.monotonic()
    with pytest.raises(RateLimitedError, match="gave up after 3 attempts"):
        client.get_account_info()
    assert time.monotonic() - started < 1.0
    assert len(logged(emulator, "/account")) == 3


def test_503_and_429_mid_pagination_lose_nothing(
    emulator: Emulator, make_client: MakeClient
) -> None:
    client = make_client(emulator)
    emulator.faults.add("status", status=503, times=2, skip=1, path="/contacts")
    emulator.faults.add("status", status=429, retry_after=0.2, times=1, skip=3, path="/contacts")
    got = [contact.uuid for contact in client.get_contacts(page_length=10)]
    assert len(got) == len(set(got)) == len(emulator.store.contacts)
    statuses = [entry.status for entry in logged(emulator, "/contacts")]
    assert statuses.count(503) == 2 and statuses.count(429) == 1
    assert client.stats.retries == 3


def test_background_error_share(emulator: Emulator, make_client: MakeClient) -> None:
    client = make_client(emulator)
    emulator.faults.configure(error_rate=0.2, error_statuses=[500, 503])
    got = {response.uuid for response in client.get_responses(include="all", page_length=25)}
    assert got == set(emulator.store.responses)
    assert any(entry.status in (500, 503) for entry in logged(emulator, "/responses"))


def test_permanent_500_is_a_server_error_after_max_attempts(
    emulator: Emulator, make_client: MakeClient, caplog: pytest.LogCaptureFixture
) -> None:
    client = make_client(emulator, max_attempts=4)
    emulator.faults.add("status", status=500, times=None, path="/reporting")
    with pytest.raises(ServerError, match="gave up after 4 attempts") as raised:
        client.get_reporting("nps")
    assert raised.value.status == 500
    assert len(logged(emulator, "/reporting")) == 4
    retries = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(retries) == 3 and "/v1/reporting?type=nps" in retries[0].getMessage()


@pytest.mark.parametrize(
    "fault",
    [
        {"kind": "status", "status": 500},
        {"kind": "status", "status": 502},
        {"kind": "status", "status": 503},
        {"kind": "status", "status": 504},
        {"kind": "reset"},
        {"kind": "drop"},
        {"kind": "truncate"},
        {"kind": "malformed"},
        {"kind": "html"},
        {"kind": "items_missing"},
        {"kind": "items_not_list"},
        {"kind": "delay", "delay": 1.0},
    ],
    ids=lambda fault: "-".join(str(v) for v in fault.values()),
)
def test_one_fault_on_a_page_is_retried(
    emulator: Emulator, make_client: MakeClient, fault: dict[str, Any]
) -> None:
    client = make_client(emulator, timeout=0.5)
    emulator.faults.add(**fault, times=1, skip=2, path="/responses")
    got = [response.uuid for response in client.get_responses(include="all", page_length=50)]
    assert len(got) == len(set(got)) == len(emulator.store.responses)
    assert client.stats.retries == 1


@pytest.mark.parametrize(
    ("kind", "error"),
    [
        ("html", ServerError),
        ("items_missing", ServerError),
        ("items_not_list", ServerError),
        ("malformed", ServerError),
        ("reset", TransportError),
    ],
)
def test_a_permanently_broken_page_fails_clearly(
    emulator: Emulator, make_client: MakeClient, kind: str, error: type[Exception]
) -> None:
    client = make_client(emulator, max_attempts=3)
    emulator.faults.add(kind, times=None, path="/responses")
    with pytest.raises(error, match="gave up after 3 attempts"):
        list(client.get_responses())
    assert len(logged(emulator, "/responses")) == 3


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("empty_page", "empty page that still has a next_page_cursor"),
        ("repeat_cursor", "sent before"),
    ],
)
def test_inconsistent_cursors_stop_instead_of_looping(
    emulator: Emulator, make_client: MakeClient, kind: str, message: str
) -> None:
    client = make_client(emulator)
    emulator.faults.add(kind, times=None, path="/responses")
    with pytest.raises(ServerError, match=message):
        list(client.get_responses(include="all", page_length=50))
    assert len(logged(emulator, "/responses")) <= 2


@pytest.mark.parametrize(
    ("key", "status"),
    [(SENTINEL_KEY, 404), ("not-a-key!", 401), ("your-refiner-api-key", 401)],
    ids=["unknown", "malformed", "placeholder"],
)
def test_wrong_key_is_an_auth_error_without_retries_or_leaks(
    emulator: Emulator,
    make_client: MakeClient,
    caplog: pytest.LogCaptureFixture,
    key: str,
    status: int,
) -> None:
    caplog.set_level(logging.DEBUG)
    client = make_client(emulator, api_key=key)
    with pytest.raises(AuthError) as raised:
        client.verify()
    assert raised.value.status == status
    assert "Authentication failed" in str(raised.value)
    assert len(emulator.request_log.entries()) == 1
    for text in (str(raised.value), repr(raised.value), repr(client), caplog.text):
        assert key not in text


def test_invalid_input_never_reaches_the_server(
    emulator: Emulator, make_client: MakeClient
) -> None:
    client = make_client(emulator)
    attempts = [
        lambda: client.get_contact(),
        lambda: client.delete_contact(),
        lambda: client.get_reporting("bogus"),  # type: ignore[arg-type]
        lambda: list(client.get_contacts(page_length=1001)),
        lambda: list(client.get_forms(list="gone")),  # type: ignore[arg-type]
        lambda: list(client.get_responses(include="everything")),  # type: ignore[arg-type]
        lambda: client.track_event("Signed up"),
        lambda: client.update_contact(traits={"plan": "pro"}),
        lambda: client.update_contact(id="u1", traits={"bio": "x" * 256}),
    ]
    for attempt in attempts:
        with pytest.raises(ValidationError):
            attempt()
    assert emulator.request_log.entries() == []


@pytest.mark.timing
def test_burst_of_500_calls_stays_under_the_configured_rate(
    emulator: Emulator, make_client: MakeClient
) -> None:
    """No 1-second window holds more than 50 request starts; a request that waits starts once
    the 50th before it is one window old (plus its thread's wake-up). Starts are the limiter's
    clock readings. The emulator's arrival times trail them by the time a request takes to go
    out, so they are checked for the overall pace."""
    recorder = StartRecorder(time.monotonic, time.sleep)
    # Whole-window bursts (spread=1), so the rule "wait for the 50th before" is exact.
    limiter = RateLimiter(3000, spread=1, clock=recorder.clock, sleep=recorder.sleep)  # 50/s
    client = make_client(emulator, rate_limiter=limiter)
    starts: list[tuple[float, bool]] = []

    def call(_: int) -> None:
        client.verify()
        starts.append((recorder.start(), recorder.waited()))

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(call, range(500)))
    starts.sort()
    times = [start for start, _ in starts]
    assert len(times) == 500
    assert busiest_window(times) == 50
    for i, (start, waited) in enumerate(starts):
        if waited:
            assert times[i - 50] + limiter.window_seconds <= start < times[i - 50] + 1.25
    assert sum(waited for _, waited in starts[:50]) == 0
    assert 9 * limiter.window_seconds <= times[450] - times[0] < 9 * limiter.window_seconds + 1
    arrivals = sorted(entry.at for entry in emulator.request_log.entries())
    assert len(arrivals) == 500
    assert arrivals[-1] - arrivals[0] >= 9 * limiter.window_seconds - 0.1
    # Two-second windows at the server: at most two windows' budget, plus 0.2 s of traffic
    # for requests that left on time but reached the server late.
    assert busiest_window(arrivals, 2.0) <= 2 * 50 + 0.2 * 50


def test_default_limiter_never_lets_the_server_see_more_than_r_in_a_second(
    emulator: Emulator, make_client: MakeClient
) -> None:
    """The client's default limiter at 50 per second, 300 calls from 8 threads: counted by
    arrival at the server, no 1-second window holds more than 50 requests."""
    client = make_client(emulator, requests_per_minute=3000)

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda _: client.verify(), range(300)))
    arrivals = sorted(entry.at for entry in emulator.request_log.entries())
    assert len(arrivals) == 300
    assert busiest_window(arrivals) <= 50
    assert arrivals[-1] - arrivals[0] >= 5 * 1.0


def test_a_shared_limiter_paces_two_clients(emulator: Emulator, make_client: MakeClient) -> None:
    """15 calls each fit either client's own budget; sharing one of 20 per second, the 21st
    call must wait until the first is one window old."""
    recorder = StartRecorder(time.monotonic, time.sleep)
    shared = RateLimiter(1200, spread=1, clock=recorder.clock, sleep=recorder.sleep)  # 20/s
    first = make_client(emulator, rate_limiter=shared)
    second = make_client(emulator, rate_limiter=shared)
    starts: list[float] = []
    for _ in range(15):
        first.verify()
        starts.append(recorder.start())
        second.verify()
        starts.append(recorder.start())
    arrivals = [entry.at for entry in emulator.request_log.entries()]
    assert len(arrivals) == 30
    assert busiest_window(starts) == 20
    assert shared.window_seconds <= starts[20] - starts[0] < shared.window_seconds + 0.25
    assert arrivals[20] - arrivals[0] >= shared.window_seconds - 0.1


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
