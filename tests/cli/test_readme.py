"""The README's examples run as written.

Every ```sql block runs, statement by statement, through `refiner sql` on the warehouse
`refiner demo` builds, and returns rows. Every `refiner …` command line of a ```bash block
parses against the real app (its command exists, its options exist and take valid values);
every inline `refiner …` span names an existing command and existing options. The README
cannot drift from the code unseen.
"""

from __future__ import annotations

import io
import json
import re
import shlex
from collections.abc import Iterator
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from typing import Any

import duckdb
import pytest
import typer.main

from pipelines.cli import main
from pipelines.cli.app import app
from tests.cli.processes import REPO

README = (REPO / "README.md").read_text()
CONTROL = {"&&", "||", ";", "|", "&"}
PLACEHOLDER = re.compile(r"^[<\[]|…|\.\.\.$")


def fenced(language: str) -> list[str]:
    """The bodies of the README's ```<language> blocks."""
    return re.findall(rf"^```{language}\n(.*?)^```", README, re.MULTILINE | re.DOTALL)


def sql_statements() -> list[str]:
    connection = duckdb.connect()
    return [s.query for block in fenced("sql") for s in connection.extract_statements(block)]


def refiner_commands(text: str) -> Iterator[list[str]]:
    """The arguments of each `refiner …` command in shell text (chains and env prefixes too)."""
    lexer = shlex.shlex(text.replace("\\\n", " "), posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    lexer.commenters = "#"
    lexer.wordchars += "…"
    words: list[str] = []
    for token in [*lexer, ";"]:
        if token not in CONTROL:
            words.append(token)
            continue
        while words and re.match(r"^[A-Z_][A-Z0-9_]*=", words[0]):
            words.pop(0)
        if words and words[0] == "refiner":
            yield words[1:]
        words = []


def bash_commands() -> list[list[str]]:
    return [
        command
        for block in fenced("bash")
        for line in block.splitlines()
        for command in refiner_commands(line)
    ]


def inline_commands() -> list[list[str]]:
    spans = re.findall(r"`(refiner[^`]*)`", README)
    return [command for span in spans for command in refiner_commands(span)]


def _resolve(args: list[str]) -> tuple[Any, list[str], list[str]]:
    """(leaf command, its path, its arguments); raises ValueError for an unknown command."""
    command: Any = typer.main.get_command(app)
    path = ["refiner"]
    rest = list(args)
    while hasattr(command, "commands"):
        options = {opt for param in command.params for opt in param.opts}
        while rest and rest[0].startswith("-"):
            if rest[0] not in options and rest[0] != "--help":
                raise ValueError(f"{' '.join(path)} has no option {rest[0]}")
            rest.pop(0)  # the root's options are flags
        if not rest or PLACEHOLDER.search(rest[0]) or rest[0] == "--help":
            return command, path, []
        name = rest.pop(0)
        if name not in command.commands:
            raise ValueError(f"{' '.join(path)} has no command {name!r}")
        command = command.commands[name]
        path.append(name)
    return command, path, rest


def parse_error(args: list[str]) -> str | None:
    """Why `refiner <args>` would not parse, or None when it parses."""
    try:
        command, path, rest = _resolve(args)
    except ValueError as error:
        return str(error)
    if hasattr(command, "commands"):
        return None if "--help" in args else f"{' '.join(path)} needs a command"
    out = io.StringIO()
    try:
        with redirect_stdout(out), redirect_stderr(out):
            command.make_context(" ".join(path), rest)
    except Exception as error:
        if getattr(error, "exit_code", None) == 0:  # --help
            return None
        return f"{' '.join(path)}: {getattr(error, 'message', None) or error}"
    return None


def option_error(args: list[str]) -> str | None:
    """Why an inline `refiner …` names something that does not exist (values not checked)."""
    try:
        command, path, rest = _resolve(args)
    except ValueError as error:
        return str(error)
    options = {opt for param in command.params for opt in (*param.opts, *param.secondary_opts)}
    for word in rest:
        name = word.split("=")[0].strip("[]")
        if name.startswith("--") and name not in {*options, "--help"}:
            return f"{' '.join(path)} has no option {name}"
    return None


# ------------------------------------------------------------------ the checks can fail


def test_the_checks_catch_what_does_not_exist() -> None:
    assert parse_error(["nosuch"]) == "refiner has no command 'nosuch'"
    assert parse_error(["load", "--nosuch"]) is not None
    assert parse_error(["push-traits", "--max-changes", "many"]) is not None
    assert parse_error(["tools"]) == "refiner tools needs a command"
    assert parse_error(["tools", "delete-contact", "--yes", "--uuid", "u1"]) is None
    assert parse_error(["--debug", "load", "--help"]) is None
    assert option_error(["load", "--since", "2024-01-01", "--nosuch"]) is not None
    assert option_error(["tools", "<tool>"]) is None
    assert list(refiner_commands('X=1 refiner transform && refiner push-traits --sql "a | b"')) == [
        ["transform"],
        ["push-traits", "--sql", "a | b"],
    ]


# ------------------------------------------------------------------ the README


def test_the_readme_has_examples() -> None:
    assert len(sql_statements()) >= 4
    assert len(bash_commands()) >= 6
    assert len(inline_commands()) >= 10


@pytest.mark.parametrize("args", bash_commands(), ids=" ".join)
def test_every_refiner_line_of_a_bash_block_parses(args: list[str]) -> None:
    assert parse_error(args) is None


def test_every_inline_refiner_command_exists() -> None:
    errors = [error for args in inline_commands() if (error := option_error(args))]
    assert errors == []


def test_the_commands_table_names_existing_options_and_tools() -> None:
    rows = re.findall(r"^\| `refiner ([a-z -]+)` \| (.*) \|$", README, re.MULTILINE)
    assert len(rows) >= 7
    errors = []
    for command, cell in rows:
        leaf, path, _ = _resolve(shlex.split(command))
        if hasattr(leaf, "commands"):
            names = re.findall(r"`([a-z]+(?:-[a-z]+)+)`", cell)
            errors += [f"{' '.join(path)} has no {n}" for n in names if n not in leaf.commands]
            names = []
        else:
            names = re.findall(r"(?<![\w-])--[a-z][a-z0-9-]*", cell)
        error = option_error([*shlex.split(command), *names])
        errors += [error] if error else []
    assert errors == []


@pytest.fixture(scope="module")
def demo_warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The DuckDB file `refiner demo` builds (a smaller seed)."""
    folder = tmp_path_factory.mktemp("readme")
    path = folder / "refiner.duckdb"
    out = io.StringIO()
    with pytest.MonkeyPatch.context() as patch, redirect_stdout(out), redirect_stderr(out):
        patch.chdir(folder)  # the demo writes ./digest/
        code = main(
            ["demo", "--duckdb-path", str(path), "--contacts", "150", "--responses", "1200"]
        )
    assert code == 0, out.getvalue()
    return path


@pytest.mark.parametrize("statement", sql_statements(), ids=lambda s: s.strip().splitlines()[0])
def test_every_sql_statement_returns_rows_through_refiner_sql(
    demo_warehouse: Path, statement: str
) -> None:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        # `--` ends the options: a statement may start with an SQL comment.
        code = main(
            ["sql", "--duckdb-path", str(demo_warehouse), "--format", "json", "--", statement]
        )
    assert code == 0, err.getvalue()
    rows = [json.loads(line) for line in out.getvalue().splitlines()]
    assert rows, f"no rows from: {statement}"


def test_nps_by_category_counts_what_nps_daily_counts(demo_warehouse: Path) -> None:
    by_category = next(s for s in sql_statements() if "nps_category, count(*)" in s)
    with duckdb.connect(str(demo_warehouse), read_only=True) as connection:
        answers = sum(count for _, count in connection.execute(by_category).fetchall())
        daily = connection.execute("select sum(responses) from refiner_analytics.nps_daily")
        assert answers == daily.fetchone()[0]  # type: ignore[index]
