"""The `refiner` console script: one entry point for tools, loads, transforms and syncs.

Exit codes: 0 ok, 2 usage or validation, 3 authentication, 4 not found, 1 anything else.
Errors print as one line on stderr; `--debug` adds the traceback.
"""

from __future__ import annotations

import gc
import logging
import sys

import click
import typer
from rich.console import Console

from pipelines.cli import (
    demo,
    digest,
    emulator,
    events,
    load,
    mcp,
    orchestrate,
    sql,
    sync,
    tools,
    transform,
)
from pipelines.errors import exit_code_for, unreachable_warehouse

app = typer.Typer(
    name="refiner",
    help="Move Refiner survey data into a warehouse, and computed traits back into Refiner.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(tools.app, name="tools")
emulator.register(app)
load.register(app)
demo.register(app)
sync.register(app)
transform.register(app)
sql.register(app)
digest.register(app)
mcp.register(app)
events.register(app)
orchestrate.register(app)

_stderr = Console(stderr=True, highlight=False, soft_wrap=True)


@app.callback()
def _root(
    ctx: typer.Context,
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks and debug logs."),
) -> None:
    ctx.obj = {"debug": debug}
    logging.basicConfig(
        level=logging.DEBUG if debug else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


def main(argv: list[str] | None = None) -> int:
    """Run the CLI and map any exception to its exit code."""
    args = sys.argv[1:] if argv is None else argv
    debug = "--debug" in args
    try:
        app(args=args, prog_name="refiner", standalone_mode=False)
    except (click.exceptions.Exit, typer.Exit) as stop:
        return stop.exit_code
    except (click.Abort, typer.Abort):
        _stderr.print("Aborted.")
        return 1
    except (click.ClickException, typer.TyperException) as usage:
        # typer >= 0.20 vendors click: its usage errors derive from TyperException, not click's.
        show = getattr(usage, "show", None)
        if callable(show):
            show()
        else:
            _stderr.print(f"Error: {usage}", markup=False)
        return usage.exit_code
    except Exception as error:
        if debug:
            _stderr.print_exception()
        _stderr.print(f"Error: {unreachable_warehouse(error) or error}", markup=False)
        return exit_code_for(error)
    return 0


def run() -> None:
    """The console script: `main()`, then exit with its code.

    The process ends right after, so `gc.freeze()` first moves every live object out of the
    collector's reach: the interpreter's shutdown then skips its collection passes over the
    object graph of dlt, pyarrow and pandas (benchmarks/README.md has the saving). Streams are
    still flushed and atexit handlers still run. Tests call `main()`, which leaves the
    collector alone.
    """
    code = main()
    gc.freeze()
    sys.exit(code)
