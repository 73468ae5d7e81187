"""The parts of dbt's cross-database `dbt` namespace that the models use, as dbt-duckdb renders."""


def dateadd(datepart: str, interval: int, from_date_or_timestamp: str) -> str:
    unit = datepart.lower()
    return f"({from_date_or_timestamp} + cast({interval} as bigint) * interval 1 {unit})"
