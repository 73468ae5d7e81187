"""`Spool.prune` and `refiner events prune`: finished deliveries past an age are deleted with
their actions; a delivery not yet in the warehouse, or with a pending or dead action, stays."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pipelines.events.payload import Delivery, parse_body
from pipelines.events.spool import Spool
from tests.cli_run import run_refiner
from tests.events.helpers import encode, survey_payload

RULE = "detractor follow-up"


def _deliveries(count: int) -> list[tuple[Delivery, bytes]]:
    bodies = [
        encode(survey_payload(f"a0000000-0000-4000-8000-00000000000{i}")) for i in range(count)
    ]
    return [(parse_body(body), body) for body in bodies]


def _spool_in_every_state(path: Path) -> tuple[Spool, dict[str, tuple[Delivery, bytes]]]:
    """Deliveries that are: finished (an action done and flushed), finished without actions,
    dead (an action dead), unreported (an action done, its outcome not yet flushed), pending
    (an action not run yet) and unflushed (not in the warehouse yet)."""
    names = ("finished", "no_actions", "dead", "unreported", "pending", "unflushed")
    deliveries = dict(zip(names, _deliveries(len(names)), strict=True))
    ids = {name: delivery.delivery_id for name, (delivery, _) in deliveries.items()}
    spool = Spool(path)
    with spool.connection() as connection:
        spool.append(connection, [(d, body, "webhook") for d, body in deliveries.values()])
        in_warehouse = [
            d.seq for d in spool.unflushed(connection, 100) if d.delivery_id != ids["unflushed"]
        ]
        spool.mark_flushed(connection, in_warehouse)
        with_actions = ("finished", "dead", "unreported", "pending")
        spool.plan(
            connection, in_warehouse, [(ids[n], RULE, 0, "track-event") for n in with_actions]
        )
        action = {a.delivery_id: a for a in spool.actions(connection)}
        for name, status in (("finished", "done"), ("dead", "dead"), ("unreported", "done")):
            spool.record_outcome(connection, action[ids[name]], status, None)
        outcomes = spool.unflushed_outcomes(connection, 100)
        spool.mark_outcomes_flushed(
            connection, [a for a in outcomes if a.delivery_id == ids["finished"]]
        )
    return spool, deliveries


def test_prune_deletes_only_finished_deliveries_past_the_age(tmp_path: Path) -> None:
    spool, deliveries = _spool_in_every_state(tmp_path / "spool.sqlite")
    with spool.connection() as connection:
        assert spool.prune(connection, datetime.now(UTC) - timedelta(hours=1)) == 0
        assert spool.prune(connection, datetime.now(UTC) + timedelta(seconds=1)) == 2
        kept = {
            name for name, (d, _) in deliveries.items() if spool.delivery(connection, d.delivery_id)
        }
        assert kept == {"dead", "unreported", "pending", "unflushed"}
        assert {a.delivery_id for a in spool.actions(connection)} == {
            deliveries[name][0].delivery_id for name in ("dead", "unreported", "pending")
        }
        again = spool.append(
            connection, [(*deliveries[name], "webhook") for name in ("finished", "dead")]
        )
    assert again == [True, False], "a pruned delivery is new again; a kept one is still known"


def test_refiner_events_prune_deletes_what_is_older_than_asked(tmp_path: Path) -> None:
    path = tmp_path / "spool.sqlite"
    spool, deliveries = _spool_in_every_state(path)
    forty_days_ago = (datetime.now(UTC) - timedelta(days=40)).isoformat()
    with sqlite3.connect(path) as connection:
        connection.execute("update deliveries set received_at = ?", (forty_days_ago,))

    runs = [
        run_refiner("events", "prune", "--spool", str(path), "--older-than", age)
        for age in ("60d", "30d")
    ]
    assert [run.code for run in runs] == [0, 0], runs[-1].stderr
    assert [run.stdout.strip() for run in runs] == [
        "0 deliveries pruned (received more than 60d ago)",
        "2 deliveries pruned (received more than 30d ago)",
    ]
    with spool.connection() as connection:
        (left,) = connection.execute("select count(*) from deliveries").fetchone()
    assert left == len(deliveries) - 2

    refused = run_refiner("events", "prune", "--spool", str(path), "--older-than", "soon")
    assert refused.code == 2
    assert refused.error_lines == [
        "Error: --older-than 'soon': use a positive duration, e.g. 60s, 5m or 1h"
    ]
