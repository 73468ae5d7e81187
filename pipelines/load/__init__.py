"""`refiner load`: Refiner into a warehouse through dlt, incremental and merge-keyed."""
