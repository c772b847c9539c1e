"""Errors of the application layer that are not domain rules."""

from __future__ import annotations

from uuid import UUID


class StorageUnavailable(Exception):
    """The storage behind a port cannot answer now (down, unreachable, timed out); trying later may work.

    Adapters raise it in place of their driver's errors so that no driver detail leaks past them.
    """


class PreconditionFailed(Exception):
    """The caller made a write conditional on a version of the user that is no longer the current one."""

    def __init__(self, user_id: UUID) -> None:
        super().__init__(f"user {user_id} is not at the version the request was conditional on")
        self.user_id = user_id
