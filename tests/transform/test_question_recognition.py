"""NPS and CSAT questions on forms whose config lists no elements (issue 19, item 6).

The emulator serves opaque configs (SeedConfig(form_elements=False)) while its reports still
count NPS answers by the questions' real types. The seeded identifiers that have answers
(`nps`, `how_likely_are_you_to_recommend_...`, `how_satisfied_...`) are recognised by the
heuristic; a form whose NPS question is called `q7` is not, so `refiner transform` warns for
it until `[transform] nps_questions` names it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from emulator import DEFAULT_API_KEY, Emulator, SeedConfig
from emulator.models import Question
from tests.cli_run import run_refiner

pytestmark = pytest.mark.slow
MYSTERY = "Mystery survey"


@dataclass(frozen=True)
class Setup:
    emulator: Emulator
    database: Path
    mystery: str


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    directory = tmp_path_factory.mktemp("recognition")
    seed = SeedConfig(
        seed=19, contacts=40, accounts=8, forms=6, segments=2, responses=300, days=20,
        form_elements=False,
    )  # fmt: skip
    with Emulator(seed=seed) as emulator, pytest.MonkeyPatch.context() as patch:
        store = emulator.store
        mystery = store.add_form(
            name=MYSTERY,
            questions=[Question("q7", "nps", "How likely are you to recommend us?")],
        )
        store.form_records[mystery].config_elements = False
        contact = sorted(store.contact_records)[0]
        for days_ago, score in ((2, 10), (2, 3), (3, 9)):
            at = datetime.now(UTC) - timedelta(days=days_ago)
            store.add_response(
                form_uuid=mystery,
                contact_uuid=contact,
                data={"q7": score},
                at=at.strftime("%Y-%m-%d %H:%M:%S"),
            )
        for name, value in {
            "SOURCES__REFINER__API_KEY": DEFAULT_API_KEY,
            "SOURCES__REFINER__BASE_URL": emulator.base_url,
            "SOURCES__REFINER__INCLUDE": "all",
        }.items():
            patch.setenv(name, value)
        database = directory / "refiner.duckdb"
        run = run_refiner(
            "load", "--duckdb-path", str(database), "--pipelines-dir", str(directory / "dlt")
        )
        assert run.code == 0, run.output
        yield Setup(emulator, database, mystery)


def _transform(setup: Setup, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("DBT_TARGET_PATH", str(tmp_path / "target"))
    monkeypatch.setenv("DBT_LOG_PATH", str(tmp_path / "logs"))
    run = run_refiner("transform", "--duckdb-path", str(setup.database), "--quiet")
    assert run.code == 0, run.output
    return run.output


def _query(setup: Setup, sql: str) -> list[tuple]:
    with duckdb.connect(str(setup.database), read_only=True) as connection:
        return connection.execute(sql).fetchall()


def _true_nps_answers(setup: Setup) -> Counter[str]:
    """NPS answers per form of the loaded responses, by the emulator's own question types."""
    counts: Counter[str] = Counter()
    for uuid in setup.emulator.store.responses:
        response = setup.emulator.store.responses[uuid]
        if not response["first_data_reception_at"]:
            continue
        form = setup.emulator.store.form_records[response["form"]["uuid"]]
        for key, value in response["data"].items():
            question = form.question(key)
            if question is not None and question.type == "nps" and value is not None:
                counts[form.uuid] += 1
    return counts


def test_configs_are_opaque(loaded: Setup) -> None:
    rows = _query(loaded, "select count(*) from refiner_raw.forms")
    assert rows[0][0] == 7
    for uuid in loaded.emulator.store.forms:
        assert loaded.emulator.store.forms[uuid]["config"]["form_elements"] == []


def test_heuristic_finds_seeded_questions_and_transform_warns_for_the_rest(
    loaded: Setup, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    output = _transform(loaded, tmp_path, monkeypatch)
    warnings = [line for line in output.splitlines() if line.startswith("Warning:")]
    assert warnings == [
        f"Warning: Form {MYSTERY!r} ({loaded.mystery}) has NPS answers in Refiner's reports but "
        "no NPS question was recognised; add its question identifier to [transform] "
        "nps_questions."
    ]
    recognised = _query(
        loaded,
        "select question_identifier, question_type "
        "from refiner_analytics.int_refiner__form_questions "
        "where question_type_source = 'heuristic' group by all order by 1",
    )
    # The sixth form, `csat`, is the draft: no answers, so nothing to recognise it by.
    assert recognised == [
        ("how_likely_are_you_to_recommend_us_to_a_friend_or_colleague", "nps"),
        (
            "how_satisfied_are_you_with_the_support_you_received_from_our_customer_success_team_"
            "during_your_most_recent_conversation",
            "csat",
        ),
        ("nps", "nps"),
    ]
    truth = _true_nps_answers(loaded)
    counted = dict(
        _query(
            loaded, "select form_uuid, sum(responses) from refiner_analytics.nps_daily group by 1"
        )
    )
    assert counted == {form: count for form, count in truth.items() if form != loaded.mystery}
    assert truth[loaded.mystery] == 3


def test_setting_recognises_the_rest_and_silences_the_warning(
    loaded: Setup, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRANSFORM__NPS_QUESTIONS", '["q?"]')
    output = _transform(loaded, tmp_path, monkeypatch)
    assert "Warning:" not in output
    rows = _query(
        loaded,
        "select question_type, question_type_source from "
        f"refiner_analytics.int_refiner__form_questions where form_uuid = '{loaded.mystery}'",
    )
    assert rows == [("nps", "setting")]
    counted = _query(
        loaded,
        "select sum(promoters), sum(detractors), sum(responses) from refiner_analytics.nps_daily"
        f" where form_uuid = '{loaded.mystery}'",
    )
    assert counted == [(2, 1, 3)]


def test_bad_setting_is_a_usage_error(
    loaded: Setup, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRANSFORM__NPS_QUESTIONS", "[1, 2]")
    run = run_refiner("transform", "--duckdb-path", str(loaded.database), "--quiet")
    assert run.code == 2
    assert "transform.nps_questions must be a list of question identifiers" in run.output
