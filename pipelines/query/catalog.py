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
def model_descriptions(models_dir: Path = DBT_MODELS_DIR) -> dict[str, str]:
    """Each dbt model's description, cut to its first sentence, by model name. Empty when the
    dbt project is not next to the package (an installed wheel without it)."""
    import yaml  # type: ignore[import-untyped]

    found: dict[str, str] = {}
    for path in sorted(models_dir.rglob("*.yml")):
        document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for model in document.get("models") or []:
            text = " ".join(str(model.get("description") or "").split())
            if model.get("name") and text:
                found[str(model["name"])] = _first_sentence(text)
    return found


def _first_sentence(text: str) -> str:
    end = text.find(". ")
    return text if end < 0 else text[: end + 1]
