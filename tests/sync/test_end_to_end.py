"""Demo data end to end: load, transform, push-traits; then a changed input sends one request."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from emulator import DEFAULT_API_KEY
from pipelines.cli import main
from tests.sync.helpers import identify_requests, query

TRAITS = "SELECT * FROM refiner_analytics.contact_traits WHERE remote_id IS NOT NULL"


def _contact(emulator: object, remote_id: str) -> dict:
    contacts = emulator.store.contacts.values()  # type: ignore[attr-defined]
    return next(c for c in contacts if c["remote_id"] == remote_id)


@pytest.mark.slow
def test_load_transform_push_then_one_change_sends_one_request(
    make_emulator: object, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    emulator = make_emulator(seed=11, contacts=40, accounts=8, responses=300)  # type: ignore[operator]
    path = str(tmp_path / "refiner.duckdb")
    for name, value in {
        "SOURCES__REFINER__API_KEY": DEFAULT_API_KEY,
        "SOURCES__REFINER__BASE_URL": emulator.base_url,
        "SOURCES__REFINER__START_DATE": "2024-01-01",
        "DBT_TARGET_PATH": str(tmp_path / "target"),
        "DBT_LOG_PATH": str(tmp_path / "logs"),
    }.items():
        monkeypatch.setenv(name, value)
    pipelines_dir = str(tmp_path / "pipelines")

    def refresh() -> None:
        assert main(["load", "--duckdb-path", path, "--pipelines-dir", pipelines_dir]) == 0
        assert main(["transform", "--duckdb-path", path, "--quiet"]) == 0

    refresh()
    emulator.request_log.clear()
    assert main(["push-traits", "--duckdb-path", path]) == 0, capsys.readouterr()

    with_id = query(Path(path), TRAITS)
    names = [row[0] for row in query(Path(path), "DESCRIBE " + TRAITS)]
    assert with_id and len(identify_requests(emulator)) >= len(with_id)
    for row in with_id:
        values = dict(zip(names, row, strict=True))
        attributes = _contact(emulator, values["remote_id"])["attributes"]
        for name, value in values.items():
            if name in ("remote_id", "email", "contact_uuid") or value is None:
                continue
            if isinstance(value, datetime):
                sent = datetime.fromisoformat(attributes[name].replace("Z", "+00:00"))
                assert sent == value, name
            else:
                assert attributes[name] == value, name
                assert type(attributes[name]) is type(value), name

    emulator.request_log.clear()
    assert main(["push-traits", "--duckdb-path", path]) == 0
    assert len(emulator.request_log) == 0

    target = with_id[0][names.index("remote_id")]
    contact = _contact(emulator, target)
    form = next(iter(emulator.store.forms.values()))
    question = form["config"]["form_elements"][0]["id"]
    emulator.store.add_response(
        form_uuid=form["uuid"], contact_uuid=contact["uuid"], data={question: 10}
    )
    refresh()
    emulator.request_log.clear()
    assert main(["push-traits", "--duckdb-path", path]) == 0
    sent = identify_requests(emulator)
    assert [entry.params["id"] for entry in sent] == [target]
    assert len(emulator.request_log) == 1
