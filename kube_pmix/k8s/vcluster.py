"""A virtual cluster of the project's manifests, deployed on a real test bed.

What the tests and benchmarks need to use it as they use a local cluster: the
same names (`kubeconfig`, `compute_pods`, `login_pod`, `ip`), and the back doors
`pod_exec` and `pod_pids`. `pod_exec` as the pod user is a real `kubectl exec`
(the container already runs as that user); as root it enters the container's
namespaces from the node, as a kubelet's runtime does. `pod_pids` reads the
pod's cgroup: every process of the pod, its pause included.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence, Union

from kube_pmix import names
from kube_pmix.local.private import write_private

from . import cgroups
from .cluster import K8sCluster
from .kubeconfigs import token_kubeconfig


def _venv() -> str:
    return str(Path(sys.executable).parent.parent)


@dataclass
class VirtualCluster:
    """The kubectl-family variant VARIANT deployed in NAMESPACE of test bed `bed`."""

    bed: K8sCluster
    variant: str = "kubectl"
    namespace: str = names.NAMESPACE
    venv: str = field(default_factory=_venv)
    compute_pods: list[str] = field(default_factory=list)
    login_pod: str = ""

    @property
    def name(self) -> str:
        return f"{self.bed.name}/{self.namespace}"

    @property
    def kubeconfig(self) -> str:
        return self.bed.kubeconfig

    @property
    def restricted_kubeconfig(self) -> str:
        return self.bed.restricted_kubeconfig

    @property
    def registry(self) -> str:
        return self.bed.registry

    @property
    def registry_in_cluster(self) -> str:
        return self.bed.registry_in_cluster

    @property
    def registry_ca(self) -> str:
        return self.bed.ca

    def kubectl(self, *args: str, input: Optional[str] = None, timeout: float = 120,
                check: bool = True) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(["kubectl", "--kubeconfig", self.kubeconfig, "-n",
                               self.namespace, *args], input=input, capture_output=True,
                              text=True, timeout=timeout, check=False)
        if check and done.returncode != 0:
            raise RuntimeError(f"kubectl {' '.join(args)}: {done.stderr.strip()[-500:]}")
        return done

    # --- life cycle ---

    def deploy(self, registry: str, tag: str, replicas: int, timeout: float = 600) -> None:
        env = {**os.environ, "KUBECONFIG": self.kubeconfig}
        done = subprocess.run(
            [str(Path(self.venv) / "bin" / "kube-pmix"), "deploy", self.variant,
             "--namespace", self.namespace, "--replicas", str(replicas), "--registry", registry,
             "--tag", tag, "--wait"], env=env, capture_output=True, text=True,
            timeout=timeout, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"deploy {self.variant}: {done.stderr.strip()[-2000:]}")
        self.refresh()

    def undeploy(self, timeout: float = 300) -> None:
        self.kubectl("delete", "namespace", self.namespace, "--ignore-not-found",
                     "--wait=true", timeout=timeout)

    def refresh(self) -> None:
        pods = self.pods()
        self.compute_pods = sorted(
            (n for n, p in pods.items() if p["metadata"]["labels"].get("hpcnode") ==
             "compute-node"), key=lambda n: int(n.rsplit("-", 1)[1]))
        logins = [n for n, p in pods.items()
                  if p["metadata"]["labels"].get("hpcnode") == "login-node"
                  and p["status"].get("phase") == "Running"]
        self.login_pod = logins[0] if logins else ""

    # --- what the API says ---

    def pods(self) -> dict[str, dict[str, Any]]:
        items = json.loads(self.kubectl("get", "pods", "-o", "json").stdout)["items"]
        return {p["metadata"]["name"]: p for p in items}

    def _pod(self, pod: str) -> dict[str, Any]:
        return dict(json.loads(self.kubectl("get", "pod", pod, "-o", "json").stdout))

    def ip(self, pod: str) -> str:
        return str(self._pod(pod)["status"]["podIP"])

    def container(self, pod: str) -> str:
        return names.LOGIN_CONTAINER if pod == self.login_pod else names.COMPUTE_CONTAINER

    @property
    def service_account_kubeconfig(self) -> str:
        """A kubeconfig with a token of the pods' service account (made on first use): the
        rights of the manifests' Role, as the local cluster's file of the same name."""
        path = self.bed.state.kubeconfig(f"sa-{self.namespace}")
        if not path.exists():
            token = self.kubectl("create", "token", names.SERVICE_ACCOUNT,
                                 "--duration=24h").stdout.strip()
            ca = Path(self.bed.ca).read_bytes()
            write_private(path, token_kubeconfig(self.bed.plan.api_here, ca, token,
                                                 self.namespace))
        return str(path)

    def delete_pod(self, name: str) -> None:
        self.kubectl("delete", "pod", name, "--wait=false")

    # --- back doors for tests ---

    def _pod_cgroup_procs(self, pod: str) -> list[int]:
        uid = self._pod(pod)["metadata"]["uid"]
        found: list[int] = []
        root = self.bed.plan.cgroup_root.lstrip("/")
        for hierarchy in cgroups.hierarchies():
            if hierarchy.name != "pids":
                continue
            for dirpath, _, files in os.walk(hierarchy / root):
                if f"pod{uid}" in dirpath and "cgroup.procs" in files:
                    text = (Path(dirpath) / "cgroup.procs").read_text()
                    found += [int(p) for p in text.split()]
        return sorted(set(found))

    def pod_pids(self, pod: str) -> list[int]:
        """Host pids of every process in the pod, its pause process included."""
        try:
            return self._pod_cgroup_procs(pod)
        except (RuntimeError, OSError):
            return []

    def main_pid(self, pod: str) -> int:
        """A host pid inside the pod's main container (its first process)."""
        mine = [p for p in self.pod_pids(pod) if _comm(p) != "pause"]
        if not mine:
            raise RuntimeError(f"no process of {pod}'s container found")
        return min(mine, key=_start_time)

    def pod_exec(
        self, pod: str, command: Union[str, Sequence[str]], *, user: str = names.POD_USER,
        env: Optional[Mapping[str, str]] = None, input: Optional[str] = None,
        timeout: float = 60,
    ) -> subprocess.CompletedProcess[str]:
        argv = ["/bin/sh", "-c", command] if isinstance(command, str) else list(command)
        prefix = ["env", *(f"{k}={v}" for k, v in (env or {}).items())] if env else []
        if user == "root":
            pid = self.main_pid(pod)
            full = ["nsenter", "-t", str(pid), "-m", "-u", "-i", "-n", "-p", "--",
                    *prefix, *argv]
            return subprocess.run(full, input=input, capture_output=True, text=True,
                                  timeout=timeout, check=False)
        if user != names.POD_USER:
            raise ValueError(f"pods of the real test bed run as {names.POD_USER} or root")
        full = ["kubectl", "--kubeconfig", self.kubeconfig, "-n", self.namespace, "exec",
                *(["-i"] if input is not None else []), pod, "-c", self.container(pod), "--",
                *prefix, *argv]
        done = subprocess.run(full, input=input, capture_output=True, text=True,
                              timeout=timeout, check=False)
        # kubectl reports a non-zero exit on its own stderr line; the command's stderr is what
        # a caller compares, as the local cluster's back door gives it.
        trailer = f"command terminated with exit code {done.returncode}\n"
        if done.returncode != 0 and done.stderr.endswith(trailer):
            done.stderr = done.stderr[: -len(trailer)]
        return done

    def wait_gone(self, timeout: float = 120) -> list[str]:
        """Pods of the namespace still there after `timeout`."""
        deadline = time.monotonic() + timeout
        left: list[str] = []
        while time.monotonic() < deadline:
            done = self.kubectl("get", "pods", "-o", "name", check=False)
            left = done.stdout.split() if done.returncode == 0 else []
            if not left:
                return []
            time.sleep(1)
        return left


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def _start_time(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19])
    except (OSError, IndexError, ValueError):
        return 1 << 62

