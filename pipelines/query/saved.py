"""Saved queries: the `.sql` files in `pipelines/query/saved/`, shipped with the package so users
can read and copy them. A query's name is its file name without `.sql`; its description is the
comment block it starts with.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources

from pipelines.errors import ConfigError

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")


@dataclass(frozen=True)
class SavedQuery:
    """One saved query: `name` (file stem), `description` (leading comments) and its `sql`."""

    name: str
    description: str
    sql: str

    @property
    def summary(self) -> str:
        """The first line of the description."""
        return self.description.splitlines()[0] if self.description else ""


def is_saved_query_name(text: str) -> bool:
    """Whether `text` is shaped like a saved query's name rather than SQL (one plain word)."""
    return bool(_NAME.match(text.strip()))


def saved_queries() -> list[SavedQuery]:
    """All saved queries, by name."""
    folder = resources.files("pipelines.query") / "saved"
    found = [
        _parse(entry.name.removesuffix(".sql"), entry.read_text(encoding="utf-8"))
        for entry in folder.iterdir()
        if entry.name.endswith(".sql")
    ]
    return sorted(found, key=lambda query: query.name)


def saved_query(name: str) -> SavedQuery:
    """The saved query called `name`; ConfigError naming the choices when there is none."""
    queries = {query.name: query for query in saved_queries()}
    if name not in queries:
        raise ConfigError(
            f"No saved query named {name!r}; choose one of {', '.join(queries)} "
            "(`refiner sql --list`)."
        )
    return queries[name]


def _parse(name: str, text: str) -> SavedQuery:
    comments = []
    for line in text.splitlines():
        if not line.startswith("--"):
            break
        comments.append(line.removeprefix("--").strip())
    return SavedQuery(name, "\n".join(comments), text)
