"""A loopback TCP proxy that a test can cut and restore, to take a database away from the service and give
it back without touching the database server itself; it can also lose the answer that confirms a commit."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from typing import Final

# The server's answer to a statement that committed a write: its command tag (a CommandComplete message), then
# ReadyForQuery with the status "idle", no transaction open any more. The write was a COMMIT, or a lone
# statement that PostgreSQL committed by itself.
_COMMITTED_TAGS: Final = (b"COMMIT\x00", b"INSERT 0 1\x00", b"UPDATE 1\x00", b"DELETE 1\x00")
_READY_IDLE: Final = b"Z\x00\x00\x00\x05I"


def _confirms_a_commit(answer: bytes) -> bool:
    return answer.endswith(_READY_IDLE) and any(tag in answer for tag in _COMMITTED_TAGS)


@dataclass
class _Link:
    """One client connection and its upstream twin."""

    client: asyncio.StreamWriter
    upstream: asyncio.StreamWriter

    def abort(self) -> None:
        self.client.transport.abort()
        self.upstream.transport.abort()


class TcpProxy:
    def __init__(self, target_host: str, target_port: int) -> None:
        self._target = (target_host, target_port)
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._pipes: set[asyncio.Task[None]] = set()
        self._lose_commit_acknowledgement = False
        self.port = 0

    def lose_next_commit_acknowledgement(self) -> None:
        """Cut the connection on which the server next confirms a commit (of a COMMIT, or of a write run
        outside a transaction), without passing the confirmation on: the write is committed, and the client
        cannot know it."""
        self._lose_commit_acknowledgement = True

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port, reuse_address=True)
        self.port = self._server.sockets[0].getsockname()[1]

    async def cut(self) -> None:
        """Stop accepting and drop every open connection, as a crashed or unreachable server would."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for writer in list(self._writers):
            writer.transport.abort()
        for pipe in list(self._pipes):
            pipe.cancel()
        await asyncio.gather(*self._pipes, return_exceptions=True)

    async def _accept(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(*self._target)
        except OSError:
            client_writer.transport.abort()
            return
        self._writers.update((client_writer, upstream_writer))
        link = _Link(client_writer, upstream_writer)
        for source, sink, to_server in (
            (client_reader, upstream_writer, True),
            (upstream_reader, client_writer, False),
        ):
            task = asyncio.create_task(self._pipe(source, sink, link, to_server=to_server))
            self._pipes.add(task)
            task.add_done_callback(self._pipes.discard)

    async def _pipe(
        self, source: asyncio.StreamReader, sink: asyncio.StreamWriter, link: _Link, *, to_server: bool
    ) -> None:
        try:
            while data := await source.read(65536):
                if not to_server and self._lose_commit_acknowledgement and _confirms_a_commit(data):
                    self._lose_commit_acknowledgement = False
                    link.abort()  # the server has answered, so it has committed
                    return
                sink.write(data)
                await sink.drain()
        except (OSError, asyncio.CancelledError):
            pass
        finally:
            self._writers.discard(sink)
            with contextlib.suppress(Exception):
                sink.transport.abort()
