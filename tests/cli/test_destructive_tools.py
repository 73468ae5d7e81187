"""`refiner tools delete-contact` asks first on a terminal, and needs --yes without one."""

from __future__ import annotations

import pytest

from emulator import DEFAULT_API_KEY, Emulator
from tests.cli.processes import run_on_terminal, run_piped


@pytest.fixture
def api(emulator: Emulator) -> dict[str, str]:
    """The environment a child `refiner` needs to reach `emulator`."""
    return {
        "SOURCES__REFINER__API_KEY": DEFAULT_API_KEY,
        "SOURCES__REFINER__BASE_URL": emulator.base_url,
    }


def _deletions(emulator: Emulator) -> list[object]:
    return [
        e for e in emulator.request_log.entries() if e.path == "/contact" and e.method == "DELETE"
    ]


def test_without_a_terminal_it_refuses_without_yes(emulator: Emulator, api: dict[str, str]) -> None:
    victim = next(iter(emulator.store.contacts))
    emulator.request_log.clear()

    refused = run_piped(["tools", "delete-contact", "--uuid", victim], api)

    assert refused.code == 2
    assert refused.stdout == ""
    assert len(refused.stderr.strip().splitlines()) == 1
    assert "--yes" in refused.stderr and victim in refused.stderr
    assert emulator.request_log.entries() == []
    assert victim in emulator.store.contacts

    confirmed = run_piped(["tools", "delete-contact", "--uuid", victim, "--yes"], api)

    assert confirmed.code == 0, confirmed.stderr
    assert victim not in emulator.store.contacts
    assert len(_deletions(emulator)) == 1


def test_on_a_terminal_it_asks(emulator: Emulator, api: dict[str, str]) -> None:
    victim = next(iter(emulator.store.contacts))
    emulator.request_log.clear()

    declined = run_on_terminal(["tools", "delete-contact", "--uuid", victim], api, typed="n\n")

    assert declined.code == 1
    assert f"Delete contact uuid={victim}" in declined.stderr
    assert emulator.request_log.entries() == []
    assert victim in emulator.store.contacts

    accepted = run_on_terminal(["tools", "delete-contact", "--uuid", victim], api, typed="y\n")

    assert accepted.code == 0, accepted.stdout + accepted.stderr
    assert '"message": "ok"' in accepted.stdout
    assert victim not in emulator.store.contacts
    assert len(_deletions(emulator)) == 1
