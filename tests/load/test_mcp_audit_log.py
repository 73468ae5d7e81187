"""`refiner load` copies the MCP server's audit log into `mcp_audit_log`, once per call."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path

from emulator import Emulator
from pipelines.mcp.audit import AuditLog
from tests.load.helpers import Warehouse, assert_no_duplicate_keys, duckdb_warehouse, load


def _call(log: AuditLog, tool: str, outcome: str) -> str:
    call_id = str(uuid.uuid4())
    log.write(
        {
            "time": datetime.now(UTC).isoformat(),
            "call_id": call_id,
            "client_name": "pytest-agent",
            "client_version": "1.0",
            "tool": tool,
            "arguments": {"sql": "select 1"},
            "outcome": outcome,
            "error": None,
            "duration_ms": 1.5,
            "result_chars": 10,
        }
    )
    return call_id


def _logged(warehouse: Warehouse) -> dict[str, tuple[str, str]]:
    rows = warehouse.query("select call_id, tool, outcome from {ds}.mcp_audit_log")
    return {row[0]: (row[1], row[2]) for row in rows}


def test_a_full_load_copies_each_audit_line_once(load_emulator: Emulator, tmp_path: Path) -> None:
    audit = tmp_path / "audit.jsonl"
    log = AuditLog(audit)
    first = _call(log, "query_warehouse", "ok")
    refused = _call(log, "delete_contact", "refused")
    warehouse = duckdb_warehouse(tmp_path)
    pipelines_dir = tmp_path / "pipelines"

    load(load_emulator, warehouse, pipelines_dir, mcp_audit_log=audit)
    assert _logged(warehouse) == {
        first: ("query_warehouse", "ok"),
        refused: ("delete_contact", "refused"),
    }

    load(load_emulator, warehouse, pipelines_dir, mcp_audit_log=audit)
    assert len(_logged(warehouse)) == 2

    later = _call(log, "get_forms", "failed")
    load(load_emulator, warehouse, pipelines_dir, mcp_audit_log=audit)
    assert _logged(warehouse)[later] == ("get_forms", "failed")
    assert len(_logged(warehouse)) == 3
    assert_no_duplicate_keys(warehouse)
    warehouse.close()


def test_a_load_of_chosen_resources_leaves_the_audit_log_alone(
    load_emulator: Emulator, tmp_path: Path
) -> None:
    audit = tmp_path / "audit.jsonl"
    _call(AuditLog(audit), "get_contacts", "ok")
    warehouse = duckdb_warehouse(tmp_path)

    load(
        load_emulator,
        warehouse,
        tmp_path / "pipelines",
        "--resources",
        "forms",
        mcp_audit_log=audit,
    )
    assert "mcp_audit_log" not in warehouse.tables()
    assert "forms" in warehouse.tables()
    warehouse.close()
