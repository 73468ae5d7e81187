"""Retries, error mapping, secret hygiene and rate limiting over real HTTP, with the
emulator's fault injection. The request log is the witness of what the client sent."""

from __future__ import annotations

import itertools
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from emulator import Emulator
from sources.refiner.errors import (
    AuthError,
    RateLimitedError,
    ServerError,
    TransportError,
    ValidationError,
)
from sources.refiner.ratelimit import RateLimiter
from tests.client.conftest import MakeClient
from tests.client.test_ratelimit import StartRecorder, busiest_window

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
