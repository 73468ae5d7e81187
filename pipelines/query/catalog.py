"""What `describe_warehouse` reads: the information schema, and the dbt models' descriptions."""

from __future__ import annotations

from functools import cache
from pathlib import Path

DBT_MODELS_DIR = Path(__file__).resolve().parents[2] / "dbt_project" / "models"

CATALOG_SQL = """
SELECT table_schema, table_name, column_name, data_type
FROM information_schema.columns
WHERE table_schema IN ({placeholders}) AND left(table_name, 5) <> '_dlt_'
ORDER BY table_schema, table_name, ordinal_position
"""


def row_count_sql(schema: str, table: str) -> str:
    """`SELECT count(*)` of one table; both names come from the information schema, quoted."""
    return f"SELECT count(*) FROM {_quote(schema)}.{_quote(table)}"


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


@cache
def descriptions(models_dir: Path = DBT_MODELS_DIR) -> dict[tuple[str, str], str]:
    """First sentences of the dbt descriptions: ("model", name) for each model and ("source",
    name) for each loaded table the dbt sources declare. Empty when the dbt project is not next
    to the package (an installed wheel without it)."""
    import yaml  # type: ignore[import-untyped]

    found: dict[tuple[str, str], str] = {}
    for path in sorted(models_dir.rglob("*.yml")):
        document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for model in document.get("models") or []:
            _remember(found, "model", model)
        for source in document.get("sources") or []:
            for table in source.get("tables") or []:
                _remember(found, "source", table)
    return found


def _remember(found: dict[tuple[str, str], str], kind: str, node: dict[str, object]) -> None:
    text = " ".join(str(node.get("description") or "").split())
    if node.get("name") and text:
        found[(kind, str(node["name"]))] = _first_sentence(text)


def _first_sentence(text: str) -> str:
    end = text.find(". ")
    return text if end < 0 else text[: end + 1]
