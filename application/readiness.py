"""The readiness port: can the service reach what it needs to answer requests?"""

from __future__ import annotations

from typing import Protocol


class ReadinessProbe(Protocol):
    async def check(self) -> None:
        """Return when the storage answers; raise ``StorageUnavailable`` when it does not."""
