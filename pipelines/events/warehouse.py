"""The receiver's own dlt pipeline: spooled deliveries appended to `webhook_*` tables.

Its pipeline name (`refiner_events_<destination>_<digest>`), schema (`refiner_webhooks`)
and working folder (beside the spool) are its own, so the batch pipeline's state, cursors
and schema are never touched. Every table is append-only; dbt staging unions them with the
batch tables and keeps the newest version of each response and contact.

| Table | Grain | Built by |
| --- | --- | --- |
| `webhook_events` | one row per distinct delivery | parsed keys, raw body (`payload`) |
| `webhook_responses` | one row per delivery with a response | `reshape_responses`, as `responses` |
| `webhook_response_answers` | one row per delivery, question, position | as `response_answers` |
| `webhook_contacts` | one row per delivery | `reshape_contacts`, as `contacts` |
| `webhook_actions` | one row per action outcome | the spool's action log |

Each row carries `delivery_id`, and `spooled_at`, when the delivery was spooled, which
orders two versions with the same Refiner timestamps.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from pipelines.defaults import DEFAULT_DATASET
from pipelines.events.payload import contact_item, parse_body, response_item
from pipelines.events.spool import ActionRecord, SpooledDelivery
from pipelines.load.destinations import postgres_safe_text
from pipelines.load.steps import quiet_expected_notices
from pipelines.warehouse_lock import duckdb_file, writer_turn

if TYPE_CHECKING:
    import pyarrow as pa
    from dlt import Pipeline
    from dlt.common.destination import TLoaderFileFormat
    from dlt.common.schema.typing import TTableSchemaColumns

logger = logging.getLogger(__name__)

SCHEMA_NAME = "refiner_webhooks"
PIPELINE_PREFIX = "refiner_events"
FILE_FORMATS: Final[dict[str, TLoaderFileFormat]] = {
    "duckdb": "parquet",
    "postgres": "insert_values",
}
JSON_COLUMNS = {
    "webhook_responses": ("data", "tags"),
    "webhook_contacts": ("attributes", "account_attributes"),
}
"""Typed as the batch source types them, so staging can union the two."""


@dataclass(frozen=True)
class WarehouseTarget:
    """Where the flusher writes: `destination` (duckdb or postgres), `dataset`, and for
    DuckDB the file, which is locked for each flush (pipelines/warehouse_lock.py)."""

    destination: str = "duckdb"
    dataset: str = DEFAULT_DATASET
    duckdb_path: Path | None = None

    @classmethod
    def resolve(
        cls, destination: str, dataset: str = DEFAULT_DATASET, duckdb_path: str | None = None
    ) -> WarehouseTarget:
        path = duckdb_file(duckdb_path) if destination == "duckdb" else None
        return cls(destination, dataset, path)


class EventsWarehouse:
    """Appends batches of deliveries and action outcomes through the events pipeline."""

    def __init__(self, target: WarehouseTarget, working_dir: Path) -> None:
        self.target = target
        self._working_dir = working_dir
        self._pipeline: Pipeline | None = None

    def write(
        self, deliveries: Sequence[SpooledDelivery], outcomes: Sequence[ActionRecord]
    ) -> None:
        """Append one micro-batch. DuckDB: raises WarehouseBusy when another process holds
        the file, before anything is written."""
        tables = delivery_tables(deliveries) | outcome_tables(outcomes)
        tables = {name: table for name, table in tables.items() if table.num_rows}
        if not tables:
            return
        if self.target.duckdb_path is None:
            self._run(tables)
            return
        with writer_turn(self.target.duckdb_path, wait=False):
            self._run(tables)

    def _run(self, tables: dict[str, pa.Table]) -> None:
        import dlt

        pipeline = self._get_pipeline()
        file_format = FILE_FORMATS.get(self.target.destination)
        resources = []
        for name, table in tables.items():
            if self.target.destination == "postgres":
                table = _postgres_safe(table)
            columns: TTableSchemaColumns = {
                column: {"data_type": "json"} for column in JSON_COLUMNS.get(name, ())
            }
            resource = dlt.resource([table], name=name, write_disposition="append", columns=columns)
            if file_format is not None:
                resource.apply_hints(file_format=file_format)
            resources.append(resource)
        if pipeline.has_pending_data:
            # dlt would skip new data while an earlier package is pending: finish that first.
            pipeline.load().raise_on_failed_jobs()
        info = pipeline.run(resources, schema=dlt.Schema(SCHEMA_NAME))
        info.raise_on_failed_jobs()

    def _get_pipeline(self) -> Pipeline:
        if self._pipeline is None:
            self._pipeline = _pipeline(self.target, self._working_dir)
        return self._pipeline


def _postgres_safe(table: pa.Table) -> pa.Table:
    """PostgreSQL cannot store U+0000 (postgres_safe_text). The raw `payload` is left as it
    is: strict JSON has no raw U+0000, and its escaped form is plain text."""
    if "payload" not in table.column_names:
        return postgres_safe_text(table)
    index = table.column_names.index("payload")
    cleaned = postgres_safe_text(table.remove_column(index))
    return cleaned.add_column(index, table.field(index), table.column(index))


def _pipeline(target: WarehouseTarget, working_dir: Path) -> Pipeline:
    import dlt

    quiet_expected_notices()
    dlt.config["normalize.parquet_normalizer.add_dlt_load_id"] = True
    dlt.config["normalize.parquet_normalizer.add_dlt_id"] = False
    if target.duckdb_path is not None:
        destination: Any = dlt.destinations.duckdb(credentials=str(target.duckdb_path))
        location = str(target.duckdb_path)
    else:
        destination = target.destination
        location = target.destination
    digest = hashlib.sha1(f"{target.destination}|{location}|{target.dataset}".encode())
    return dlt.pipeline(
        pipeline_name=f"{PIPELINE_PREFIX}_{target.destination}_{digest.hexdigest()[:10]}",
        destination=destination,
        dataset_name=target.dataset,
        pipelines_dir=str(working_dir),
    )


def delivery_tables(deliveries: Sequence[SpooledDelivery]) -> dict[str, pa.Table]:
    """The `webhook_*` rows of `deliveries`, reshaped as the batch reshapes API pages."""
    import pyarrow as pa

    from sources.refiner.reshape import reshape_contacts, reshape_responses, utc_timestamps

    parsed = [parse_body(spooled.body) for spooled in deliveries]
    ids = pa.array([spooled.delivery_id for spooled in deliveries], pa.string())
    spooled = utc_timestamps([s.received_at for s in deliveries])
    events = pa.table(
        {
            "delivery_id": ids,
            "delivery_key": pa.array([s.delivery_key for s in deliveries], pa.string()),
            "origin": pa.array([s.origin for s in deliveries], pa.string()),
            "spooled_at": spooled,
            "triggered_event": pa.array([d.payload.triggered_event for d in parsed], pa.string()),
            "project_uuid": pa.array([d.payload.project_uuid for d in parsed], pa.string()),
            "contact_uuid": pa.array([d.payload.uuid for d in parsed], pa.string()),
            "form_uuid": pa.array([_form_uuid(d.raw) for d in parsed], pa.string()),
            "response_uuid": pa.array(
                [d.payload.response.uuid if d.payload.response else None for d in parsed],
                pa.string(),
            ),
            "payload": pa.array([s.body.decode() for s in deliveries], pa.string()),
        }
    )
    indexed = [(row, item) for row, d in enumerate(parsed) if (item := response_item(d.raw))]
    rows = pa.array([row for row, _ in indexed], pa.int64())
    responses = reshape_responses([item for _, item in indexed])
    response_ids = ids.take(rows)
    contacts = reshape_contacts([contact_item(d.raw) for d in parsed])
    return {
        "webhook_events": events,
        "webhook_responses": responses.responses.append_column(
            "delivery_id", response_ids
        ).append_column("spooled_at", spooled.take(rows)),
        "webhook_response_answers": responses.answers.append_column(
            "delivery_id", response_ids.take(responses.answer_rows)
        ),
        "webhook_contacts": contacts.contacts.append_column("delivery_id", ids).append_column(
            "spooled_at", spooled
        ),
        "webhook_contact_attributes": contacts.attributes.append_column(
            "delivery_id", ids.take(contacts.attribute_rows)
        ),
    }


def _form_uuid(raw: dict[str, Any]) -> str | None:
    form = raw.get("form")
    uuid = form.get("uuid") if isinstance(form, dict) else None
    return uuid if isinstance(uuid, str) else None


def outcome_tables(outcomes: Sequence[ActionRecord]) -> dict[str, pa.Table]:
    """The `webhook_actions` rows of `outcomes` (finished actions: done or dead)."""
    import pyarrow as pa

    from sources.refiner.reshape import utc_timestamps

    return {
        "webhook_actions": pa.table(
            {
                "delivery_id": pa.array([a.delivery_id for a in outcomes], pa.string()),
                "rule": pa.array([a.rule for a in outcomes], pa.string()),
                "action_index": pa.array([a.action_index for a in outcomes], pa.int64()),
                "action_type": pa.array([a.action_type for a in outcomes], pa.string()),
                "status": pa.array([a.status for a in outcomes], pa.string()),
                "attempts": pa.array([a.attempts for a in outcomes], pa.int64()),
                "last_error": pa.array([a.last_error for a in outcomes], pa.string()),
                "finished_at": utc_timestamps([a.finished_at for a in outcomes]),
            }
        )
    }
