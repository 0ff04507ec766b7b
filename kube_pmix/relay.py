"""A byte relay: connections accepted on one socket are piped to a fixed address.

Both test beds use it to join two network namespaces without a route between
them: the local cluster relays its cluster network to the registry on this
machine's loopback, the real test bed relays this machine's loopback to the
API server and the registry inside its own namespace. A socket keeps the
namespace it was created in, and a connection is opened from the relay's.
Bytes only: TLS runs end to end between the client and the server.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket

_CHUNK = 256 * 1024


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(_CHUNK):
            writer.write(data)
            await writer.drain()
    except (OSError, asyncio.IncompleteReadError):
        pass
    finally:
        with contextlib.suppress(OSError, RuntimeError):
            writer.close()


async def _forward(host: str, port: int, reader: asyncio.StreamReader,
                   writer: asyncio.StreamWriter) -> None:
    try:
        up_reader, up_writer = await asyncio.open_connection(host, port)
    except OSError:
        writer.close()
        return
    await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))


async def serve(sock: socket.socket, host: str, port: int) -> asyncio.AbstractServer:
    """Relay every connection accepted on the listening `sock` to host:port."""
    return await asyncio.start_server(lambda r, w: _forward(host, port, r, w), sock=sock)
