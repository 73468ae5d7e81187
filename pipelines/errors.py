"""Errors raised by pipelines and their CLI exit codes."""

from __future__ import annotations

from collections.abc import Iterator

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_AUTH = 3
EXIT_NOT_FOUND = 4


class ConfigError(Exception):
    """Configuration or input the user must fix; the message says how."""


class LoadInProgressError(Exception):
    """Another `refiner load` holds this pipeline's run lock; nothing was touched."""


class WarehouseUnavailableError(Exception):
    """The PostgreSQL server cannot be reached (refused, dropped or unknown connection); a
    load keeps what it extracted in its pipeline folder for the next run."""


def error_chain(error: BaseException) -> Iterator[BaseException]:
    """`error`, then what caused it (`__cause__`, else `__context__`), each once. The chain can
    loop: the load re-raises a Refiner error from inside the handler of the dlt error that
    wraps it, which makes that dlt error the Refiner error's context."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def unreachable_warehouse(error: BaseException) -> WarehouseUnavailableError | None:
    """A one-line WarehouseUnavailableError when psycopg2 could not reach the server anywhere
    in `error`'s chain (an OperationalError without an SQLSTATE, as connection failures are),
    else None. It quotes psycopg2's first line, which names the host and port, never the
    password."""
    import psycopg2

    for cause in error_chain(error):
        if isinstance(cause, psycopg2.OperationalError) and cause.pgcode is None:
            lines = str(cause).strip().splitlines() or ["no reason given"]
            return WarehouseUnavailableError(
                f"Cannot reach the PostgreSQL warehouse ({lines[0].strip()}); start it or fix "
                "DESTINATION__POSTGRES__CREDENTIALS, then run again"
            )
    return None


def exit_code_for(error: BaseException) -> int:
    """The documented exit code for an error reaching the CLI."""
    # Imported here: `sources.refiner` loads dlt, and `refiner --help` should start fast.
    from sources.refiner.errors import AuthError, NotFoundError, ValidationError

    if isinstance(error, AuthError):
        return EXIT_AUTH
    if isinstance(error, NotFoundError):
        return EXIT_NOT_FOUND
    if isinstance(error, ValidationError | ConfigError):
        return EXIT_USAGE
    return EXIT_FAILURE
