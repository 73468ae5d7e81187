"""Warehouse helpers shared by the test suites: fresh PostgreSQL databases and DuckDB paths.

PostgreSQL tests run only when REFINER_TEST_POSTGRES holds an admin URL for the server that
`.ci/run` starts (postgresql://postgres:postgres@127.0.0.1:5432/postgres).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import pytest

POSTGRES_ENV = "REFINER_TEST_POSTGRES"

requires_postgres = pytest.mark.skipif(
    not os.environ.get(POSTGRES_ENV),
    reason=f"set {POSTGRES_ENV} to a PostgreSQL admin URL (bash scripts/postgres-up starts one)",
)


@dataclass(frozen=True)
class PostgresDatabase:
    """A throwaway database; `url` is a libpq URL with a password, as dlt requires."""

    name: str
    url: str
    host: str
    port: int
    user: str
    password: str


@contextmanager
def fresh_postgres_database() -> Iterator[PostgresDatabase]:
    """Create an empty database for one test and drop it afterwards."""
    import psycopg2

    admin_url = os.environ[POSTGRES_ENV]
    name = f"refiner_test_{uuid.uuid4().hex[:12]}"
    admin = psycopg2.connect(admin_url)
    admin.autocommit = True
    try:
        with admin.cursor() as cursor:
            cursor.execute(f'CREATE DATABASE "{name}"')
        parts = urlsplit(admin_url)
        url = urlunsplit(parts._replace(path=f"/{name}"))
        yield PostgresDatabase(
            name=name,
            url=url,
            host=parts.hostname or "127.0.0.1",
            port=parts.port or 5432,
            user=parts.username or "postgres",
            password=parts.password or "postgres",
        )
    finally:
        with admin.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()
