"""The `ssh` transport: daemons over ssh with asyncssh, one connection each, one loop.

Port, user, keys and known_hosts come from the user's OpenSSH client config
(`/etc/ssh/ssh_config`, which on the images includes the kube-pmix drop-in,
then `~/.ssh/config`, or the files given), as `ssh` would read them; flags
override. Without a Port anywhere we use 2222, the images' unprivileged sshd.
Host keys are always checked against known_hosts.

The daemon runs under `kubexec-guard`, as over the exec API: OpenSSH's sshd
does not forward signals to a command without a tty and leaves it running when
the connection drops, the guard ends the tree in both cases.
"""

from __future__ import annotations

import asyncio
import getpass
import os
import shlex
import socket
import time
import warnings
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence, cast

from cryptography.utils import CryptographyDeprecationWarning

with warnings.catch_warnings():
    # cryptography deprecates DSA, which asyncssh still imports: five lines on every
    # launch over ssh that are not our users' business
    warnings.simplefilter("ignore", CryptographyDeprecationWarning)
    import asyncssh
    from asyncssh.config import SSHClientConfig

from launchers.exec import guardwire as wire
from launchers.exec import retry
from launchers.exec.errors import ConnectionFailed, ConnectionLost
from launchers.exec.transport import GuardedProcess, RemoteProcess
from launchers.k8sgo.errors import NoCredentials, UnknownHost
from launchers.k8sgo.hostfile import split_user
from launchers.k8sgo.settings import DEFAULT_SSH_PORT, Settings
from launchers.k8sgo.transports.base import Flow, Sink

DEFAULT_KEYS = ("id_ed25519", "id_ecdsa", "id_rsa")
SYSTEM_CONFIG = "/etc/ssh/ssh_config"


def remote_command(argv: Sequence[str], heartbeat_timeout: float, guard: str,
                   env: Optional[Mapping[str, str]] = None, detachable: bool = False) -> str:
    """The command line sshd hands to the login shell: it splits back into exactly argv
    under the guard (which adds `env`)."""
    return shlex.join(wire.guard_argv(argv, heartbeat_timeout, guard, env=env,
                                      detachable=detachable))


def default_config_paths(home: Optional[str] = None) -> list[str]:
    home = home or os.path.expanduser("~")
    return [p for p in (SYSTEM_CONFIG, os.path.join(home, ".ssh", "config")) if os.path.isfile(p)]


def _reason(exc: BaseException, timeout: Optional[float] = None) -> str:
    if isinstance(exc, asyncio.TimeoutError):
        return "timed out" if timeout is None else f"timed out after {timeout:g} s"
    if isinstance(exc, asyncssh.KeyImportError):
        # an encrypted key without its passphrase, say: asyncssh raises a ValueError
        return f"cannot use an ssh key ({exc})"
    if isinstance(exc, asyncssh.HostKeyNotVerifiable):
        return f"host key not verifiable ({exc.reason})"
    if isinstance(exc, asyncssh.PermissionDenied):
        return "permission denied (no accepted key)"
    if isinstance(exc, asyncssh.Error):
        return exc.reason or type(exc).__name__
    if isinstance(exc, OSError):
        return exc.strerror or str(exc)
    return str(exc) or type(exc).__name__


class _Session(asyncssh.SSHClientSession):  # type: ignore[type-arg]
    """Output to the sinks as it arrives; the exit status when the channel closes.

    With a `flow`, reading pauses after each piece of output until the flow says
    our own output has room again (launchers.k8sgo.output).
    """

    def __init__(self, host: str, stdout: Sink, stderr: Sink,
                 flow: Optional[Flow] = None) -> None:
        self.host = host
        self.sinks = (stdout, stderr)
        self.flow = flow
        self.status: Optional[int] = None
        self.closed: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._chan: Any = None
        self._paused = False

    def connection_made(self, chan: Any) -> None:
        self._chan = chan

    def data_received(self, data: Any, datatype: Any) -> None:
        self.sinks[1 if datatype == asyncssh.EXTENDED_DATA_STDERR else 0](data)
        if self.flow is not None and self._chan is not None and not self._paused:
            self._paused = True
            self._chan.pause_reading()
            asyncio.get_running_loop().create_task(self._resume(self.flow))

    async def _resume(self, flow: Flow) -> None:
        await flow()
        self._paused = False
        if not self._chan.is_closing():
            self._chan.resume_reading()

    def exit_status_received(self, status: int) -> None:
        self.status = status

    def exit_signal_received(self, signal: str, core_dumped: bool, msg: str, lang: str) -> None:
        import signal as signals

        signo = getattr(signals, f"SIG{signal}", None)
        self.status = 128 + int(signo) if signo is not None else 255

    def connection_lost(self, exc: Optional[Exception]) -> None:
        if self.closed.done():
            return
        if self.status is not None:
            self.closed.set_result(self.status)
        else:
            why = _reason(exc) if exc else "closed before the exit status arrived"
            self.closed.set_exception(ConnectionLost(f"ssh session broke: {why}", self.host))


class SshProcess:
    """One ssh channel running the guard; the inner stream of a GuardedProcess."""

    def __init__(self, host: str, command: str, conn: Any, chan: Any, session: _Session) -> None:
        self.pod = host
        self.command = command
        self._conn = conn
        self._chan = chan
        self._session = session

    @property
    def done(self) -> bool:
        return self._session.closed.done()

    def write(self, data: bytes) -> None:
        if not self._chan.is_closing():
            self._chan.write(data)

    async def drain(self) -> None:
        pass  # records are tiny; the channel buffers

    def close_stdin(self) -> None:
        if not self._chan.is_closing():
            self._chan.write_eof()

    def send_signal(self, signo: int) -> bool:
        return False

    def kill_tree(self) -> bool:
        return False  # the GuardedProcess around this channel does it

    def detach(self) -> bool:
        return False  # as kill_tree

    def abort(self) -> None:
        self._conn.abort()

    async def wait(self) -> int:
        try:
            return await asyncio.shield(self._session.closed)
        finally:
            if self.done:
                self._conn.close()


class SshTransport:
    """Starts `kubexec-guard ... -- COMMAND` over ssh; host keys checked."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.config_paths = list(settings.ssh_config) or default_config_paths()
        self.local_user = getpass.getuser()
        self._where: dict[str, tuple[str, int]] = {}

    def _config(self, host: str) -> SSHClientConfig:
        user, name = split_user(host)
        return cast(SSHClientConfig, SSHClientConfig.load(
            None, self.config_paths, False, False, False, self.local_user,
            user or self.settings.ssh_user or (), name, self.settings.ssh_port or ()))

    def endpoint(self, host: str) -> tuple[str, int]:
        """(address to connect to, port) for a hostfile host, as ssh would pick them."""
        cfg = self._config(host)
        host = split_user(host)[1]
        port = self.settings.ssh_port or cfg.get("Port") or DEFAULT_SSH_PORT
        return str(cfg.get("Hostname") or host), int(cast(int, port))

    def _has_key(self, host: str) -> bool:
        if os.environ.get("SSH_AUTH_SOCK"):
            return True
        listed = cast(Sequence[str], self._config(host).get("IdentityFile") or [])
        home = Path.home() / ".ssh"
        candidates = [os.path.expanduser(p) for p in listed] + [str(home / k) for k in DEFAULT_KEYS]
        return any(os.path.isfile(p) for p in candidates)

    async def prepare(self, hosts: Sequence[str]) -> None:
        try:
            self._where = {host: self.endpoint(host) for host in hosts}
        except (OSError, asyncssh.Error, ValueError) as exc:
            raise NoCredentials(f"cannot read the ssh client config: {exc}") from exc
        if not self._has_key(hosts[0]):
            raise NoCredentials(f"no ssh key for {hosts[0]} (no IdentityFile, ~/.ssh/id_*, "
                                "or agent)")
        loop = asyncio.get_running_loop()
        sem = asyncio.Semaphore(max(1, self.settings.concurrency))

        async def lookup(host: str) -> None:
            address, port = self._where[host]
            async with sem:
                try:
                    await loop.getaddrinfo(address, port, type=socket.SOCK_STREAM)
                except socket.gaierror as exc:
                    raise UnknownHost(f"{host}: {exc.strerror}") from exc

        await asyncio.gather(*(lookup(h) for h in hosts))

    async def _connect(self, host: str, address: str, port: int) -> Any:
        """An authenticated connection; refused/reset connects are retried (exec.retry's rule).

        `host` may be `user@host` (hostfile syntax): that user logs in, as with ssh.
        """
        s = self.settings
        user, name = split_user(host)
        deadline = time.monotonic() + s.retry_deadline
        attempt = 0
        while True:
            timeout = max(0.01, min(s.connect_timeout, deadline - time.monotonic()))
            try:
                return await asyncio.wait_for(asyncssh.connect(
                    address, port, username=user or s.ssh_user or (), config=self.config_paths,
                    # known_hosts names the host as the hostfile does, not its address
                    host_key_alias=name if address != name else None,
                    keepalive_interval=0), timeout)
            except (OSError, asyncssh.Error, asyncio.TimeoutError, ValueError) as exc:
                # nothing runs before authentication: a refused or reset connect is safe again
                transient = isinstance(exc, (ConnectionRefusedError, ConnectionResetError))
                error = ConnectionFailed(f"ssh to {address}:{port}: {_reason(exc, timeout)}",
                                         host, transient=transient)
                delay = retry.next_delay(error, attempt, deadline - time.monotonic())
                if delay is None:
                    raise error from exc
            await asyncio.sleep(delay)
            attempt += 1

    async def start(
        self, index: int, host: str, argv: Sequence[str], stdout: Sink, stderr: Sink,
        flow: Optional[Flow] = None, env: Optional[Mapping[str, str]] = None,
    ) -> RemoteProcess:
        s = self.settings
        address, port = self._where.get(host) or self.endpoint(host)
        command = remote_command(argv, s.heartbeat_timeout, s.guard, env, s.detachable)
        conn = await self._connect(host, address, port)
        try:
            chan, session = await asyncio.wait_for(conn.create_session(
                lambda: _Session(host, stdout, stderr, flow), command, encoding=None),
                s.connect_timeout)
        except (OSError, asyncssh.Error, asyncio.TimeoutError) as exc:
            conn.abort()
            raise ConnectionFailed(
                f"ssh to {address}:{port}: {_reason(exc, s.connect_timeout)} opening the session",
                host) from exc
        except BaseException:
            conn.abort()
            raise
        inner = SshProcess(host, command, conn, chan, cast(_Session, session))
        return cast(RemoteProcess, GuardedProcess(inner, s.heartbeat_interval))  # type: ignore[arg-type]

    async def close(self) -> None:
        pass

    def stats(self) -> dict[str, int]:
        return {}

