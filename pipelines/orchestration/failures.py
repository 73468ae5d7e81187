"""How an error inside a step becomes a Dagster failure.

Every step fails with the line `refiner` prints for the same error (without its `Error: `
prefix). The steps' RetryPolicy retries only transient errors: Refiner's 429 and 5xx (after
the client's own retries), an unreachable API, and a DuckDB file another process holds. A
refused key, bad configuration or input, a warehouse that is down and a failed dbt test fail
at once, because trying again cannot help.
"""

from __future__ import annotations

from dagster import Backoff, Failure, RetryPolicy

from pipelines.errors import error_chain, unreachable_warehouse

RETRY_POLICY = RetryPolicy(max_retries=3, delay=30, backoff=Backoff.EXPONENTIAL)
"""Retries after 30 s, 90 s and 210 s (Dagster's exponential backoff waits (2^n - 1) x 30 s
before retry n); applies only to failures marked transient."""

_BUSY_DUCKDB = ("Could not set lock on file", "Conflicting lock is held")


def step_failure(error: BaseException) -> Failure:
    """A Failure with the CLI's message for `error`, retried only when it is transient."""
    return Failure(
        description=str(unreachable_warehouse(error) or error), allow_retries=is_transient(error)
    )


def is_transient(error: BaseException) -> bool:
    """True for errors that may pass on a later attempt (see the module docstring), found
    anywhere in `error`'s chain of causes and contexts."""
    from pipelines.load.destinations import WarehouseBusyError
    from sources.refiner.errors import RateLimitedError, ServerError, TransportError

    transient = RateLimitedError | ServerError | TransportError | WarehouseBusyError
    return any(
        isinstance(cause, transient) or is_busy_duckdb(str(cause)) for cause in error_chain(error)
    )


def is_busy_duckdb(message: str) -> bool:
    """True when `message` is DuckDB refusing a file that another process has open."""
    return any(marker in message for marker in _BUSY_DUCKDB)
