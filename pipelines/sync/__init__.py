"""The reverse sync: warehouse rows to Refiner's identify-user and track-event endpoints.

A run reads its `input` (a model, a table or one read-only SELECT), decides with `mapping`
which column feeds which key, plans what to send (`plan` for traits, `events` for events),
sends it (`send`), and `runs` ties these together against a warehouse: prepare on a read-only
connection, then execute. `state` holds the sync's own tables, `values` the trait value rules,
`warehouse` the DuckDB and PostgreSQL connections.
"""
