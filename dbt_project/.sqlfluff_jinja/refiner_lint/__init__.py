"""Stand-ins for dbt's `adapter` and `dbt` Jinja objects, for sqlfluff's jinja templater only.

sqlfluff's `apply_dbt_builtins` covers ref(), source(), var() and config(), but not
`adapter.dispatch()` (used by every macro in macros/) nor the `dbt` namespace (dbt.dateadd).
Without these the templater renders those calls as empty strings and the models no longer
parse. Each module here becomes a Jinja global named after it. dbt itself never reads this.
"""
