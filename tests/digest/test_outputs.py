"""`refiner digest` on the command line: stdout, the four files, HTML escaping, bad input."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from tests.cli_run import run_refiner
from tests.digest.helpers import DAY, HOSTILE, SCRIPT, Warehouse

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _digest(warehouse: Warehouse, *args: str):
    return run_refiner("digest", "--duckdb-path", str(warehouse.path), *args)


def test_stdout_is_the_text_digest(warehouse: Warehouse) -> None:
    run = _digest(warehouse, "--date", DAY.isoformat(), "--timezone", "Europe/Berlin")
    assert run.code == 0, run.stderr
    lines = run.stdout.splitlines()
    assert lines[:3] == [
        "Refiner digest — Tuesday 10 March 2026 (Europe/Berlin)",
        "Compared with Monday 9 March 2026.",
        "",
    ]
    assert lines[3].split() == [
        "NPS", "+25.0", "-8.3", "points", "4", "answers:", "2", "promoters,", "1", "passive,",
        "1", "detractor",
    ]  # fmt: skip
    assert lines[4].split()[:4] == ["CSAT", "50.0%", "-50.0", "points"]
    assert lines[5].split()[:3] == ["Responses", "6", "+50.0%"]
    assert "  1. [NPS 3 · NPS — Product · " in run.stdout
    assert run.stderr == ""


def test_file_writes_json_html_text_and_png(warehouse: Warehouse, tmp_path: Path) -> None:
    out = tmp_path / "out"
    run = _digest(
        warehouse, "--date", DAY.isoformat(), "--timezone", "Europe/Berlin",
        "--to", "file", "--output-dir", str(out),
    )  # fmt: skip
    assert run.code == 0, run.stderr
    assert run.stdout == ""
    assert sorted(path.name for path in out.iterdir()) == [
        "digest.html", "digest.json", "digest.txt", "nps_trend.png",
    ]  # fmt: skip
    data = json.loads((out / "digest.json").read_text())
    assert data["period"]["start"] == "2026-03-09T23:00:00+00:00"
    assert data["period"]["end"] == "2026-03-10T23:00:00+00:00"
    assert data["nps"]["score"] == 25.0
    assert data["nps"]["previous"]["score"] == 33.3333
    assert data["nps"]["change_points"] == -8.3333
    assert data["csat"] == {
        "satisfied": 1, "answers": 2, "score": 50.0, "average": 3.5,
        "previous": {"satisfied": 1, "answers": 1, "score": 100.0, "average": 4.0},
        "change_points": -50.0,
    }  # fmt: skip
    assert data["responses"]["count"] == 6
    assert data["responses"]["change_percent"] == 50.0
    assert [c["category"] for c in data["comments"]] == [
        "detractor", None, "promoter", "promoter", None,
    ]  # fmt: skip
    assert len(data["nps_trend"]) == 30
    assert data["summary"]["summarizer"] == "extractive"
    assert (out / "nps_trend.png").read_bytes().startswith(PNG_MAGIC)
    assert (out / "digest.txt").read_text().startswith("Refiner digest — Tuesday 10 March 2026")


def test_html_escapes_hostile_comments_and_names(warehouse: Warehouse, tmp_path: Path) -> None:
    run = _digest(
        warehouse, "--date", DAY.isoformat(), "--timezone", "Europe/Berlin",
        "--to", "file", "--output-dir", str(tmp_path),
    )  # fmt: skip
    assert run.code == 0, run.stderr
    html = (tmp_path / "digest.html").read_text()
    assert SCRIPT not in html and "<script>" not in html
    assert "Too slow &lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in html
    assert HOSTILE not in html and "<b>bold</b>" not in html
    assert "&lt;!channel&gt; &lt;@U0123&gt; *bold*" in html
    assert "Support &lt;CSAT&gt; ⭐" in html
    assert '<img src="nps_trend.png"' in html


def test_bad_options_exit_2_in_one_line(warehouse: Warehouse, tmp_path: Path) -> None:
    cases = {
        ("--timezone", "Mars/Olympus"): "Unknown time zone 'Mars/Olympus'",
        ("--date", "10/03/2026"): "--date must be a day as YYYY-MM-DD; got '10/03/2026'.",
        ("--to", "fax"): "--to must be among stdout, file, email, slack; got 'fax'.",
        ("--period", "month"): "--period must be one of day, week; got 'month'.",
        ("--summarizer", "magic"): "--summarizer must be one of none, extractive, openai",
        ("--date", "2026-03-10", "--yesterday"): "Use either --date or --yesterday, not both.",
    }
    for args, message in cases.items():
        run = _digest(warehouse, *args)
        assert run.code == 2, args
        assert run.stdout == ""
        assert len(run.stderr.strip().splitlines()) == 1, run.stderr
        assert message in run.stderr


def test_digest_settings_are_the_defaults_and_flags_win(
    warehouse: Warehouse, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DIGEST__TIMEZONE", "Europe/Berlin")
    monkeypatch.setenv("DIGEST__TARGETS", "file")
    monkeypatch.setenv("DIGEST__OUTPUT_DIR", str(tmp_path / "configured"))
    run = _digest(warehouse, "--date", DAY.isoformat())
    assert run.code == 0, run.stderr
    assert run.stdout == ""
    data = json.loads((tmp_path / "configured" / "digest.json").read_text())
    assert data["period"]["start"] == "2026-03-09T23:00:00+00:00"

    run = _digest(warehouse, "--date", DAY.isoformat(), "--timezone", "UTC", "--to", "stdout")
    assert run.code == 0, run.stderr
    assert run.stdout.splitlines()[0] == "Refiner digest — Tuesday 10 March 2026 (UTC)"


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("DIGEST__TIMEZONE", "Mars/Olympus", "digest.timezone 'Mars/Olympus' is not an IANA"),
        ("DIGEST__TARGETS", "fax", "digest.targets must be among stdout, file, email, slack"),
    ],
)
def test_bad_digest_settings_name_their_key(
    warehouse: Warehouse, monkeypatch: pytest.MonkeyPatch, name: str, value: str, message: str
) -> None:
    monkeypatch.setenv(name, value)
    run = _digest(warehouse, "--date", DAY.isoformat())
    assert run.code == 2
    assert run.stdout == ""
    (line,) = run.stderr.strip().splitlines()
    assert message in line


def test_missing_marts_and_file_say_what_to_run(tmp_path: Path) -> None:
    run = run_refiner("digest", "--duckdb-path", str(tmp_path / "none.duckdb"))
    assert run.code == 2
    assert "does not exist; run `refiner load` first." in run.stderr
    duckdb.connect(str(tmp_path / "empty.duckdb")).close()
    run = run_refiner("digest", "--duckdb-path", str(tmp_path / "empty.duckdb"))
    assert run.code == 2
    assert run.stderr.strip() == (
        "Error: The marts fct_answers, fct_responses, dim_forms, dim_contacts are missing "
        "from schema 'refiner_analytics'; run `refiner transform` first."
    )


def test_waits_while_another_process_holds_the_file(warehouse: Warehouse, tmp_path: Path) -> None:
    copy = tmp_path / "busy.duckdb"
    shutil.copy(warehouse.path, copy)
    holder = subprocess.Popen(
        [
            sys.executable, "-c",
            "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); print('locked', "
            "flush=True); time.sleep(2); c.close()",
            str(copy),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        started = time.monotonic()
        run = run_refiner("digest", "--duckdb-path", str(copy), "--date", DAY.isoformat())
        waited = time.monotonic() - started
    finally:
        holder.wait(timeout=30)
    assert run.code == 0, run.stderr
    assert run.stdout.startswith("Refiner digest — Tuesday 10 March 2026 (UTC)")
    assert waited >= 1.0
