"""One check for warehouse names, the same for every command, before any request.

`--dataset "my raw"` and `--destination duckd` exit 2 with one line that names the problem
(and the valid destinations), whichever command gets them; `refiner load` sends nothing and
creates no warehouse. dlt would otherwise load `my raw` into `my_raw`, and answer `duckd`
with a 17-line lookup error.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from emulator import DEFAULT_API_KEY, Emulator
from tests.cli_run import run_refiner

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
    run = run_refiner(*COMMANDS[command], "--duckdb-path", str(database), *options)
    assert run.code == 2, run.stderr
    (line,) = run.error_lines
    assert message in line
    assert len(emulator.request_log) == 0, "a request was sent before the names were checked"
    if command == "load":
        assert not database.exists()
