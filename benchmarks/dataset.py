"""Prefetch the benchmark dataset once, so the limits measure the very bytes the loaders see.

Every page of every list endpoint is fetched at page_length 1000 with cursor paging and kept as
three files: the raw page bodies (one per line, for L_parse), the records as NDJSON per table
(for L_sink), and the request of every page with its cursor (for L_http).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson

from benchmarks.tasks import LIST_PATHS

PREFETCH_PAGE_LENGTH = 1000


@dataclass(frozen=True)
class Dataset:
    """Paths of the prefetched files and the record counts per endpoint."""

    pages_file: Path
    requests_file: Path
    ndjson: dict[str, Path]
    counts: dict[str, int]
    pages: int
    bytes: int

    @property
    def responses(self) -> int:
        """Number of responses the API serves: the unit of every throughput figure."""
        return self.counts["responses"]


def prefetch(base_url: str, api_key: str, directory: Path) -> Dataset:
    """Fetch every page of `LIST_PATHS` into `directory` and describe what was fetched."""
    directory.mkdir(parents=True, exist_ok=True)
    pages_file = directory / "pages.jsonl"
    requests: list[dict[str, Any]] = []
    ndjson: dict[str, Path] = {}
    counts: dict[str, int] = {}
    total_bytes = 0
    headers = {"Authorization": f"Bearer {api_key}"}
    with (
        httpx.Client(base_url=base_url, headers=headers, timeout=120.0) as client,
        pages_file.open("wb") as pages_out,
    ):
        for path in LIST_PATHS:
            table = path.strip("/")
            ndjson[table] = directory / f"{table}.ndjson"
            counts[table] = 0
            params: dict[str, Any] = {"page_length": PREFETCH_PAGE_LENGTH}
            with ndjson[table].open("wb") as records_out:
                while True:
                    response = client.get(path, params=params)
                    response.raise_for_status()
                    body = response.content
                    requests.append({"path": path, "params": params})
                    pages_out.write(body.replace(b"\n", b" ") + b"\n")
                    total_bytes += len(body)
                    page = orjson.loads(body)
                    for item in page["items"]:
                        records_out.write(orjson.dumps(item) + b"\n")
                    counts[table] += len(page["items"])
                    cursor = page["pagination"].get("next_page_cursor")
                    if not cursor:
                        break
                    params = {"page_length": PREFETCH_PAGE_LENGTH, "page_cursor": cursor}
    requests_file = directory / "requests.json"
    requests_file.write_text(json.dumps(requests))
    return Dataset(pages_file, requests_file, ndjson, counts, len(requests), total_bytes)
