"""The local cluster's image registry: Debian's `docker-registry` (the CNCF Distribution server).

One registry process per cluster listens on 127.0.0.1 (the host pushes there),
and the daemon forwards a port on the cluster network to it, so that pods pull
from `registry.kube-pmix.local:5000` (a name in every pod's /etc/hosts) with
plain `podman pull`. TLS end to end, with a certificate from the cluster's CA,
which every pod's podman trusts through its own /etc/containers/certs.d. The
data lives in the cluster's state directory and goes with `down`.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
from pathlib import Path
from typing import Optional

from kube_pmix import relay

from .errors import SetupError

NAME = "registry.kube-pmix.local"
IN_CLUSTER_PORT = 5000
IN_CLUSTER = f"{NAME}:{IN_CLUSTER_PORT}"
BINARY = "docker-registry"


def binary() -> str:
    found = shutil.which(BINARY) or (f"/usr/bin/{BINARY}" if Path(f"/usr/bin/{BINARY}").exists()
                                     else None)
    if found is None:
        raise SetupError(f"{BINARY} is missing: apt-get install docker-registry "
                              "(scripts/install-system-deps.sh)")
    return found


def config_text(data_dir: Path, port: int, cert: Path, key: Path) -> str:
    """The registry's configuration: filesystem storage, TLS, loopback only, quiet.

    No debug listener and no other port; deletes are enabled so that tests can
    remove what they pushed.
    """
    return (
        "version: 0.1\n"
        "log:\n"
        "  level: warn\n"
        "  accesslog:\n"
        "    disabled: true\n"
        "storage:\n"
        "  filesystem:\n"
        f"    rootdirectory: {data_dir}\n"
        "  delete:\n"
        "    enabled: true\n"
        "http:\n"
        f"  addr: 127.0.0.1:{port}\n"
        "  tls:\n"
        f"    certificate: {cert}\n"
        f"    key: {key}\n"
    )


def argv(config_file: Path) -> list[str]:
    return [binary(), "serve", str(config_file)]


def free_port() -> int:
    """A loopback port free now (the registry binds it a moment later; a clash fails `up`)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def is_registry_of(cmdline: list[str], config_file: Path) -> bool:
    """True when a process command line is this cluster's registry (found again after a crash)."""
    return len(cmdline) >= 3 and cmdline[0].endswith(BINARY) and cmdline[-1] == str(config_file)


async def serve_forwarder(sock: socket.socket, port: int) -> asyncio.AbstractServer:
    """Relay connections accepted on `sock` (on the cluster network) to 127.0.0.1:`port`.

    Bytes only: TLS is between the pod's podman and the registry.
    """
    return await relay.serve(sock, "127.0.0.1", port)


async def start(config_file: Path, log_file: Path) -> asyncio.subprocess.Process:
    """The registry process, its output appended to `log_file`."""
    with open(log_file, "ab") as log:
        return await asyncio.create_subprocess_exec(
            *argv(config_file), stdin=asyncio.subprocess.DEVNULL, stdout=log, stderr=log,
            start_new_session=True,
        )


async def wait_listening(port: int, proc: asyncio.subprocess.Process,
                         timeout: float = 20) -> Optional[str]:
    """None once 127.0.0.1:`port` accepts; else why not (the process died, or time ran out)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        if proc.returncode is not None:
            return f"the registry exited with status {proc.returncode}"
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(0.05)
            continue
        writer.close()
        return None
    return f"the registry did not listen on 127.0.0.1:{port} within {timeout:g} s"


async def stop(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            proc.terminate()
        try:
            await asyncio.wait_for(proc.wait(), 5)
        except asyncio.TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
