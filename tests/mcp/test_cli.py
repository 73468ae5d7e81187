"""`refiner mcp` as a process: a stdio round trip, streamable HTTP with a bearer token, and
the refusals that happen before anything is served."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

from emulator import Emulator
from tests.mcp.helpers import (
    CLIENT_INFO,
    READS,
    SENTINEL_KEY,
    SENTINEL_TOKEN,
    WAREHOUSE,
    audit_lines,
    make_warehouse,
)
from tests.ports import free_port

ROOT = Path(__file__).resolve().parents[2]


def _env(api: Emulator, **extra: str) -> dict[str, str]:
    return {
        "PYTHONPATH": str(ROOT),
        "SOURCES__REFINER__API_KEY": SENTINEL_KEY,
        "SOURCES__REFINER__BASE_URL": api.base_url,
        "SOURCES__REFINER__MCP_TOKEN": SENTINEL_TOKEN,
        **extra,
    }


def _refiner(*args: str) -> list[str]:
    return [sys.executable, "-m", "pipelines.cli", *args]


async def _stdio_session(
    params: StdioServerParameters, errlog: Path, warehouse_sql: str
) -> dict[str, Any]:
    with errlog.open("w") as err:
        async with Client(stdio_client(params, errlog=err), client_info=CLIENT_INFO) as client:
            tools = (await client.list_tools()).tools
            page = await client.call_tool("get_contacts", {"page_length": 3})
            query = await client.call_tool("query_warehouse", {"sql": warehouse_sql})
            write = await client.call_tool("track_event", {"event": "x", "id": "u1"})
    return {"tools": tools, "page": page, "query": query, "write": write}


def test_stdio_round_trip(api: Emulator, tmp_path: Path) -> None:
    warehouse = make_warehouse(tmp_path / "refiner.duckdb")
    audit = tmp_path / "audit.jsonl"
    errlog = tmp_path / "stderr.txt"
    command = _refiner("--debug", "mcp", "--audit-log", str(audit), "--duckdb-path", str(warehouse))
    params = StdioServerParameters(
        command=command[0], args=command[1:], env=_env(api), cwd=str(tmp_path)
    )
    session = anyio.run(
        _stdio_session, params, errlog, "SELECT count(*) AS n FROM refiner_raw.responses"
    )
    assert {tool.name for tool in session["tools"]} == READS | WAREHOUSE
    assert len(session["tools"]) == 9
    assert len(session["page"].structured_content["items"]) == 3
    assert session["page"].structured_content["next_cursor"]
    assert session["query"].structured_content["rows"] == [[50]]
    assert session["write"].is_error
    assert [e.path for e in api.request_log.entries()] == ["/contacts"]
    lines = audit_lines(audit)
    assert [(line["tool"], line["outcome"]) for line in lines] == [
        ("get_contacts", "ok"),
        ("query_warehouse", "ok"),
        ("track_event", "refused"),
    ]
    assert {line["client_name"] for line in lines} == {CLIENT_INFO.name}
    assert "GET http://127.0.0.1" in errlog.read_text()
    outputs = [audit.read_text(), errlog.read_text()] + [
        result.model_dump_json() for key, result in session.items() if key != "tools"
    ]
    for text in outputs:
        assert SENTINEL_KEY not in text and SENTINEL_TOKEN not in text


async def _list_tool_names(params: StdioServerParameters) -> set[str]:
    async with Client(params) as client:
        return {tool.name for tool in (await client.list_tools()).tools}


def test_stdio_all_scopes_lists_twelve(api: Emulator, tmp_path: Path) -> None:
    command = _refiner("mcp", "--allow", "read,write,delete", "--audit-log", "a.jsonl")
    params = StdioServerParameters(
        command=command[0], args=command[1:], env=_env(api), cwd=str(tmp_path)
    )
    names = anyio.run(_list_tool_names, params)
    assert len(names) == 12 and {"update_contact", "track_event", "delete_contact"} <= names


@pytest.fixture
def http_server(api: Emulator, tmp_path: Path) -> Iterator[tuple[str, Path, Path]]:
    """`refiner mcp --http` on a free loopback port; yields its URL, audit log and stderr."""
    port = free_port()
    audit = tmp_path / "audit.jsonl"
    errlog = tmp_path / "stderr.txt"
    command = _refiner(
        "mcp",
        "--http",
        "--port",
        str(port),
        "--allow",
        "read,write,delete",
        "--audit-log",
        str(audit),
    )
    with errlog.open("w") as err:
        process = subprocess.Popen(
            command, env={**os.environ, **_env(api)}, cwd=tmp_path, stderr=err
        )
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    if httpx.get(f"{base}/health").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert process.poll() is None and time.monotonic() < deadline, errlog.read_text()
                time.sleep(0.1)
            yield f"{base}/mcp", audit, errlog
        finally:
            process.send_signal(signal.SIGTERM)
            # uvicorn shuts down gracefully, then re-raises the signal it caught.
            assert process.wait(timeout=20) in (0, -signal.SIGTERM)


async def _http_session(url: str, token: str) -> tuple[set[str], Any]:
    headers = {"Authorization": f"Bearer {token}"}
    async with (
        create_mcp_http_client(headers=headers) as http,
        Client(streamable_http_client(url, http_client=http)) as client,
    ):
        names = {tool.name for tool in (await client.list_tools()).tools}
        return names, await client.call_tool("get_segments", {"page_length": 2})


def test_http_requires_the_bearer_token(api: Emulator, http_server: tuple[str, Path, Path]) -> None:
    url, audit, errlog = http_server
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}
    accept = {"Accept": "application/json, text/event-stream"}
    assert httpx.post(url, json=body, headers=accept).status_code == 401
    wrong = {**accept, "Authorization": f"Bearer {SENTINEL_TOKEN}x"}
    assert httpx.post(url, json=body, headers=wrong).status_code == 401
    names, segments = anyio.run(_http_session, url, SENTINEL_TOKEN)
    assert len(names) == 12
    assert len(segments.structured_content["items"]) == 2
    assert [line["tool"] for line in audit_lines(audit)] == ["get_segments"]
    for text in (audit.read_text(), errlog.read_text(), segments.model_dump_json()):
        assert SENTINEL_KEY not in text and SENTINEL_TOKEN not in text


@pytest.mark.parametrize(
    ("args", "unset", "message"),
    [
        (("--http",), "SOURCES__REFINER__MCP_TOKEN", "needs a bearer token on loopback"),
        (
            ("--http", "--host", "0.0.0.0"),
            "SOURCES__REFINER__MCP_TOKEN",
            "non-loopback host 0.0.0.0",
        ),
        (("--allow", "read,admin"), "", "unknown scope admin"),
        ((), "SOURCES__REFINER__API_KEY", "No Refiner API key found"),
    ],
)
def test_refuses_to_start(
    api: Emulator, tmp_path: Path, args: tuple[str, ...], unset: str, message: str
) -> None:
    env = {k: v for k, v in {**os.environ, **_env(api)}.items() if k != unset}
    done = subprocess.run(
        _refiner("mcp", *args), env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2, done.stderr
    assert message in done.stderr and done.stdout == ""
    assert len(done.stderr.strip().splitlines()) == 1


def test_mcp_is_not_imported_by_the_cli_entry_point() -> None:
    probe = (
        "import sys, pipelines.cli.app; print(sorted(m for m in sys.modules "
        "if m == 'mcp' or m.startswith(('mcp.', 'pipelines.mcp'))))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe],
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.strip() == "[]"
