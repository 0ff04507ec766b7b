"""The launcher's settings: flags before `--` or K8SGO_* environment variables (see cli)."""

from __future__ import annotations

from typing import NamedTuple, Optional

DEFAULT_SSH_PORT = 2222  # the unprivileged sshd of the images (and of the paper)


class Settings(NamedTuple):
    transport: str = "k8s"
    namespace: Optional[str] = None
    container: Optional[str] = None
    kubeconfig: Optional[str] = None
    context: Optional[str] = None
    # Concurrent set-ups (TLS + upgrade, or ssh handshake + auth), not running daemons:
    # enough to keep the API server busy, few enough not to have thousands of handshakes
    # time out together.
    concurrency: int = 64
    connect_timeout: float = 20.0
    # How long one daemon's set-up may take, retries of transient refusals (429, 5xx,
    # connection refused/reset, before the daemon could have started) included; each
    # attempt also gets at most what is left of it.
    retry_deadline: float = 60.0
    heartbeat_interval: float = 5.0
    heartbeat_timeout: float = 30.0
    grace: float = 2.0
    guard: str = "kubexec-guard"
    ssh_port: Optional[int] = None
    ssh_user: Optional[str] = None
    ssh_config: tuple[str, ...] = ()
    keep_going: bool = False
    # A pipe from our caller (plm/k8sgo): its EOF means the daemons are being ended on
    # purpose, or the caller is gone; until then any daemon exit is a failure.
    lifeline_fd: Optional[int] = None
    # Where to write the trace (launchers.k8sgo.trace): one JSON line per event.
    trace: Optional[str] = None
    # Launcher processes, each holding a slice of the daemons (launchers.k8sgo.workers);
    # 0: one per thousand daemons, up to the CPUs we may use.
    workers: int = 0
    # The daemons' guards can detach (kubexec-guard --detachable): DETACH_SIGNAL then ends
    # every session and leaves the daemons running (docs/scaling.md, closing the sessions).
    detachable: bool = False


ID_VARIABLE = "PRTE_ESS_K8SGO_ID"


def daemon_env(index: int) -> dict[str, str]:
    """What daemon `index` gets in its environment beside PRRTE's argv, which it runs word
    for word: its id, handed to the in-pod guard (`--env`), which starts it with it."""
    return {ID_VARIABLE: str(index)}
