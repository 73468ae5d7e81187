"""Runs every (delivery, rule, action) once, from the spool's action log.

Planning: each spooled delivery not yet planned is matched against the rules, and one
`pending` row per matching (rule, action) is inserted (a primary key on (delivery, rule,
action index) makes a second plan a no-op), in the transaction that marks it planned.
A redelivery is never spooled twice, so it is never planned twice.

Running: a due pending action is performed and its outcome recorded: `done`; or, after a
failure, `pending` again at an exponential backoff (`backoff_seconds` doubled per attempt,
capped at `backoff_max`); or `dead` after `max_attempts` attempts, or at once for a failure
that cannot succeed later. `refiner events retry` makes dead actions pending again.
An action that succeeded is recorded before the next one starts; a process killed between
performing an action and recording it performs that one action again on restart (the
webhook action's stable `webhook-id` lets its receiver drop the repeat).
"""

from __future__ import annotations

import hashlib
import logging
import sqlite3
import threading
import time
from dataclasses import dataclass
from typing import Any

from pipelines.events.actions import ActionFailed, Actuator
from pipelines.events.payload import parse_body
from pipelines.events.rules import Rule, context
from pipelines.events.spool import ActionRecord, Spool, SpooledDelivery

logger = logging.getLogger(__name__)

BATCH = 1000


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 5
    backoff_seconds: float = 1.0
    backoff_max: float = 300.0

    def delay(self, attempts: int) -> float:
        return float(min(self.backoff_max, self.backoff_seconds * 2 ** max(attempts - 1, 0)))


class ActionRunner:
    """Plans and performs actions on a background thread until `stop()`."""

    def __init__(
        self,
        spool: Spool,
        rules: list[Rule],
        actuator: Actuator,
        policy: RetryPolicy = RetryPolicy(),
        poll_seconds: float = 0.2,
    ) -> None:
        self._spool = spool
        self._rules = {rule.name: rule for rule in rules}
        self._actuator = actuator
        self._policy = policy
        self._poll = poll_seconds
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="action-runner", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        self._actuator.close()

    def _loop(self) -> None:
        with self._spool.connection() as connection:
            while not self._stop.is_set():
                try:
                    busy = self.step(connection)
                except sqlite3.Error:
                    logger.exception("action runner: spool error; retrying")
                    busy = False
                if not busy:
                    self._stop.wait(self._poll)

    def step(self, connection: sqlite3.Connection) -> bool:
        """Plan new deliveries and run due actions once; True if there was work."""
        planned = self.plan(connection)
        due = self._spool.due_actions(connection, BATCH)
        for action in due:
            if self._stop.is_set():
                break
            self.run_one(connection, action)
        return bool(planned or due)

    def plan(self, connection: sqlite3.Connection) -> int:
        deliveries = self._spool.unplanned(connection, BATCH)
        if deliveries:
            planned = [action for spooled in deliveries for action in self._matching(spooled)]
            self._spool.plan(connection, [spooled.seq for spooled in deliveries], planned)
        return len(deliveries)

    def _matching(self, spooled: SpooledDelivery) -> list[tuple[str, str, int, str]]:
        if not self._rules:
            return []
        values = _context(spooled)
        return [
            (spooled.delivery_id, rule.name, index, action.type)
            for rule in self._rules.values()
            if rule.matches(values)
            for index, action in enumerate(rule.actions)
        ]

    def run_one(self, connection: sqlite3.Connection, record: ActionRecord) -> None:
        rule = self._rules.get(record.rule)
        spooled = self._spool.delivery(connection, record.delivery_id)
        if rule is None or spooled is None or record.action_index >= len(rule.actions):
            self._spool.record_outcome(
                connection, record, "dead", "the rule or action is no longer in the rules file"
            )
            return
        message_id = _message_id(record)
        try:
            self._actuator.perform(rule.actions[record.action_index], _context(spooled), message_id)
        except ActionFailed as failure:
            attempts = record.attempts + 1
            if failure.permanent or attempts >= self._policy.max_attempts:
                logger.warning("action %s dead after %d tries: %s", message_id, attempts, failure)
                self._spool.record_outcome(connection, record, "dead", str(failure))
            else:
                retry_at = time.time() + self._policy.delay(attempts)
                self._spool.record_outcome(connection, record, "pending", str(failure), retry_at)
            return
        self._spool.record_outcome(connection, record, "done", None)


def _context(spooled: SpooledDelivery) -> dict[str, Any]:
    delivery = parse_body(spooled.body)
    return {**context(delivery.payload, delivery.raw), "raw": delivery.raw}


def _message_id(record: ActionRecord) -> str:
    """Stable per (delivery, rule, action): the same on every retry and restart."""
    rule = hashlib.sha256(record.rule.encode()).hexdigest()[:8]
    return f"msg_{record.delivery_id}_{rule}_{record.action_index}"
