"""Bulk export: every user, oldest first, one keyset page at a time (never all of them in memory)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from uuid import UUID

from application.queries import UserQueries
from application.users import MAX_PAGE_SIZE, list_users
from domain.users import User


async def export_users(queries: UserQueries, *, page_size: int = MAX_PAGE_SIZE) -> AsyncIterator[User]:
    """Each user once, in creation order, walking the pages of ``list_users``; each page is its own read,
    so this is no snapshot: users registered during the walk may appear, removed ones may not."""
    after: UUID | None = None
    while True:
        page = await list_users(queries, limit=page_size, after=after)
        for user in page.items:
            yield user
        if page.next_after is None:
            return
        after = page.next_after
