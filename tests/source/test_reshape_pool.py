"""Unit tests of sources/refiner/reshape_pool.py: when a walk's pages go to worker processes."""

from __future__ import annotations

import logging
import multiprocessing
import sys
from concurrent.futures import ProcessPoolExecutor

import orjson
import pytest

from sources.refiner.pagination import MalformedBodyError
from sources.refiner.reshape_pool import ReshapePool, decode_contacts
from sources.refiner.worker_start import start_worker

STARTED = "worker processes"


def _page(first: int, *, items_count: int) -> bytes:
    items = [
        {"uuid": f"c{n}", "last_seen_at": "2024-05-20 17:00:00", "attributes": {"plan": "pro"}}
        for n in (first, first + 1)
    ]
    pagination = {"items_count": items_count, "page_length": 2, "next_page_cursor": "x"}
    return orjson.dumps({"items": items, "pagination": pagination})


def _starts(caplog: pytest.LogCaptureFixture) -> int:
    return sum(STARTED in record.getMessage() for record in caplog.records)


def _started(caplog: pytest.LogCaptureFixture) -> bool:
    return _starts(caplog) > 0


@pytest.fixture
def caplog_info(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.INFO, logger="sources.refiner.reshape_pool")
    return caplog


def test_a_walk_that_stops_early_counts_the_items_it_read_not_items_count(
    caplog_info: pytest.LogCaptureFixture,
) -> None:
    """Contacts read down to the cursor: a million contacts in the account, but the first
    pages of the walk stay in the thread until the walk itself has read `min_items`."""
    with ReshapePool(1).lease() as pool:
        decode = pool.decoder(decode_contacts, min_items=4, stops_early=True)
        first = decode(_page(0, items_count=1_000_000))
        decode(_page(2, items_count=1_000_000))
        assert not _started(caplog_info)
        third = decode(_page(4, items_count=1_000_000))
        assert _started(caplog_info)
        assert first[0].result().contacts["uuid"].to_pylist() == ["c0", "c1"]
        assert third[0].result().contacts["uuid"].to_pylist() == ["c4", "c5"]
    assert third[1]["items_count"] == 1_000_000
    assert third[2] == 2


def test_a_whole_walk_goes_to_processes_after_a_first_page_with_a_large_items_count(
    caplog_info: pytest.LogCaptureFixture,
) -> None:
    with ReshapePool(1).lease() as pool:
        decode = pool.decoder(decode_contacts, min_items=4)
        decode(_page(0, items_count=1_000_000))
        assert not _started(caplog_info)
        second = decode(_page(2, items_count=1_000_000))
        assert _started(caplog_info)
        assert second[0].result().contacts["uuid"].to_pylist() == ["c2", "c3"]


def test_a_malformed_page_meant_for_a_worker_fails_in_the_walk() -> None:
    """The fetching thread checks the envelope itself, so the client retries the page as it
    retries any malformed page, instead of a worker failing later."""
    with ReshapePool(1).lease() as pool:
        decode = pool.decoder(decode_contacts, min_items=1)
        decode(_page(0, items_count=1_000_000))
        with pytest.raises(MalformedBodyError, match="not JSON"):
            decode(_page(2, items_count=1_000_000)[:-20])


def test_a_small_walk_never_starts_a_process(caplog_info: pytest.LogCaptureFixture) -> None:
    with ReshapePool(1).lease() as pool:
        decode = pool.decoder(decode_contacts, min_items=4)
        for first in (0, 2, 4):
            decode(_page(first, items_count=3))
    assert not _started(caplog_info)


def test_workers_stop_when_the_last_lease_ends(caplog_info: pytest.LogCaptureFixture) -> None:
    """Contacts and responses share one pool: the resource that finishes first must not stop
    the workers the other still uses."""
    pool = ReshapePool(1)

    def send(first: int) -> list[str]:
        decode = pool.decoder(decode_contacts, min_items=1, total=10)
        return decode(_page(first, items_count=10))[0].result().contacts["uuid"].to_pylist()

    with pool.lease():
        with pool.lease():
            assert send(0) == ["c0", "c1"]
        assert send(2) == ["c2", "c3"]
        assert _starts(caplog_info) == 1, "the workers stopped while a lease was still open"
    with pool.lease():
        assert send(4) == ["c4", "c5"]
    assert _starts(caplog_info) == 2, "the workers outlived the last lease"


def _loaded(module: str) -> bool:
    return module in sys.modules


def test_a_started_worker_reshapes_pages_without_importing_pandas_or_httpx() -> None:
    """pyarrow would import pandas on the worker's first conversion (0.3 to 0.5 s of its
    start); httpx (about 0.2 s) is for requests, which a worker never makes."""
    spawn = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(1, mp_context=spawn, initializer=start_worker, initargs=(30,)) as ex:
        tables, _, count = ex.submit(decode_contacts, _page(0, items_count=2)).result()
        assert tables.attributes["value_text"].to_pylist() == ["pro", "pro"]
        assert count == 2
        assert not ex.submit(_loaded, "pandas").result()
        assert not ex.submit(_loaded, "httpx").result()
