"""Python API of the local cluster: `Cluster.up(...)`, `.down()`, and test back doors.

The CLI, the test fixture and the demo all go through here. `up` prepares the
state directory (TLS, tokens, config), starts the daemon detached and waits
until every pod is Ready and the API answers; `down` removes everything a
cluster made, also after a crash (pidfiles, command lines, namespace names).
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import pwd
import secrets
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Mapping, Optional, Sequence, Union

from . import netns
from .config import ClusterConfig, pick_subnet_index
from .errors import ClusterExistsError, ClusterNotFoundError, DaemonError, NotRootError
from .faults import check_exec_errors
from .hostsfile import ordinal_key
from .layout import (
    NAMESPACE,
    NETNS_PREFIX,
    POD_HPC_ROOT,
    POD_SECRETS_ROOT,
    POD_USER,
    STATE_ROOT,
    StateDir,
    bridge_netns,
    venv_dir,
)
from .podenv import login_profile, pod_environment
from .podrbac import render_pod_rbac
from .private import make_private_dir, write_private
from .tls import make_tls
from .users import check_venv_usable, ensure_user

Progress = Callable[[str], None]
HOST_MOUNTPOINTS = (Path(POD_HPC_ROOT), Path(POD_SECRETS_ROOT))
PAUSE_MODULE = "kube_pmix.local.pause"
DAEMON_MODULE = "kube_pmix.local.daemon"


def require_root() -> None:
    if os.geteuid() != 0:
        raise NotRootError("the local cluster needs root (network, mount and pid namespaces, "
                           "veth pairs); run it with sudo or as root")


def _cmdline(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
    except OSError:
        return []


def daemon_pid(state: StateDir) -> Optional[int]:
    """The live daemon's pid, checked by command line (pids get reused)."""
    try:
        pid = int(state.daemon_pid.read_text())
    except (OSError, ValueError):
        return None
    line = _cmdline(pid)
    return pid if DAEMON_MODULE in line and state.root.name in line else None


def owned_by_other_live_process(name: str) -> bool:
    """True when cluster `name` runs and the process that brought it up is alive and not us."""
    state = StateDir.of(name)
    if daemon_pid(state) is None:
        return False
    try:
        owner = int(state.owner.read_text())
    except (OSError, ValueError):
        return False
    return owner != os.getpid() and Path(f"/proc/{owner}").exists()


def pause_pids(name: str) -> list[int]:
    """Pause processes of cluster `name`, found by command line: works after a crash too."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            line = _cmdline(int(entry.name))
            if PAUSE_MODULE in line and "--cluster" in line:
                i = line.index("--cluster")
                if i + 1 < len(line) and line[i + 1] == name:
                    found.append(int(entry.name))
    return found


def list_netns() -> list[str]:
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    return [line.split()[0] for line in out.splitlines() if line.strip()]


def _wait_gone(pids: Sequence[int], timeout: float) -> list[int]:
    deadline = time.monotonic() + timeout
    alive = list(pids)
    while alive and time.monotonic() < deadline:
        time.sleep(0.05)
        alive = [p for p in alive if Path(f"/proc/{p}").exists() and _cmdline(p) != [""]]
    return alive


def _remove_host_mountpoints() -> None:
    """The empty mountpoint folders `up` made, once no cluster needs them any more."""
    if STATE_ROOT.exists() and any(STATE_ROOT.iterdir()):
        return
    for folder in HOST_MOUNTPOINTS:
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
        if _wait_gone([pid], 20):
            os.kill(pid, signal.SIGKILL)
            _wait_gone([pid], 5)
    leftovers = pause_pids(name)
    for p in leftovers:
        with contextlib.suppress(ProcessLookupError):
            os.kill(p, signal.SIGKILL)
    _wait_gone(leftovers, 10)
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

    # --- life cycle ---

    @classmethod
    def up(cls, name: str = "kube-pmix", nodes: int = 2, idle_timeout: Optional[float] = None,
           progress: Optional[Progress] = None, timeout: Optional[float] = None,
           exec_errors: Optional[Mapping[int, float]] = None) -> Cluster:
        """Creates and starts cluster `name`; returns once every pod is Ready.

        `exec_errors` ({429: 0.1}) makes the API refuse that share of pods/exec
        requests with that status (see faults.py: deterministic, evenly spread).
        `timeout` defaults to 120 s plus 0.25 s a pod (257 pods took 19 s here).
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
        _prepare_state(state, name, nodes, idle_timeout, entry, venv, errors)
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
        found = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    if os.readlink(f"/proc/{entry.name}/ns/pid") == target:
                        found.append(int(entry.name))
                except OSError:
                    continue
        return found

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


def _prepare_state(state: StateDir, name: str, nodes: int, idle_timeout: Optional[float],
                   entry: pwd.struct_passwd, venv: Path, exec_errors: Mapping[int, float]) -> None:
    for folder in HOST_MOUNTPOINTS:  # empty mountpoints; each pod mounts its own over them
        folder.mkdir(mode=0o755, exist_ok=True)
    # 0700: the state holds every token; pods see their files through bind mounts, which
    # do not need the folders above them to be searchable
    STATE_ROOT.mkdir(mode=0o700, parents=True, exist_ok=True)
    taken = []
    for other in STATE_ROOT.iterdir():
        try:
            taken.append(ClusterConfig.load(other / "config.json").subnet_index)
        except (OSError, ValueError, TypeError):
            continue
    make_private_dir(state.root)
    config = ClusterConfig(
        name=name, nodes=nodes, subnet_index=pick_subnet_index(name, taken),
        idle_timeout=idle_timeout, admin_token=secrets.token_urlsafe(32),
        sa_token=secrets.token_urlsafe(32), restricted_token=secrets.token_urlsafe(32),
        venv=str(venv), uid=entry.pw_uid, gid=entry.pw_gid, home=entry.pw_dir,
        user=entry.pw_name, exec_errors={str(c): s for c, s in exec_errors.items()},
    )
    config.save(state.config)
    state.rbac.write_text(json.dumps(render_pod_rbac(nodes), indent=1))
    from ipaddress import IPv4Address

    tls = make_tls(name, [IPv4Address("127.0.0.1"), config.gateway])
    state.ca_cert.write_bytes(tls.ca_cert_pem)
    state.server_cert.write_bytes(tls.server_cert_pem)
    write_private(state.server_key, tls.server_key_pem)
    write_private(state.restricted_token, config.restricted_token + "\n")
    # The pods' service account belongs to the pod user, who reads it in every pod
    # through the read-only bind mount at the in-pod path (as a projected volume with
    # fsGroup would); nobody else on this machine can.
    pod_user = (entry.pw_uid, entry.pw_gid)
    sa = state.service_account
    make_private_dir(sa, pod_user)
    write_private(sa / "token", config.sa_token, pod_user)
    write_private(sa / "ca.crt", tls.ca_cert_pem, pod_user)
    write_private(sa / "namespace", NAMESPACE, pod_user)
    state.hpc_etc.mkdir(mode=0o755)
    state.hosts.write_text("")
    state.hosts.chmod(0o644)
    host_profile = Path("/etc/profile")
    if host_profile.is_file():
        state.profile.write_text(login_profile(host_profile.read_text(), str(venv)))
        state.profile.chmod(0o644)


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
