"""`error_chain`: an error and its causes, each once, even when the chain loops.
`unreachable_warehouse`: a PostgreSQL connection failure, and nothing else, becomes one line."""

from __future__ import annotations

import os

import psycopg2
import pytest

from pipelines.errors import error_chain, unreachable_warehouse
from tests.ports import free_port
from tests.warehouse import POSTGRES_ENV, requires_postgres


def test_cause_wins_over_context_and_each_error_comes_once() -> None:
    refused = ValueError("refused")
    wrapper = RuntimeError("extract failed")
    step = RuntimeError("resource failed")
    handled = KeyError("handled before")
    wrapper.__cause__ = step
    wrapper.__context__ = handled
    step.__cause__ = refused
    refused.__context__ = wrapper  # raised again inside the handler of its own wrapper
    assert list(error_chain(wrapper)) == [wrapper, step, refused]
    assert list(error_chain(refused)) == [refused, wrapper, step]


def test_context_is_followed_without_a_cause() -> None:
    first = OSError("disk")
    second = RuntimeError("while handling")
    second.__context__ = first
    assert list(error_chain(second)) == [second, first]


def test_a_refused_connection_is_unreachable_in_one_line_without_the_password() -> None:
    port = free_port()
    with pytest.raises(psycopg2.OperationalError) as refused:
        psycopg2.connect(f"postgresql://u:pw-sentinel-91@127.0.0.1:{port}/db", connect_timeout=5)
    wrapped = RuntimeError("step failed")
    wrapped.__cause__ = refused.value
    unreachable = unreachable_warehouse(wrapped)
    assert unreachable is not None
    message = str(unreachable)
    reason = f'connection to server at "127.0.0.1", port {port} failed: Connection refused'
    assert f"({reason})" in message
    assert "\n" not in message and "pw-sentinel-91" not in message


@pytest.mark.postgres
@requires_postgres
def test_an_error_the_server_reports_is_not_unreachable() -> None:
    with psycopg2.connect(os.environ[POSTGRES_ENV]) as connection, connection.cursor() as cursor:
        cursor.execute("SET statement_timeout = 10")
        with pytest.raises(psycopg2.OperationalError) as cancelled:
            cursor.execute("SELECT pg_sleep(1)")
    assert cancelled.value.pgcode == "57014"
    assert unreachable_warehouse(cancelled.value) is None
