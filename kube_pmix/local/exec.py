"""pods/exec over WebSocket (v5.channel.k8s.io, v4.channel.k8s.io), as a kubelet serves it.

Every message is [channel][payload]: 0 stdin, 1 stdout, 2 stderr, 3 status,
4 resize, 255 close signal (v5). The session ends when the process's stdout
and stderr are both closed, then the status goes out on channel 3 and a Close
frame follows. A dropped connection leaves the process running with its stdin
open and unwritten, as on real clusters when the session was idle (no signal is
sent). When the client's stdin carried data in the last ACTIVE_WINDOW seconds
(a kubexec session's heartbeats always do), the process the exec started in the
pod is SIGKILLed instead, as containerd does once the stream's end reaches it
(its CRI exec kills the process when the stream's context ends): measured on the
real test bed, a plain `kubectl exec -i ... sleep` outlived its killed client,
and a guard under a session with traffic was killed within a second.

The client's frames are not read while output to it is held up (its reader is
slow): on a real cluster both directions share the connections through the API
server and the kubelet, and stdin, heartbeats included, queues behind output
the client has not taken (measured on the real test bed: a reader that paused
8 s starved a kubexec-guard heartbeat timeout of 3 s).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import os
import signal
import struct
import termios
import time
from typing import Any, Awaitable, Callable, Optional

from aiohttp import WSMsgType, web

from . import objects

STDIN, STDOUT, STDERR, STATUS, RESIZE, CLOSE = 0, 1, 2, 3, 4, 255
PROTOCOLS = ("v5.channel.k8s.io", "v4.channel.k8s.io")
MAX_MESSAGE = 32 * 1024
CHUNK = MAX_MESSAGE - 1

# processes whose client went away: kept (with their open stdin) until they exit
_orphans: set[asyncio.Task[None]] = set()
ACTIVE_WINDOW = 5.0  # s: stdin this recent makes a dropped session end in SIGKILL


def flag(value: Optional[str]) -> bool:
    """The apiserver's reading: absent, "0" or "false" (any case) is false, the rest true."""
    return value is not None and value.lower() not in ("0", "false")


def choose_protocol(header: str) -> Optional[str]:
    offered = [p.strip() for p in header.split(",") if p.strip()]
    for proto in offered:
        if proto in PROTOCOLS:
            return proto
    return None


def exit_status(returncode: int) -> dict[str, Any]:
    code = 128 - returncode if returncode < 0 else returncode
    return objects.exec_success() if code == 0 else objects.exec_exit_code(code)


class _Session:
    def __init__(self, ws: web.WebSocketResponse, idle_timeout: Optional[float]) -> None:
        self.ws = ws
        self.lock = asyncio.Lock()
        self.idle_timeout = idle_timeout
        self.last_data = time.monotonic()
        self.connected = True
        # set while no output is held up on its way to the client
        self.output_flowing = asyncio.Event()
        self.output_flowing.set()

    async def send(self, channel: int, data: bytes = b"") -> None:
        if not self.connected:
            return
        async with self.lock:
            self.output_flowing.clear()
            try:
                await self.ws.send_bytes(bytes([channel]) + data)
            except (ConnectionError, RuntimeError):
                self.connected = False
            finally:
                self.output_flowing.set()

    async def send_output(self, channel: int, data: bytes) -> None:
        self.last_data = time.monotonic()
        for start in range(0, len(data), CHUNK):
            await self.send(channel, data[start : start + CHUNK])

    async def idle_watchdog(self) -> None:
        assert self.idle_timeout is not None
        while self.connected:
            left = self.last_data + self.idle_timeout - time.monotonic()
            if left <= 0:
                self.connected = False
                with contextlib.suppress(Exception):
                    await self.ws.close(code=1000, message=b"idle timeout")
                return
            await asyncio.sleep(left)


async def serve_exec(
    request: web.Request,
    protocol: str,
    spawn: Callable[..., Awaitable[asyncio.subprocess.Process]],
    command: list[str],
    container_error: Optional[str],
    stdin: bool,
    stdout: bool,
    stderr: bool,
    tty: bool,
    idle_timeout: Optional[float],
) -> web.WebSocketResponse:
    """Upgrade, run `command` through `spawn(argv, stdin=, stdout=, stderr=)`, stream it."""
    ws = web.WebSocketResponse(protocols=(protocol,), autoping=True, max_msg_size=4 * 1024 * 1024)
    await ws.prepare(request)
    session = _Session(ws, idle_timeout)
    # The kubelet's "connection established" notice: an empty message on the lowest
    # writable channel. kubectl reads the connection in one goroutine while another
    # creates its streams, so it sometimes drops this one ("Unknown stream id 1,
    # discarding message"): harmless, it is empty. Data goes out only once the process
    # wrote it, the status after both pipes ended (tests/integration/local/
    # test_exec_fidelity.py checks that every byte reaches kubectl).
    await session.send(STDOUT if stdout else STDERR if stderr and not tty else STATUS)
    if container_error is not None:
        status = objects.exec_internal_error(container_error)
        await session.send(STATUS, json.dumps(status).encode())
        await ws.close()
        return ws
    try:
        if tty:
            await _run_tty(session, spawn, command, stdin)
        else:
            await _run_pipes(session, spawn, command, stdin, stdout, stderr)
    except OSError as exc:  # the exec chain could not be started at all
        status = objects.exec_internal_error(f"cannot start {command[0]}: {exc}")
        await session.send(STATUS, json.dumps(status).encode())
    finally:
        if session.connected:
            with contextlib.suppress(Exception):
                await ws.close()
    return ws


async def _receive(session: _Session, on_stdin: Callable[[bytes], Awaitable[None]],
                   on_close_stdin: Callable[[], None],
                   on_resize: Callable[[int, int], None]) -> None:
    """Client -> process, until the client goes away. Text frames are accepted too."""
    async for msg in session.ws:
        await session.output_flowing.wait()  # stdin queues behind held-up output
        if msg.type == WSMsgType.BINARY:
            data = bytes(msg.data)
        elif msg.type == WSMsgType.TEXT:
            data = msg.data.encode()
        else:
            break
        if not data:
            continue
        channel, payload = data[0], data[1:]
        if channel == STDIN:
            session.last_data = time.monotonic()
            if payload:
                await on_stdin(payload)
        elif channel == CLOSE and payload[:1] == bytes([STDIN]):
            on_close_stdin()
        elif channel == RESIZE:
            with contextlib.suppress(ValueError, KeyError, TypeError):
                size = json.loads(payload)
                on_resize(int(size["Width"]), int(size["Height"]))
    session.connected = False


async def _pump(session: _Session, stream: Optional[asyncio.StreamReader], channel: int) -> None:
    if stream is None:
        return
    while chunk := await stream.read(CHUNK):
        await session.send_output(channel, chunk)


async def _run_pipes(session: _Session, spawn: Callable[..., Awaitable[asyncio.subprocess.Process]],
                     command: list[str], stdin: bool, stdout: bool, stderr: bool) -> None:
    pipe, null = asyncio.subprocess.PIPE, asyncio.subprocess.DEVNULL
    proc = await spawn(
        command, stdin=pipe if stdin else null, stdout=pipe if stdout else null,
        stderr=pipe if stderr else null,
    )
    stdin_open = stdin
    last_stdin = float("-inf")

    async def write(data: bytes) -> None:
        nonlocal last_stdin
        last_stdin = time.monotonic()
        if stdin_open and proc.stdin is not None:
            with contextlib.suppress(ConnectionError):
                proc.stdin.write(data)
                await proc.stdin.drain()

    def close_stdin() -> None:
        nonlocal stdin_open
        if stdin_open and proc.stdin is not None:
            stdin_open = False
            proc.stdin.close()

    output: asyncio.Future[Any] = asyncio.gather(
        _pump(session, proc.stdout, STDOUT), _pump(session, proc.stderr, STDERR))
    receiver = asyncio.ensure_future(_receive(session, write, close_stdin, lambda w, h: None))
    watchdog = (asyncio.ensure_future(session.idle_watchdog())
                if session.idle_timeout else None)
    await asyncio.wait([output, receiver], return_when=asyncio.FIRST_COMPLETED)
    if not output.done():
        # client gone: an active session's process is killed, as the runtime does; an
        # idle one keeps running, its output drained to nowhere and its stdin open until
        # it exits (the harshest realistic case)
        if time.monotonic() - last_stdin < ACTIVE_WINDOW:
            kill_in_pod(proc.pid)
        task = asyncio.ensure_future(_outlive(proc, output))
        _orphans.add(task)
        task.add_done_callback(_orphans.discard)
        receiver.cancel()
        if watchdog:
            watchdog.cancel()
        return
    returncode = await proc.wait()
    await session.send(STATUS, json.dumps(exit_status(returncode)).encode())
    receiver.cancel()
    if watchdog:
        watchdog.cancel()
    close_stdin()


def kill_in_pod(chain_pid: int) -> None:
    """SIGKILL the process the exec started in the pod: the child of the chain's nsenter
    (which forks into the pod's pid namespace), not nsenter, and nothing else."""
    with contextlib.suppress(OSError, ValueError):
        for task in os.listdir(f"/proc/{chain_pid}/task"):
            with open(f"/proc/{chain_pid}/task/{task}/children") as children:
                for pid in children.read().split():
                    os.kill(int(pid), signal.SIGKILL)


async def _outlive(proc: asyncio.subprocess.Process, output: Awaitable[Any]) -> None:
    with contextlib.suppress(Exception):
        await output
    await proc.wait()
    if proc.stdin is not None:
        proc.stdin.close()


def _set_winsize(fd: int, width: int, height: int) -> None:
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", height, width, 0, 0))


async def _run_tty(session: _Session, spawn: Callable[..., Awaitable[asyncio.subprocess.Process]],
                   command: list[str], stdin: bool) -> None:
    """A pty: stdout and stderr are one stream (channel 1), resize sets the window size."""
    master, slave = os.openpty()
    _set_winsize(master, 80, 24)
    try:
        proc = await spawn(command, stdin=slave, stdout=slave, stderr=slave)
    finally:
        os.close(slave)
    loop = asyncio.get_running_loop()
    output: asyncio.Queue[bytes] = asyncio.Queue()

    def readable() -> None:
        try:
            data = os.read(master, CHUNK)
        except OSError:  # EIO: every holder of the slave side closed it
            data = b""
        if not data:
            loop.remove_reader(master)
        output.put_nowait(data)

    loop.add_reader(master, readable)

    async def pump() -> None:
        while data := await output.get():
            await session.send_output(STDOUT, data)

    async def write(data: bytes) -> None:
        if stdin:
            await loop.run_in_executor(None, os.write, master, data)

    def close_stdin() -> None:
        with contextlib.suppress(OSError):
            os.write(master, b"\x04")  # EOF for the line discipline

    pumping = asyncio.ensure_future(pump())
    receiver = asyncio.ensure_future(
        _receive(session, write, close_stdin, lambda w, h: _set_winsize(master, w, h))
    )
    watchdog = (asyncio.ensure_future(session.idle_watchdog())
                if session.idle_timeout else None)
    await asyncio.wait([pumping, receiver], return_when=asyncio.FIRST_COMPLETED)
    if not pumping.done():
        task = asyncio.ensure_future(_outlive_tty(proc, pumping, master, loop))
        _orphans.add(task)
        task.add_done_callback(_orphans.discard)
    else:
        returncode = await proc.wait()
        await session.send(STATUS, json.dumps(exit_status(returncode)).encode())
        os.close(master)
    receiver.cancel()
    if watchdog:
        watchdog.cancel()


async def _outlive_tty(proc: asyncio.subprocess.Process, pumping: Awaitable[Any], master: int,
                       loop: asyncio.AbstractEventLoop) -> None:
    with contextlib.suppress(Exception):
        await pumping
    await proc.wait()
    os.close(master)
