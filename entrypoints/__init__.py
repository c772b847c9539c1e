"""Entrypoints: the HTTP API, its configuration, the composition root, and the server launcher."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("users-service")
except PackageNotFoundError:  # a source tree that was never installed
    __version__ = "0+unknown"
