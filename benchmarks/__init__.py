"""Benchmarks of the service (run with `make bench`); never part of `make test`."""
