"""refiner_incremental on PostgreSQL: the same assets with `[warehouse] destination =
"postgres"` and the credentials in dlt's secrets, as the CLI reads them."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("dagster", reason="needs the dagster extra: pip install 'refiner-dlt[dagster]'")

from emulator import Emulator
from tests.conftest import MakeEmulator
from tests.orchestration.helpers import SEED, configure, execute_job, materializations, writes
from tests.warehouse import fresh_postgres_database, requires_postgres

pytestmark = [pytest.mark.slow, pytest.mark.postgres, requires_postgres]


def test_incremental_job_on_postgres(
    make_emulator: MakeEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import psycopg2

    emulator: Emulator = make_emulator(**SEED)
    configure(monkeypatch, tmp_path, emulator)
    with fresh_postgres_database() as database:
        monkeypatch.setenv("WAREHOUSE__DESTINATION", "postgres")
        monkeypatch.setenv("DESTINATION__POSTGRES__CREDENTIALS", database.url)

        result = execute_job("refiner_incremental")

        assert result.success
        assets = materializations(result)
        with psycopg2.connect(database.url) as connection, connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM refiner_raw.responses")
            (landed,) = cursor.fetchone() or (0,)
            cursor.execute(
                "SELECT count(*) FROM refiner_analytics.contact_traits"
                " WHERE remote_id IS NOT NULL OR email IS NOT NULL"
            )
            (traits,) = cursor.fetchone() or (0,)
        assert assets["refiner/responses"]["rows_loaded"] == landed > 0
        assert "contact_traits" in assets
        assert writes(emulator) == assets["push_traits"]["succeeded"] == traits > 0
