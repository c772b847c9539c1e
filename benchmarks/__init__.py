"""Benchmarks: run by hand, never by `make test` (see README.md here, and import_users.py for the bulk import)."""
