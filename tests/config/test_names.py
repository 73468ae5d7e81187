"""One check for warehouse names, the same for every command, before any request.

`--dataset "my raw"` and `--destination duckd` exit 2 with one line that names the problem
(and the valid destinations), whichever command gets them; `refiner load` sends nothing and
creates no warehouse. dlt would otherwise load `my raw` into `my_raw`, and answer `duckd`
with a 17-line lookup error.
"""

from __future__ import annotations

import io
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest

from emulator import DEFAULT_API_KEY, Emulator
from pipelines.cli import main

COMMANDS = {
    "load": ["load"],
    "transform": ["transform"],
    "push-traits": ["push-traits", "--dry-run"],
    "digest": ["digest"],
}
BAD_NAMES = [
    pytest.param(["--dataset", "my raw"], "--dataset 'my raw' is not a valid name", id="space"),
    pytest.param(["--dataset", "1st"], "--dataset '1st' is not a valid name", id="digit"),
    pytest.param(["--dataset", "raw;drop"], "is not a valid name", id="semicolon"),
    pytest.param(
        ["--destination", "duckd"],
        "Unknown --destination 'duckd': destination must be one of duckdb, postgres",
        id="destination",
    ),
]


def _run(args: list[str]) -> tuple[int, list[str]]:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(args)
    return code, [line for line in err.getvalue().splitlines() if line.strip()]


@pytest.mark.parametrize("command", list(COMMANDS))
@pytest.mark.parametrize(("options", "message"), BAD_NAMES)
def test_bad_name_is_refused_by_every_command(
    emulator: Emulator,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    command: str,
    options: list[str],
    message: str,
) -> None:
    monkeypatch.setenv("SOURCES__REFINER__API_KEY", DEFAULT_API_KEY)
    monkeypatch.setenv("SOURCES__REFINER__BASE_URL", emulator.base_url)
    database = tmp_path / "warehouse.duckdb"
    if command != "load":
        database.touch()  # so that only the name is wrong
    code, lines = _run([*COMMANDS[command], "--duckdb-path", str(database), *options])
    assert code == 2, lines
    assert len(lines) == 1, lines
    assert message in lines[0]
    assert len(emulator.request_log) == 0, "a request was sent before the names were checked"
    if command == "load":
        assert not database.exists()
