"""`refiner orchestrate`: the Dagster UI on this project's definitions, or `--check` them.

Needs the optional extra (`pip install 'refiner-dlt[dagster]'`); without it the command says
so in one line and exits 2. Dagster is imported only inside the command, so `refiner --help`
and `refiner load` never pay for it.
"""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import typer
from rich.console import Console

from pipelines.errors import ConfigError

DEFINITIONS_MODULE = "pipelines.orchestration.definitions"
EXTRA_MODULES = ("dagster", "dagster_dlt", "dagster_dbt", "dagster_webserver")
INSTALL_HINT = (
    "refiner orchestrate needs Dagster, which is not installed: pip install 'refiner-dlt[dagster]'"
)
DAGSTER_YAML = """\
# Written by `refiner orchestrate`. The load and reconcile runs share one dlt pipeline (and
# its lock), so runs tagged refiner/warehouse run one at a time; others wait in the queue.
concurrency:
  runs:
    tag_concurrency_limits:
      - key: refiner/warehouse
        limit: 1
"""


def orchestrate_command(
    check: bool = typer.Option(
        False, "--check", help="Validate the definitions; list assets, jobs and schedules."
    ),
    port: int = typer.Option(3000, "--port", min=1, max=65535, help="Webserver port."),
    dagster_home: str | None = typer.Option(
        None,
        "--dagster-home",
        help="Where Dagster keeps runs and schedules (default: DAGSTER_HOME, else ./.dagster).",
    ),
) -> None:
    """Run `dagster dev` (webserver on 127.0.0.1, plus the scheduler) on refiner's assets."""
    require_extra()
    console = Console(highlight=False, soft_wrap=True)
    if check:
        print_check(console)
        return
    home = Path(dagster_home or os.environ.get("DAGSTER_HOME") or ".dagster").resolve()
    home.mkdir(parents=True, exist_ok=True)
    settings = home / "dagster.yaml"
    if not settings.exists():
        settings.write_text(DAGSTER_YAML)
    console.print(
        f"Starting Dagster: open http://127.0.0.1:{port} once it reports it is serving "
        f"(Ctrl+C stops it). Runs and schedules are kept in {home}.",
        markup=False,
    )
    raise typer.Exit(_dagster_dev(port, home))


def require_extra() -> None:
    """Raise ConfigError (exit 2) with the install line when a package of the extra is missing."""
    for name in EXTRA_MODULES:
        try:
            importlib.import_module(name)
        except ImportError:
            raise ConfigError(INSTALL_HINT) from None


def print_check(console: Console) -> None:
    """Load and validate the definitions, then list their assets, jobs and schedules."""
    from dagster import Definitions

    from pipelines.orchestration.definitions import defs

    Definitions.validate_loadable(defs)
    graph = defs.resolve_asset_graph()
    keys = sorted(graph.get_all_asset_keys(), key=lambda key: key.to_user_string())
    jobs = [job for job in defs.resolve_all_job_defs() if not job.name.startswith("__")]
    schedules: list[Any] = list(defs.schedules or [])
    console.print(
        f"Definitions OK: {len(keys)} assets, {len(jobs)} jobs, {len(schedules)} schedules.",
        markup=False,
    )
    console.print("Assets (group: key <- upstream):", markup=False)
    for key in keys:
        node = graph.get(key)
        upstream = ", ".join(sorted(parent.to_user_string() for parent in node.parent_keys))
        console.print(f"  {node.group_name}: {key.to_user_string()} <- {upstream or '-'}")
    console.print("Jobs:", markup=False)
    for job in sorted(jobs, key=lambda job: job.name):
        console.print(f"  {job.name}: {job.description or ''}", markup=False)
    console.print("Schedules:", markup=False)
    for schedule in sorted(schedules, key=lambda schedule: schedule.name):
        console.print(
            f"  {schedule.name}: {schedule.job_name} at '{schedule.cron_schedule}' "
            f"({schedule.execution_timezone or 'UTC'})",
            markup=False,
        )


def _dagster_dev(port: int, home: Path) -> int:
    """Run `dagster dev` on loopback until it exits or Ctrl+C; its exit code."""
    root = str(Path(__file__).resolve().parents[2])
    path = os.environ.get("PYTHONPATH")
    environment = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "PYTHONPATH": f"{root}{os.pathsep}{path}" if path else root,
    }
    command = [sys.executable, "-m", "dagster", "dev", "-m", DEFINITIONS_MODULE]
    command += ["--host", "127.0.0.1", "--port", str(port)]
    try:
        return subprocess.run(command, env=environment, check=False).returncode
    except KeyboardInterrupt:
        return 0


def register(app: typer.Typer) -> None:
    """Add `refiner orchestrate` to the root app."""
    app.command("orchestrate")(orchestrate_command)
