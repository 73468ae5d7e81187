"""Measured tasks, each run in its own interpreter: `python -m benchmarks.tasks NAME CONFIG_JSON`.

Every task does its set-up (imports, reading input files) before the clock starts, times only
the work being compared, and prints one JSON line: `seconds`, counts, and its own `ru_maxrss`.
Tasks that need refiner-dlt import it lazily, so the limits and peers run on any checkout.
"""

from __future__ import annotations

import cProfile
import json
import resource
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

Task = Callable[[dict[str, Any]], dict[str, Any]]
TASKS: dict[str, Task] = {}

# The two list endpoints every peer loads; contacts are a third of responses in every dataset.
LIST_PATHS = ("/responses", "/contacts")


def task(fn: Task) -> Task:
    """Register `fn` under its name."""
    TASKS[fn.__name__] = fn
    return fn


def _timed(fn: Callable[[], Any], profile_path: str | None) -> tuple[float, Any]:
    profiler = cProfile.Profile() if profile_path else None
    started = time.perf_counter()
    if profiler:
        profiler.enable()
    result = fn()
    if profiler:
        profiler.disable()
    seconds = time.perf_counter() - started
    if profiler and profile_path:
        profiler.dump_stats(profile_path)
    return seconds, result


def _read_lines(path: str) -> list[bytes]:
    return Path(path).read_bytes().splitlines()


@task
def parse(config: dict[str, Any]) -> dict[str, Any]:
    """L_parse: orjson over the bytes of every prefetched page."""
    import orjson

    pages = _read_lines(config["pages_file"])

    def work() -> int:
        return sum(len(orjson.loads(page)["items"]) for page in pages)

    seconds, items = _timed(work, config.get("profile"))
    return {"seconds": seconds, "items": items, "pages": len(pages)}


@task
def sink(config: dict[str, Any]) -> dict[str, Any]:
    """L_sink: DuckDB `read_json` of the same records, written as NDJSON, into a fresh file."""
    import duckdb

    con = duckdb.connect(config["database"])

    def work() -> int:
        rows = 0
        for table, path in config["ndjson"].items():
            con.execute(
                f'CREATE TABLE "{table}" AS SELECT * FROM read_json(?, format = '
                "'newline_delimited')",
                [path],
            )
            rows += con.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0]  # type: ignore[index]
        con.close()
        return rows

    seconds, rows = _timed(work, config.get("profile"))
    return {"seconds": seconds, "items": rows}


@task
def http(config: dict[str, Any]) -> dict[str, Any]:
    """L_http: fetch every page (URLs known in advance) with httpx, `concurrency` at once."""
    import httpx

    requests = json.loads(Path(config["requests_file"]).read_text())
    headers = {"Authorization": f"Bearer {config['api_key']}", "Accept": "application/json"}
    concurrency = int(config["concurrency"])
    client = httpx.Client(
        base_url=config["base_url"],
        headers=headers,
        timeout=60.0,
        limits=httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency),
    )

    def fetch(request: dict[str, Any]) -> int:
        response = client.get(request["path"], params=request["params"])
        response.raise_for_status()
        return len(response.content)

    def work() -> int:
        with ThreadPoolExecutor(concurrency) as pool:
            return sum(pool.map(fetch, requests))

    seconds, size = _timed(work, config.get("profile"))
    client.close()
    return {"seconds": seconds, "requests": len(requests), "bytes": size}


def _iter_cursor_pages(
    get: Callable[[str, dict[str, Any]], dict[str, Any]], path: str, page_length: int
) -> Iterator[list[dict[str, Any]]]:
    params: dict[str, Any] = {"page_length": page_length}
    while True:
        body = get(path, params)
        yield body["items"]
        cursor = body["pagination"].get("next_page_cursor")
        if not cursor:
            return
        params = {"page_length": page_length, "page_cursor": cursor}


@task
def naive(config: dict[str, Any]) -> dict[str, Any]:
    """The public Fivetran Refiner example's approach, as one script.

    Sequential `requests` calls at page_length 100 (its `__PAGE_SIZE`) with cursor paging,
    lists serialised to JSON text (its `flatten_dict`), pandas `json_normalize` to flatten,
    then one DuckDB insert per table from the DataFrame.
    """
    import duckdb
    import pandas as pd
    import requests

    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {config['api_key']}"
    base_url = config["base_url"]

    def get(path: str, params: dict[str, Any]) -> dict[str, Any]:
        response = session.get(base_url + path, params=params, timeout=30)
        response.raise_for_status()
        body: dict[str, Any] = response.json()
        return body

    def lists_to_json(frame: pd.DataFrame) -> pd.DataFrame:
        for column in frame.columns[frame.dtypes.map(lambda d: d.kind == "O")]:
            frame[column] = frame[column].map(
                lambda v: json.dumps(v) if isinstance(v, list | dict) else v
            )
        return frame

    con = duckdb.connect(config["database"])

    def work() -> int:
        rows = 0
        for path in LIST_PATHS:
            items = [i for page in _iter_cursor_pages(get, path, 100) for i in page]
            frame = lists_to_json(pd.json_normalize(items, sep="_"))
            con.register("frame", frame)
            con.execute(f'CREATE TABLE "{path.strip("/")}" AS SELECT * FROM frame')
            con.unregister("frame")
            rows += len(frame)
        con.close()
        return rows

    seconds, rows = _timed(work, config.get("profile"))
    return {"seconds": seconds, "items": rows}


@task
def dlt_default(config: dict[str, Any]) -> dict[str, Any]:
    """A plain dlt resource per endpoint yielding the raw JSON items, dlt defaults throughout.

    Pages are read with dlt's own REST client and cursor paginator at page_length 1000; dlt's
    JSON normalizer unnests the items and the default `insert_values` loader writes DuckDB.
    Run from a directory without `.dlt/`, so no project settings apply.
    """
    import dlt
    from dlt.sources.helpers.rest_client import RESTClient
    from dlt.sources.helpers.rest_client.auth import BearerTokenAuth
    from dlt.sources.helpers.rest_client.paginators import JSONResponseCursorPaginator

    client = RESTClient(
        base_url=config["base_url"],
        auth=BearerTokenAuth(config["api_key"]),
        data_selector="items",
    )

    def endpoint(path: str) -> Any:
        @dlt.resource(name=path.strip("/"))
        def items() -> Iterator[list[dict[str, Any]]]:
            paginator = JSONResponseCursorPaginator(
                cursor_path="pagination.next_page_cursor", cursor_param="page_cursor"
            )
            yield from client.paginate(path, params={"page_length": 1000}, paginator=paginator)

        return items

    pipeline = dlt.pipeline(
        pipeline_name="dlt_default",
        destination=dlt.destinations.duckdb(config["database"]),
        dataset_name="refiner",
        pipelines_dir=config["pipelines_dir"],
    )

    def work() -> Any:
        return pipeline.run([endpoint(path) for path in LIST_PATHS])

    seconds, _ = _timed(work, config.get("profile"))
    return {"seconds": seconds}


@task
def refiner_load(config: dict[str, Any]) -> dict[str, Any]:
    """refiner-dlt: `pipelines.load.run_load` of `resources` (None: all) into a DuckDB file.

    Run from the repository, so the project's `.dlt/config.toml` applies as it does for users;
    `requests_per_minute`, when given, overrides it through the environment. dlt and the source
    are imported before the clock starts, as the peers import theirs.
    """
    import importlib
    import os

    if config.get("requests_per_minute"):
        os.environ["SOURCES__REFINER__REQUESTS_PER_MINUTE"] = str(config["requests_per_minute"])
    from pipelines.load.run import run_load

    importlib.import_module("sources.refiner.source")

    def work() -> Any:
        return run_load(
            resources=config.get("resources"),
            duckdb_path=config["database"],
            pipelines_dir=config["pipelines_dir"],
            api_key=config["api_key"],
            base_url=config["base_url"],
        )

    seconds, summary = _timed(work, config.get("profile"))
    return {
        "seconds": seconds,
        "requests": summary.requests,
        "rows": summary.rows,
        "steps": _step_seconds(summary.pipeline_name, config["pipelines_dir"]),
    }


def _step_seconds(pipeline_name: str, pipelines_dir: str) -> dict[str, float]:
    """Seconds spent in each dlt step (extract, normalize, load) of the pipeline's last run."""
    import dlt

    trace = dlt.attach(pipeline_name=pipeline_name, pipelines_dir=pipelines_dir).last_trace
    steps: dict[str, float] = {}
    for step in trace.steps if trace else []:
        if step.finished_at is not None and step.step != "run":
            elapsed = (step.finished_at - step.started_at).total_seconds()
            steps[step.step] = round(steps.get(step.step, 0.0) + elapsed, 3)
    return steps


def _trait_sync(config: dict[str, Any]) -> tuple[Any, Any, Any]:
    from pipelines.sync.input import SyncInput
    from pipelines.sync.runs import TraitOptions, WarehouseTarget

    target = WarehouseTarget("duckdb", config["database"], config["dataset"])
    source = SyncInput(table=f"{config['schema']}.{config['table']}")
    options = TraitOptions(sync_name=config["sync_name"], exclude=("n",))
    return target, source, options


@task
def reverse_setup(config: dict[str, Any]) -> dict[str, Any]:
    """A DuckDB table of `rows` contacts with five traits, all already accepted by Refiner.

    The reverse sync's own diff plans every row as new; their payload hashes are written
    straight into its state table, as a completed push would leave them, without requests.
    """
    import duckdb
    import pyarrow as pa

    from pipelines.sync.runs import prepare_traits
    from pipelines.sync.state import STATE_TABLE, SyncStore

    con = duckdb.connect(config["database"])
    con.execute(f"CREATE SCHEMA {config['schema']}")
    con.execute(
        f"CREATE TABLE {config['schema']}.{config['table']} AS SELECT i AS n, "
        "'bench-user-' || i AS remote_id, CASE WHEN i % 3 = 0 THEN 'pro' ELSE 'free' END AS plan,"
        " (i % 50)::INTEGER AS seats, (i % 11)::DOUBLE AS nps_score,"
        " TIMESTAMPTZ '2024-05-01 00:00:00+00' + to_seconds(i) AS last_active_at,"
        " md5(i::VARCHAR) AS segment_hint FROM range(?) t(i)",
        [int(config["rows"])],
    )
    con.close()
    target, source, options = _trait_sync(config)
    plan = prepare_traits(target, source, options)
    warehouse = target.open(read_only=False)
    SyncStore(warehouse, config["dataset"]).ensure_tables()
    warehouse.close()
    state = pa.table(
        {
            "identifier_type": [r.identifier_type for r in plan.to_send],
            "identifier": [r.identifier for r in plan.to_send],
            "payload_hash": [r.payload_hash for r in plan.to_send],
        }
    )
    con = duckdb.connect(config["database"])
    con.register("state", state)
    con.execute(
        f"INSERT INTO {config['dataset']}.{STATE_TABLE} SELECT ?, identifier_type, identifier, "
        "payload_hash, 'benchmark-seed', now() FROM state",
        [config["sync_name"]],
    )
    con.close()
    return {"seconds": 0.0, "accepted": len(plan.to_send)}


@task
def reverse_change(config: dict[str, Any]) -> dict[str, Any]:
    """Change one trait on the first `rows` contacts of the benchmark table."""
    import duckdb

    con = duckdb.connect(config["database"])
    con.execute(
        f"UPDATE {config['schema']}.{config['table']} SET nps_score = nps_score + 100 WHERE n < ?",
        [int(config["rows"])],
    )
    con.close()
    return {"seconds": 0.0, "changed": int(config["rows"])}


@task
def reverse_diff(config: dict[str, Any]) -> dict[str, Any]:
    """The reverse sync's diff (`prepare_traits`): read the rows and the state, plan."""
    from pipelines.sync.runs import prepare_traits

    target, source, options = _trait_sync(config)
    seconds, plan = _timed(lambda: prepare_traits(target, source, options), config.get("profile"))
    return {"seconds": seconds, "to_send": len(plan.to_send), "unchanged": plan.unchanged}


@task
def reverse_push(config: dict[str, Any]) -> dict[str, Any]:
    """Diff then push the changed rows (`prepare_traits` + `execute`) at R req/s."""
    from pipelines.config import make_client, resolve_api_settings
    from pipelines.sync.runs import execute, prepare_traits

    target, source, options = _trait_sync(config)
    settings = resolve_api_settings(config["api_key"], config["base_url"])
    client = make_client(settings, requests_per_minute=float(config["rate"]) * 60)

    def work() -> Any:
        plan = prepare_traits(target, source, options)
        with client:
            return execute(target, plan, client, workers=int(config["workers"]))

    seconds, report = _timed(work, config.get("profile"))
    return {"seconds": seconds, "sent": report.sent, "failed": report.failed}


def main(argv: list[str]) -> int:
    """Run the task named in argv[1] with the JSON config in argv[2]; print its report."""
    name, config = argv[1], json.loads(argv[2])
    report = TASKS[name](config)
    report["ru_maxrss_self_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    report["ru_maxrss_children_mb"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    sys.stdout.write(json.dumps(report) + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
