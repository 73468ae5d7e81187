"""dlt sources of refiner-dlt."""
