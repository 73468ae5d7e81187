"""Trigger on event: Refiner webhooks (and a polling fallback) landed once, then acted on.

- `payload`: the typed webhook body and its deduplication key.
- `spool`: the SQLite spool the receiver owns; a 2xx means the delivery is in it.
- `warehouse`: the receiver's own dlt pipeline, appending `webhook_*` tables to refiner_raw.
- `flusher`: moves spooled deliveries to the warehouse in micro-batches.
- `rules`, `actions`, `runner`: the rules file, what actions do, and running each once.
- `receiver`: the Starlette app and the `refiner listen` process; `watch`: `refiner watch`.
"""
