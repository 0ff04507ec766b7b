"""TLS for thousands of exec streams from one process: resumed sessions, small read buffers.

A launcher opens one TLS connection per daemon (an exec WebSocket cannot share
one). A full handshake costs both ends the certificate work: the server signs,
the client checks the chain and the name. Resuming the session of an earlier
connection to the same server (a TLS 1.3 ticket) skips it; the key exchange
stays. So the first connection's session (the launcher's pod list) is offered
by every later one, and refreshed from each new connection, since servers may
expire tickets. A server that declines a ticket does a full handshake: never a
failure, only the cost of one.

asyncio's SSL protocol reads into a buffer of `SSLProtocol.max_size` that it
allocates and zeroes for every connection: 256 KiB in Python 3.11 and 3.12,
a quarter of a gigabyte for 1000 daemons, whose streams carry a few lines.
`small_read_buffers()` lowers it for this process to our own read size.
"""

from __future__ import annotations

import ssl
from typing import Any, Optional, Union

# What asyncio's SSL layer reads at once once lowered: our streams' read size.
READ_BUFFER = 65536


class SessionCache:
    """The latest TLS session seen from one server, offered by every new connection."""

    def __init__(self) -> None:
        self.session: Optional[ssl.SSLSession] = None
        self.offered = 0
        self.resumed = 0

    def install(self, ctx: ssl.SSLContext) -> ssl.SSLContext:
        """Make `ctx` offer the cached session (asyncio creates its SSLObject through
        `wrap_bio`, and has no other way to pass one)."""
        wrap_bio = ctx.wrap_bio

        def offering(incoming: ssl.MemoryBIO, outgoing: ssl.MemoryBIO, server_side: bool = False,
                     server_hostname: Optional[Union[str, bytes]] = None,
                     session: Optional[ssl.SSLSession] = None) -> ssl.SSLObject:
            session = session or (None if server_side else self.session)
            if session is not None:
                self.offered += 1
            return wrap_bio(incoming, outgoing, server_side=server_side,
                            server_hostname=server_hostname, session=session)

        ctx.wrap_bio = offering  # type: ignore[method-assign]
        return ctx

    def keep(self, writer: Any) -> None:
        """After data was read on a connection (TLS 1.3 tickets follow the handshake):
        remember its session, count a resumption."""
        obj = writer.get_extra_info("ssl_object")
        if obj is None:
            return
        if obj.session_reused:
            self.resumed += 1
        if obj.session is not None and obj.session.has_ticket:
            self.session = obj.session


def small_read_buffers(size: int = READ_BUFFER) -> None:
    """Lower asyncio's per-connection SSL read buffer for this process (see above)."""
    try:
        from asyncio import sslproto
    except ImportError:  # pragma: no cover - no ssl
        return
    protocol = getattr(sslproto, "SSLProtocol", None)
    if protocol is not None and getattr(protocol, "max_size", 0) > size:
        protocol.max_size = size
