"""The Python peers of the benchmark, each runnable as `python -m bench.peers.<name>`."""
