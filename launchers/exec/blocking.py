"""The blocking driver of the exec core, for kubexec: a plain socket, the caller's select loop.

kubexec starts once per remote daemon, so its start-up is the cost that
matters: importing asyncio takes ~50 ms, more than the whole exec round trip
on a local cluster. The protocol lives in exec.core; this module only moves
bytes between a socket and the core.

Blocking only until the server accepted the exec. The live session's socket
is non-blocking, as ssh's channels: what it does not take at once waits in
an outbound buffer, written when the caller's select says the socket is
writable, so a stalled peer never blocks the caller's loop (its signals,
heartbeats, parent check). The caller stops feeding stdin while the buffer
is `backlogged`: TCP flow control, not growth. Every socket/TLS/HTTP failure is
translated in one place, `edge.at_edge()`; transient failures before the command may
have started are retried by exec.retry's rule until the retry deadline.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import time
from typing import Any, Callable, Optional, Sequence

from launchers.exec import core, retry
from launchers.exec import protocol as p
from launchers.exec.config import ClusterConfig
from launchers.exec.edge import REQUEST, SESSION, Phase, at_edge, reason
from launchers.exec.errors import KubeExecError

__all__ = ["Client", "Session", "reason"]

Sink = Callable[[bytes], None]
_RECV = 65536
_SEND = 65536  # one send() at most: a TLS write retried after WANT_WRITE must not shrink
OUTBOUND_LIMIT = 1 << 20  # bytes waiting for the socket before the caller stops reading stdin
# "nothing now": a plain socket says BlockingIOError, TLS says it needs the socket first
_AGAIN = (BlockingIOError, ssl.SSLWantReadError, ssl.SSLWantWriteError)


def _recv(sock: socket.socket) -> bytes:
    """What is available now (a blocking socket waits for the first bytes); b"" at EOF."""
    data = sock.recv(_RECV)
    pending = sock.pending() if isinstance(sock, ssl.SSLSocket) else 0
    if pending:
        data += sock.recv(pending)
    return data


def _ascii(host: str) -> Any:
    """An ASCII host name as bytes: socket and ssl encode a str with the idna codec, whose
    import (encodings.idna, stringprep, unicodedata, a regex) costs kubexec ~3 ms."""
    try:
        return host.encode("ascii")
    except UnicodeEncodeError:
        return host


class Client:
    """Config + one SSL context; plain GETs and exec sessions, with retries."""

    def __init__(self, config: ClusterConfig, connect_timeout: float = 20.0,
                 retry_deadline: Optional[float] = None,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.config = config
        self.timeout = connect_timeout
        # Retries stop this long after the Client was made (default: the connect timeout).
        self.deadline = time.monotonic() + (
            connect_timeout if retry_deadline is None else retry_deadline
        )
        self.sleep = sleep
        self.context = config.ssl_context()

    def _connect(self, phase: Phase) -> socket.socket:
        cfg = self.config
        timeout = max(0.01, min(self.timeout, self.deadline - time.monotonic()))
        raw = socket.create_connection((_ascii(cfg.host), cfg.port), timeout=timeout)
        try:
            raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self.context is None:
                return raw
            return self.context.wrap_socket(
                raw, server_hostname=_ascii(cfg.tls_server_name or cfg.host))
        except BaseException:
            raw.close()
            raise

    def _retrying(self, attempt_once: Callable[[], Any]) -> Any:
        attempt = 0
        while True:
            try:
                return attempt_once()
            except KubeExecError as exc:
                delay = retry.next_delay(exc, attempt, self.deadline - time.monotonic())
                if delay is None:
                    if attempt:
                        exc.reason += f" (gave up after {attempt + 1} attempts)"
                    raise
            self.sleep(delay)
            attempt += 1

    def get_json(self, path: str, target: str = "") -> dict[str, Any]:
        """GET an API path (retried like exec: a GET is safe to repeat, same rule kept)."""
        return self._retrying(lambda: self._get_once(path, target))  # type: ignore[no-any-return]

    def _get_once(self, path: str, target: str) -> dict[str, Any]:
        cfg = self.config
        getter = core.GetCore(cfg.host_header, cfg.path_prefix + path, cfg.bearer_token,
                              target=target, namespace=cfg.namespace, now=time.time)
        phase = Phase()
        with at_edge(phase, target, cfg.server):
            sock = self._connect(phase)
            try:
                phase.now = REQUEST
                sock.sendall(getter.request())
                while True:
                    answer = getter.receive(_recv(sock))
                    if answer is not None:
                        return answer
            finally:
                sock.close()

    def open_exec(
        self,
        pod: str,
        argv: Sequence[str],
        *,
        namespace: str,
        container: Optional[str],
        stdin: bool,
        stdout: Sink,
        stderr: Sink,
        require_status: bool = True,
    ) -> Session:
        """Start `argv` in `pod`; returns once the server accepted the upgrade."""
        return self._retrying(  # type: ignore[no-any-return]
            lambda: self._open_once(pod, argv, namespace, container, stdin, stdout, stderr,
                                    require_status))

    def _open_once(self, pod: str, argv: Sequence[str], namespace: str,
                   container: Optional[str], stdin: bool, stdout: Sink, stderr: Sink,
                   require_status: bool) -> Session:
        cfg = self.config
        path = cfg.path_prefix + p.exec_path(namespace, pod, argv, container=container,
                                             stdin=stdin)
        session_core = core.ExecCore(cfg.host_header, path, cfg.bearer_token, pod=pod,
                                     namespace=namespace, require_status=require_status,
                                     now=time.time)
        phase = Phase()
        with at_edge(phase, pod, cfg.server):
            sock = self._connect(phase)
            try:
                phase.now = REQUEST
                sock.sendall(session_core.request())
                early: list[core.Event] = []
                while not session_core.upgraded:
                    early = session_core.receive(_recv(sock))
                sock.setblocking(False)
            except BaseException:
                sock.close()
                raise
        return Session(sock, session_core, cfg.server, stdout, stderr, early)


class Session:
    """A live exec session: the caller selects on `fileno()` for reading, and for writing
    while `wants_write()`, and calls `on_readable()` / `on_writable()`."""

    def __init__(self, sock: socket.socket, session_core: core.ExecCore, server: str,
                 stdout: Sink, stderr: Sink, early: Sequence[core.Event] = ()) -> None:
        self.sock = sock
        self.core = session_core
        self.pod = session_core.pod
        self.protocol = session_core.protocol
        self.sinks = {p.STDOUT: stdout, p.STDERR: stderr}
        self._phase = Phase()
        self._phase.now = SESSION
        self._server = server
        self._early = list(early)  # events that came with the 101 answer
        self._out = bytearray()  # written to the socket as it takes it

    @property
    def ended(self) -> bool:
        return self.core.closed

    @property
    def backlogged(self) -> bool:
        """The peer is this far behind: stop feeding stdin until it catches up."""
        return len(self._out) >= OUTBOUND_LIMIT

    def fileno(self) -> int:
        return self.sock.fileno()

    def has_buffered(self) -> bool:
        return bool(self._early)

    def wants_write(self) -> bool:
        return bool(self._out)

    def write_stdin(self, data: bytes) -> None:
        self.send(self.core.stdin(data))

    def close_stdin(self) -> None:
        self.send(self.core.close_stdin())

    def send(self, data: bytes) -> None:
        """Queue `data` and write what the socket takes now; never blocks."""
        if data and not self.core.closed:
            self._out += data
            self.on_writable()

    def on_writable(self) -> None:
        with at_edge(self._phase, self.pod, self._server):
            while self._out:  # (a Close echoed after the end gets its one try too)
                try:
                    sent = self.sock.send(self._out[:_SEND])
                except _AGAIN:
                    return
                del self._out[:sent]

    def on_readable(self) -> bool:
        """Process what arrived; False once the session is over (then call `exit_status`)."""
        with at_edge(self._phase, self.pod, self._server):
            if self._early:
                events, self._early = self._early, []
            else:
                try:
                    data = _recv(self.sock)
                except _AGAIN:  # readable, but no whole TLS record yet
                    return True
                except OSError:
                    if not self.core.has_status:
                        raise
                    data = b""  # broke after the status came: the outcome is known
                events = self.core.receive(data)
            for event in events:
                if isinstance(event, core.Output):
                    self.sinks[event.channel](event.data)
                elif isinstance(event, core.Send):
                    self._out += event.data
        if self._out:
            self.on_writable()
        return not self.core.closed

    def exit_status(self) -> int:
        """The remote status by the core's rules (see core.ExecCore.exit_status)."""
        with at_edge(self._phase, self.pod, self._server):
            return self.core.exit_status()

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()
