"""The audit log: one line per call, whatever its outcome, and never a secret."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from emulator import Emulator
from pipelines.mcp.audit import AuditLog
from tests.mcp.helpers import (
    CLIENT_INFO,
    SENTINEL_KEY,
    SENTINEL_TOKEN,
    MakeServer,
    audit_lines,
    call,
    error_text,
    make_warehouse,
)


def test_every_call_leaves_one_line(
    api: Emulator, make_server: MakeServer, audit_path: Path, tmp_path: Path
) -> None:
    warehouse = make_warehouse(tmp_path / "refiner.duckdb")
    server = make_server(allow="read,delete", duckdb_path=warehouse)
    person = next(iter(api.store.contact_records.values()))
    calls = [
        ("get_contacts", {"page_length": 3}, "ok"),
        ("get_contact", {"id": "nobody"}, "failed"),
        ("get_contacts", {"page_length": 0}, "failed"),
        ("update_contact", {"id": "x", "traits": {"plan": "pro"}}, "refused"),
        ("delete_contact", {"uuid": person.uuid}, "refused"),
        ("query_warehouse", {"sql": "SELECT count(*) FROM refiner_raw.responses"}, "ok"),
        ("query_warehouse", {"sql": "DROP TABLE refiner_raw.responses"}, "refused"),
        ("query_warehouse", {"sql": "SELECT nope FROM refiner_raw.responses"}, "failed"),
        ("no_such_tool", {}, "failed"),
    ]
    results = [call(server, tool, **arguments) for tool, arguments, _ in calls]
    lines = audit_lines(audit_path)
    assert [(line["tool"], line["arguments"], line["outcome"]) for line in lines] == calls
    for line, result in zip(lines, results, strict=True):
        assert (line["client_name"], line["client_version"]) == (
            CLIENT_INFO.name,
            CLIENT_INFO.version,
        )
        assert datetime.fromisoformat(line["time"]).tzinfo is not None
        assert line["duration_ms"] >= 0 and line["result_chars"] > 0
        assert len(line["call_id"]) == 36
        if line["outcome"] == "ok":
            assert line["error"] is None and not result.is_error
        else:
            assert result.is_error and line["error"] == " ".join(error_text(result).split())
    assert len({line["call_id"] for line in lines}) == len(lines)


def test_secrets_never_reach_the_log_or_the_results(
    api: Emulator, make_server: MakeServer, audit_path: Path, tmp_path: Path
) -> None:
    warehouse = make_warehouse(tmp_path / "refiner.duckdb")
    server = make_server(allow="read,write", duckdb_path=warehouse)
    results = [
        call(server, "get_contacts", search=SENTINEL_KEY),
        call(
            server, "update_contact", id="agent-1", traits={"api_token": "hunter2", "plan": "pro"}
        ),
        call(server, "query_warehouse", sql=f"SELECT '{SENTINEL_TOKEN}' AS leaked"),
        call(server, "get_contact", email=f"{SENTINEL_KEY}@example.com"),
    ]
    log = audit_path.read_text()
    assert SENTINEL_KEY not in log and SENTINEL_TOKEN not in log and "hunter2" not in log
    lines = audit_lines(audit_path)
    assert lines[0]["arguments"] == {"search": "***"}
    assert lines[1]["arguments"]["traits"] == {"api_token": "***", "plan": "pro"}
    assert lines[2]["arguments"] == {"sql": "SELECT '***' AS leaked"}
    assert "email=***%40example.com" in error_text(results[3])
    for result in results:
        dumped = result.model_dump_json()
        assert SENTINEL_KEY not in dumped and SENTINEL_TOKEN not in dumped
    for entry in api.request_log.entries():
        assert SENTINEL_KEY not in str(entry.headers)


def test_redaction_keeps_sql_and_shapes(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "a" / "b.jsonl", secrets=["s3cret", None, "", "t/k n"])
    assert log.mask("a=t%2Fk%20n&b=t%2Fk+n") == "a=***&b=***"
    assert log.redact({"sql": "SELECT 1 -- s3cret", "password": 5, "rows": [1, "xs3cretx"]}) == {
        "sql": "SELECT 1 -- ***",
        "password": "***",
        "rows": [1, "x***x"],
    }
    log.write({"tool": "t", "arguments": {"Authorization": "Bearer abc"}})
    assert audit_lines(log.path) == [{"tool": "t", "arguments": {"Authorization": "***"}}]
