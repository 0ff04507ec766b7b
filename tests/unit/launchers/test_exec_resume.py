"""exec.resume: later connections offer the session of an earlier one; asyncio's buffer lowered."""

from __future__ import annotations

import asyncio
import ssl
from asyncio import sslproto

from launchers.exec import resume


class FakeSslObject:
    def __init__(self, session: object, reused: bool) -> None:
        self.session = session
        self.session_reused = reused


class FakeWriter:
    def __init__(self, obj: object) -> None:
        self.obj = obj

    def get_extra_info(self, name: str) -> object:
        return self.obj if name == "ssl_object" else None


class Ticket:
    has_ticket = True


def test_the_cached_session_is_offered_to_client_connections_only() -> None:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    cache = resume.SessionCache()
    cache.install(ctx)
    ctx.wrap_bio(ssl.MemoryBIO(), ssl.MemoryBIO(), server_hostname="api")
    assert cache.offered == 0  # nothing cached yet: a full handshake
    ticket = Ticket()
    cache.keep(FakeWriter(FakeSslObject(ticket, reused=False)))
    assert cache.session is ticket and cache.resumed == 0
    seen = []
    original = ssl.SSLContext.wrap_bio

    def spy(self, incoming, outgoing, server_side=False, server_hostname=None, session=None):
        seen.append(session)  # what OpenSSL would be asked to resume

    ssl.SSLContext.wrap_bio = spy  # type: ignore[method-assign]
    try:
        cache2 = resume.SessionCache()
        ctx2 = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        cache2.install(ctx2)
        cache2.session = ticket  # type: ignore[assignment]
        ctx2.wrap_bio(ssl.MemoryBIO(), ssl.MemoryBIO(), server_hostname="api")
        ctx2.wrap_bio(ssl.MemoryBIO(), ssl.MemoryBIO(), server_side=True)
    finally:
        ssl.SSLContext.wrap_bio = original  # type: ignore[method-assign]
    assert seen == [ticket, None] and cache2.offered == 1
    cache.keep(FakeWriter(FakeSslObject(ticket, reused=True)))
    assert cache.resumed == 1
    cache.keep(FakeWriter(None))  # plain http: nothing to keep


def test_small_read_buffers_lowers_asyncio_s_per_connection_buffer() -> None:
    before = sslproto.SSLProtocol.max_size
    # asyncio's own default: another test of this process may have lowered it already
    # (the launchers' suites run in random order)
    sslproto.SSLProtocol.max_size = 256 * 1024
    try:
        resume.small_read_buffers()
        assert sslproto.SSLProtocol.max_size == resume.READ_BUFFER < 256 * 1024
        loop = asyncio.new_event_loop()
        try:
            proto = sslproto.SSLProtocol(loop, asyncio.Protocol(),
                                         ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT), None,
                                         server_hostname="api")
            assert len(proto._ssl_buffer) == resume.READ_BUFFER
        finally:
            loop.close()
        resume.small_read_buffers(1 << 20)  # never raised
        assert sslproto.SSLProtocol.max_size == resume.READ_BUFFER
    finally:
        sslproto.SSLProtocol.max_size = before
