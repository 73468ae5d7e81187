"""The reverse sync: warehouse rows to Refiner's identify-user and track-event endpoints."""
