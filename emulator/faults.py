"""Fault injection: switchable background faults plus scripted rules, with their own seeded RNG.

Scripted rules (`Faults.add`) are checked first, in the order added; the first rule that matches
a request fires (and counts down `times`). Then the switchable settings (`Faults.configure`)
apply: a token-bucket rate limit, a share of 5xx answers, dropped connections, malformed bodies,
duplicated items across pages, and fixed/random latency.

Rule kinds (`KINDS`):
- `status`: answer `status` (e.g. 429 with `retry_after`, 500/502/503/504, 400) with `body`
  or a default error body; nothing else happens (no side effect).
- `reset`: close the connection with a TCP reset before answering.
- `drop`: close the connection cleanly before answering.
- `delay`: sleep `delay` seconds, then answer normally (a read timeout for short client timeouts).
- `truncate`: send the headers with the full Content-Length, half the body, then close.
- `malformed`: 200 with a cut-off JSON body (Content-Length matches what is sent).
- `html`: 200 with an HTML page and `Content-Type: text/html`.
- `items_missing`: the JSON body without `items`.
- `items_not_list`: `items` is an object instead of a list.
- `empty_page`: `items` is empty but `pagination.next_page_cursor` is not null.
- `repeat_cursor`: `next_page_cursor` equals the `page_cursor` the request sent (only matches
  requests that carry a cursor).
- `duplicate_items`: the page starts with the last item of the previous page.
- `stale_copy`: the page starts with the version of its first item from before an edit, as a
  record edited while a client read it: `field` (default `last_data_reception_at`) one hour
  earlier, and every value in its `data` and `attributes` replaced by "before the edit" (a list
  by a list of as many).
- `missing_field`: `field` (default `last_data_reception_at`) is removed from the first `count`
  items (all when `count` is None).
- `timestamps`: timestamp fields of items are re-rendered in `style` `naive`
  (`2024-05-20T17:02:11`), `offset` (`2024-05-20T19:02:11+02:00`), `z` (`2024-05-20T17:02:11Z`)
  or `mixed` (cycles through the three).
"""

from __future__ import annotations

import itertools
import math
import random
import threading
import time
from dataclasses import asdict, dataclass, field
from typing import Any

KINDS = (
    "status",
    "reset",
    "drop",
    "delay",
    "truncate",
    "malformed",
    "html",
    "items_missing",
    "items_not_list",
    "empty_page",
    "repeat_cursor",
    "duplicate_items",
    "stale_copy",
    "missing_field",
    "timestamps",
)
CONNECTION_KINDS = frozenset({"reset", "drop"})
BODY_KINDS = frozenset(
    {
        "truncate",
        "malformed",
        "html",
        "items_missing",
        "items_not_list",
        "empty_page",
        "repeat_cursor",
        "duplicate_items",
        "stale_copy",
        "missing_field",
        "timestamps",
    }
)
TIMESTAMP_STYLES = ("naive", "offset", "z", "mixed")
TOO_OFTEN = {"error": "You are doing this too often."}


@dataclass
class Rule:
    """One scripted fault. `times=None` fires forever; `skip` lets the first n matches pass.

    `path` is the API path without /v1 (exact, or a prefix ending in `*`); `method` is upper
    case; `match` is a subset of the request parameters (a list value means "any of").
    """

    kind: str
    path: str | None = None
    method: str | None = None
    times: int | None = 1
    skip: int = 0
    match: dict[str, Any] | None = None
    status: int = 500
    retry_after: float | None = None
    body: Any = None
    delay: float = 0.0
    field: str | None = None
    count: int | None = None
    style: str = "mixed"
    id: int = 0
    hits: int = 0
    seen: int = 0

    def applies(self, method: str, path: str, params: dict[str, Any]) -> bool:
        """Whether this rule's filters select the request (ignoring times/skip)."""
        if self.method is not None and self.method.upper() != method:
            return False
        if self.path is not None:
            if self.path.endswith("*"):
                if not path.startswith(self.path[:-1]):
                    return False
            elif self.path != path:
                return False
        if self.kind == "repeat_cursor" and not params.get("page_cursor"):
            return False
        if self.kind in ("duplicate_items",) and not (
            params.get("page_cursor") or str(params.get("page", "1")) not in ("", "1")
        ):
            return False
        for key, wanted in (self.match or {}).items():
            value = params.get(key)
            options = wanted if isinstance(wanted, list) else [wanted]
            if value is None or str(value) not in {str(option) for option in options}:
                return False
        return True

    def describe(self) -> dict[str, Any]:
        """The rule as JSON, with `remaining` (None = forever)."""
        described = asdict(self)
        described["remaining"] = None if self.times is None else self.times - self.hits
        return described


@dataclass
class Settings:
    """Switchable background faults; all off by default."""

    latency_ms: float = 0.0
    latency_jitter_ms: float = 0.0
    rate_limit_per_second: float | None = None
    rate_limit_burst: float | None = None
    error_rate: float = 0.0
    error_statuses: tuple[int, ...] = (500, 503)
    drop_rate: float = 0.0
    malformed_rate: float = 0.0
    duplicate_items: bool = False


@dataclass
class Decision:
    """What the server does to one request: an action before handling and body reshaping."""

    rule: Rule | None = None
    before: str | None = None  # "status" | "reset" | "drop"
    status: int = 0
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    after: list[Rule] = field(default_factory=list)


class Faults:
    """Fault switchboard of one emulator."""

    def __init__(self, seed: int = 0) -> None:
        self._lock = threading.Lock()
        self.rng = random.Random(seed)
        self.settings = Settings()
        self._rules: list[Rule] = []
        self._ids = itertools.count(1)
        self._tokens = 0.0
        self._refilled = time.monotonic()

    # ------------------------------------------------------------------ control
    def add(self, kind: str, **options: Any) -> Rule:
        """Script a fault: `add("status", status=429, retry_after=1, times=3, path="/responses")`.

        Options are the `Rule` fields; returns the rule (its `hits` count as it fires).
        """
        if kind not in KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; kinds: {', '.join(KINDS)}")
        if "style" in options and options["style"] not in TIMESTAMP_STYLES:
            raise ValueError(f"style must be one of {TIMESTAMP_STYLES}")
        rule = Rule(kind=kind, **options)
        with self._lock:
            rule.id = next(self._ids)
            self._rules.append(rule)
        return rule

    def remove(self, rule_id: int) -> None:
        """Drop one scripted rule."""
        with self._lock:
            self._rules = [rule for rule in self._rules if rule.id != rule_id]

    @property
    def rules(self) -> list[Rule]:
        """Scripted rules still present (spent ones included until cleared)."""
        with self._lock:
            return list(self._rules)

    def configure(self, **settings: Any) -> Settings:
        """Change switchable settings (see `Settings`); unknown names raise TypeError."""
        with self._lock:
            for name, value in settings.items():
                if not hasattr(self.settings, name):
                    raise TypeError(f"unknown fault setting {name!r}")
                if name == "error_statuses":
                    value = tuple(int(status) for status in value)
                setattr(self.settings, name, value)
            if self.settings.rate_limit_per_second:
                self._tokens = self._burst()
                self._refilled = time.monotonic()
            return self.settings

    def clear(self) -> None:
        """Remove every rule and switch every setting off."""
        with self._lock:
            self._rules.clear()
            self.settings = Settings()

    def reseed(self, seed: int) -> None:
        """Restart the fault RNG."""
        with self._lock:
            self.rng = random.Random(seed)

    # ------------------------------------------------------------------ decisions
    def _burst(self) -> float:
        rate = self.settings.rate_limit_per_second or 0.0
        return self.settings.rate_limit_burst or max(rate, 1.0)

    def _take_token(self, now: float) -> float:
        """0 when a token was taken at `now` (time.monotonic()), else seconds until the next
        token. Requests handled out of their arrival order never refill the bucket backwards."""
        rate = self.settings.rate_limit_per_second or 0.0
        now = max(now, self._refilled)
        self._tokens = min(self._burst(), self._tokens + (now - self._refilled) * rate)
        self._refilled = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return 0.0
        return (1.0 - self._tokens) / rate

    def decide(self, method: str, path: str, params: dict[str, Any], arrived: float) -> Decision:
        """Choose what happens to one API request that `arrived` at this time.monotonic();
        thread-safe."""
        with self._lock:
            decision = Decision()
            for rule in self._rules:
                if rule.times is not None and rule.hits >= rule.times:
                    continue
                if not rule.applies(method, path, params):
                    continue
                rule.seen += 1
                if rule.seen <= rule.skip:
                    continue
                rule.hits += 1
                self._apply_rule(rule, decision)
                break
            settings = self.settings
            decision.delay += settings.latency_ms / 1000.0
            if settings.latency_jitter_ms:
                decision.delay += self.rng.random() * settings.latency_jitter_ms / 1000.0
            if decision.before is None and settings.rate_limit_per_second:
                wait = self._take_token(arrived)
                if wait > 0:
                    decision.before = "status"
                    decision.status = 429
                    decision.body = dict(TOO_OFTEN)
                    decision.headers["Retry-After"] = str(max(1, math.ceil(wait)))
            if decision.before is None and decision.rule is None:
                self._apply_random(decision, path)
            return decision

    def _apply_rule(self, rule: Rule, decision: Decision) -> None:
        decision.rule = rule
        if rule.kind == "status":
            decision.before = "status"
            decision.status = rule.status
            decision.body = rule.body if rule.body is not None else _default_body(rule.status)
            if rule.retry_after is not None:
                decision.headers["Retry-After"] = _seconds(rule.retry_after)
        elif rule.kind in CONNECTION_KINDS:
            decision.before = rule.kind
        elif rule.kind == "delay":
            decision.delay += rule.delay
        else:
            decision.after.append(rule)

    def _apply_random(self, decision: Decision, path: str) -> None:
        settings = self.settings
        roll = self.rng.random
        if settings.error_rate and roll() < settings.error_rate:
            decision.before = "status"
            decision.status = self.rng.choice(settings.error_statuses)
            decision.body = _default_body(decision.status)
        elif settings.drop_rate and roll() < settings.drop_rate:
            decision.before = "drop"
        elif settings.malformed_rate and roll() < settings.malformed_rate:
            decision.after.append(Rule(kind="malformed"))
        elif settings.duplicate_items:
            decision.after.append(Rule(kind="duplicate_items"))


def _seconds(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _default_body(status: int) -> dict[str, Any]:
    if status == 429:
        return dict(TOO_OFTEN)
    if status >= 500:
        return {"error": "Server error"}
    return {"error": "Rejected by the emulator's fault rule"}
