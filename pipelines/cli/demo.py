"""`refiner demo`: a seeded local emulator, loaded into DuckDB, modelled by dbt, then three queries.

Steps: start the emulator in-process on a free loopback port, run `run_load` against it into
`duckdb_path`, print the load summary, run `dbt build` (pipelines/transform.py) on it, and
the example queries with their results, and finally the digest of the emulator's last day
(written to ./digest/, its text printed).
"""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from pipelines.defaults import DEFAULT_DATASET, DEFAULT_DUCKDB_PATH

if TYPE_CHECKING:
    from rich.console import Console

    from emulator import SeedConfig

DEMO_SEED = 7
DIGEST_DIR = "digest"
DATASET = DEFAULT_DATASET

EXAMPLE_QUERIES: dict[str, str] = {
    "Responses per form": (
        "select form_name, count(*) as responses from {ds}.responses "
        "group by form_name order by responses desc"
    ),
    "NPS per form (from dbt's nps_daily: % promoters - % detractors)": (
        "select f.name as form_name, sum(n.responses) as answers, "
        "round(100.0 * (sum(n.promoters) - sum(n.detractors)) / sum(n.responses), 1) as nps "
        "from refiner_analytics.nps_daily n join {ds}.forms f on f.uuid = n.form_uuid "
        "group by f.name order by nps desc"
    ),
    "Most common answers": (
        "select question_identifier, value_text, count(*) as answers "
        "from {ds}.response_answers where value_text is not null "
        "group by question_identifier, value_text order by answers desc limit 10"
    ),
}


def run_demo(
    *,
    duckdb_path: str = DEFAULT_DUCKDB_PATH,
    contacts: int = 600,
    responses: int = 5000,
    console: Console,
) -> None:
    """Serve a seeded emulator, load it into `duckdb_path`, print the summary and queries."""
    from emulator import DEFAULT_API_KEY, Emulator, SeedConfig
    from pipelines.cli.render import print_summary
    from pipelines.load.run import run_load
    from pipelines.transform import run_transform

    seed = SeedConfig(seed=DEMO_SEED, contacts=contacts, responses=responses)
    with Emulator(seed=seed) as emulator, tempfile.TemporaryDirectory() as pipelines:
        console.print(f"Emulator serving {emulator.base_url} ({responses} responses)")
        summary = run_load(
            destination="duckdb",
            dataset=DATASET,
            duckdb_path=duckdb_path,
            pipelines_dir=pipelines,
            api_key=DEFAULT_API_KEY,
            base_url=emulator.base_url,
        )
    print_summary(summary, console)
    transform = run_transform("duckdb", duckdb_path, DATASET, quiet=True)
    console.print(transform.summary(), markup=False)
    print_examples(Path(duckdb_path), console)
    print_digest(seed, duckdb_path, console)


def print_digest(seed: SeedConfig, duckdb_path: str, console: Console) -> None:
    """Write the digest of the emulator's last day (UTC) into ./digest/ and print its text."""
    from pipelines.digest import run_digest

    last_day = datetime.fromtimestamp(seed.end_timestamp(), UTC).date() - timedelta(days=1)
    result = run_digest(date=last_day, to=("file",), output_dir=DIGEST_DIR, duckdb_path=duckdb_path)
    console.print(f"\nDigest of {last_day} written to ./{DIGEST_DIR}/:\n", markup=False)
    console.print(result.text, markup=False, end="")


def print_examples(duckdb_path: Path, console: Console) -> None:
    """Run EXAMPLE_QUERIES on the loaded file and print each result as a table."""
    import duckdb
    from rich.table import Table

    with duckdb.connect(str(duckdb_path), read_only=True) as connection:
        for title, sql in EXAMPLE_QUERIES.items():
            cursor = connection.execute(sql.replace("{ds}", DATASET))
            table = Table(title=title)
            for column in cursor.description or ():
                table.add_column(str(column[0]))
            for row in cursor.fetchall():
                table.add_row(*("" if value is None else str(value) for value in row))
            console.print(table)


def demo(
    duckdb_path: str = typer.Option(DEFAULT_DUCKDB_PATH, help="DuckDB file to create or update."),
    contacts: int = typer.Option(600, help="Contacts in the seeded emulator."),
    responses: int = typer.Option(5000, help="Responses in the seeded emulator."),
    listen: bool = typer.Option(
        False, "--listen", help="Show the webhook loop instead: emulator -> listen -> rule."
    ),
) -> None:
    """Start a seeded local Refiner emulator, load it into DuckDB, and show example queries."""
    from rich.console import Console

    if listen:
        from pipelines.events.demo import run_listen_demo

        run_listen_demo(duckdb_path=duckdb_path, console=Console(highlight=False, soft_wrap=True))
        return
    run_demo(
        duckdb_path=duckdb_path,
        contacts=contacts,
        responses=responses,
        console=Console(highlight=False, soft_wrap=True),
    )


def register(app: typer.Typer) -> None:
    """Add `refiner demo` to the root app."""
    app.command("demo")(demo)
