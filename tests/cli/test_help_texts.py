"""Help texts that state facts: dlt's real pipelines folder, and where archived surveys went."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.cli.processes import REPO, child_env, run_piped


def test_load_help_names_the_folder_dlt_keeps_state_in(tmp_path: Path) -> None:
    data_dir = tmp_path / "dlt-data"

    run = run_piped(["load", "--help"], {"DLT_DATA_DIR": str(data_dir), "COLUMNS": "300"})

    assert run.code == 0, run.stderr
    assert f"(default: {data_dir / 'pipelines'})" in run.stdout
    assert "~/.dlt/pipelines" not in run.stdout


def test_root_help_does_not_import_dlt() -> None:
    script = (
        "import sys; from pipelines.cli import main; main(['--help']); print('dlt' in sys.modules)"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        env=child_env(),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert done.stdout.splitlines()[-1] == "False"


def test_get_forms_help_says_archived_forms_need_all_with_archived() -> None:
    run = run_piped(["tools", "get-forms", "--help"], {"COLUMNS": "300"})

    assert run.code == 0, run.stderr
    assert "Archived surveys are left out by default" in run.stdout
    assert "--list all_with_archived" in run.stdout
