"""Readiness of the in-memory adapter: memory is always there while the process runs."""


class MemoryReadiness:
    async def check(self) -> None:
        return None
