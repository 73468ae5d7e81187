"""`refiner watch`: the polling fallback, for accounts without webhooks and missed deliveries.

Every `every` seconds it reads completed responses whose `last_data_reception_at` is at or
after its cursor (GET /responses, newest first), turns each into the body a "Completed
Survey" webhook would carry, and appends it to the same spool as `refiner listen`, with the
same deduplication key: a response seen by both paths is stored, and acted on, once.

The cursor (the newest `last_data_reception_at` seen) is the watcher's own, kept in the
spool's `meta` table; the batch pipeline's cursor and state are never read or moved. The
first poll starts `first_lookback` back. The range start is inclusive, so the newest
response is read again by the next poll and dropped as a duplicate.
"""

from __future__ import annotations

import logging
import signal
import threading
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import msgspec

from pipelines.events.payload import Delivery, parse_body
from pipelines.events.spool import Origin, Spool

if TYPE_CHECKING:
    import sqlite3

    from pipelines.events.service import ServiceOptions
    from sources.refiner.client import RefinerClient

logger = logging.getLogger(__name__)

CURSOR = "watch.cursor"
TRIGGER = "Completed Survey"
CONTACT_KEYS = ("uuid", "remote_id", "email", "display_name", "account", "attributes")


def webhook_body(item: dict[str, Any], project_uuid: str | None) -> bytes:
    """The webhook body Refiner would send for the API response `item`."""
    embedded = item.get("contact")
    contact: dict[str, Any] = embedded if isinstance(embedded, dict) else {}
    response = {key: value for key, value in item.items() if key not in ("contact", "form")}
    body = {key: contact.get(key) for key in CONTACT_KEYS}
    body.update(
        project_uuid=project_uuid, triggered_event=TRIGGER, form=item.get("form"), response=response
    )
    return msgspec.json.encode(body)


def poll_once(
    client: RefinerClient,
    spool: Spool,
    connection: sqlite3.Connection,
    project_uuid: str | None,
    first_lookback: timedelta,
) -> int:
    """One poll; returns how many new deliveries it spooled. The cursor moves after they
    are committed."""
    stored = spool.get_meta(connection, CURSOR)
    since = stored or (datetime.now(UTC) - first_lookback).isoformat()
    params = {"include": "completed", "date_range_start": since}
    items = [item for page in client.iter_pages("responses", params) for item in page.items]
    bodies = [webhook_body(item, project_uuid) for item in items]
    batch: list[tuple[Delivery, bytes, Origin]] = [(parse_body(b), b, "watch") for b in bodies]
    added = spool.append(connection, batch) if batch else []
    times = [d.payload.response.last_data_reception_at for d, _, _ in batch if d.payload.response]
    newest = max((time for time in times if time is not None), default=None)
    if newest is not None:
        spool.set_meta(connection, CURSOR, newest.astimezone(UTC).isoformat())
    return sum(added)


def run_watch(
    options: ServiceOptions,
    every_seconds: float,
    *,
    first_lookback: timedelta = timedelta(hours=1),
    announce: Any = logger.warning,
) -> int:
    """Poll until SIGTERM/SIGINT; returns how many new deliveries were spooled."""
    from pipelines.config import make_client, resolve_api_settings
    from pipelines.events.service import EventsService

    settings = resolve_api_settings()
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    total = 0
    with EventsService(options) as service, make_client(settings) as client:
        project_uuid = client.verify().get("project_uuid")
        announce(f"refiner watch: polling every {every_seconds:g}s ({len(service.rules)} rules)")
        with service.spool.connection() as connection:
            while not stop.is_set():
                try:
                    total += poll_once(
                        client, service.spool, connection, project_uuid, first_lookback
                    )
                except Exception as error:
                    logger.warning("poll failed (%s); trying again next time", type(error).__name__)
                stop.wait(every_seconds)
    return total
