"""Entrypoints: the HTTP API, its configuration, the composition root, and the server launcher."""
