"""The paper's eight virtual clusters on the real Kubernetes test bed, as a user types them.

One after another, each in a namespace of its own, from the session's images:
`make push-images` into the bed's registry (pushed to the address this machine
reaches it by, named for the one pods pull from), `make deploy-VARIANT`,
`make get-waitfor-log`, the paper's listings through `make login-VARIANT
COMMAND=...` (the code path of an interactive `make login`), then
`make undeploy-VARIANT`, after which nothing of the cluster is left in the
namespace or on the node. The -unpriv variants get /dev/fuse from our fuse
device plugin, deployed from the runtime image as a DaemonSet; without it,
`make login` says at once why their pods cannot start.
"""

from __future__ import annotations

import collections
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Iterator

import pytest

from tests.fixtures.images import FAMILY, REPO, VENV

pytestmark = [pytest.mark.k8s, pytest.mark.mpi, pytest.mark.podman, pytest.mark.timeout(1800)]

REPLICAS = 3  # what one 2-core node schedules beside the login pod (tests/fixtures/k8s.py)
INIT_FINALIZE = "/opt/hpc/examples/bin/init_finalize"
WRAP = "/opt/hpc/local/bin/wrap-container.sh"
VARIANTS = ("ssh", "ssh-with-mpi", "ssh-with-podman", "ssh-with-podman-unpriv",
            "kubectl", "kubectl-with-mpi", "kubectl-with-podman", "kubectl-with-podman-unpriv")


def make(bed, *args: str, timeout: float = 900, **variables: str
         ) -> subprocess.CompletedProcess[str]:
    # the bed's registry has a CA of its own: podman in the pods is given it
    env = {**os.environ, "KUBECONFIG": bed.kubeconfig, "IMAGE_REGISTRY_CA": bed.ca,
           "PATH": f"{VENV}/bin:{os.environ['PATH']}"}
    argv = ["make", "--no-print-directory", "-s", "-C", str(REPO), *args,
            *(f"{k}={v}" for k, v in variables.items())]
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=timeout,
                          check=False)


def kubectl(bed, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["kubectl", "--kubeconfig", bed.kubeconfig, *args],
                          capture_output=True, text=True, timeout=timeout, check=False)


@pytest.fixture(scope="module")
def pushed(k8s_cluster, built_images, podman_user) -> str:
    """`make push-images` of the session's images, as their owner, to the bed's registry
    through this machine's relay; returns the registry prefix pods pull from."""
    with tempfile.TemporaryDirectory(prefix="kube-pmix-certs-") as certs:
        os.chmod(certs, 0o755)
        shutil.copyfile(k8s_cluster.ca, Path(certs) / "ca.crt")
        os.chmod(Path(certs) / "ca.crt", 0o644)
        names = " ".join(FAMILY)
        done = podman_user.run(
            ["make", "--no-print-directory", "-s", "-C", str(REPO), "push-images",
             f"IMAGE_REGISTRY={built_images.registry}", f"IMAGE_TAG_NAME={built_images.tag}",
             f"IMAGE_PUSH_REGISTRY={k8s_cluster.registry}/kube-pmix",
             f"IMAGE_PUSH_CMD=podman push -q --cert-dir {certs}"],
            env={"KUBE_PMIX_IMAGE_RECORD": str(_record(built_images, names))}, timeout=1200)
    assert done.returncode == 0, done.stderr[-3000:]
    pushed_lines = [line for line in done.stderr.splitlines() if line.startswith("podman push")]
    assert len(pushed_lines) == len(FAMILY), done.stderr
    assert all(f" {k8s_cluster.registry}/kube-pmix/k8s-" in line for line in pushed_lines)
    return f"{k8s_cluster.registry_in_cluster}/kube-pmix"


def _record(built_images, names: str) -> Path:
    """The record `make images` would have left for these images (the session built them)."""
    path = Path(tempfile.gettempdir()) / f"kube-pmix-variants-{built_images.tag}.json"
    path.write_text(json.dumps({"registry": built_images.registry, "tag": built_images.tag,
                                "built": names.split()}))
    path.chmod(0o644)
    return path


@pytest.fixture
def fuse_plugin(k8s_cluster, pushed, built_images) -> Iterator[None]:
    """Our fuse device plugin, deployed as `make deploy-fuse-plugin` does."""
    done = make(k8s_cluster, "deploy-fuse-plugin", IMAGE_REGISTRY=pushed,
                IMAGE_TAG_NAME=built_images.tag)
    assert done.returncode == 0, done.stderr
    try:
        yield
    finally:
        done = make(k8s_cluster, "undeploy-fuse-plugin", IMAGE_REGISTRY=pushed,
                    IMAGE_TAG_NAME=built_images.tag)
        assert done.returncode == 0, done.stderr


class Deployed:
    """One variant deployed by make, entered by `make login-VARIANT COMMAND=...`."""

    def __init__(self, bed, variant: str, registry: str, tag: str) -> None:
        self.bed, self.variant = bed, variant
        self.vars = {"NAMESPACE": f"vc-{variant}", "REPLICAS": str(REPLICAS),
                     "IMAGE_REGISTRY": registry, "IMAGE_TAG_NAME": tag}

    @property
    def namespace(self) -> str:
        return self.vars["NAMESPACE"]

    def make(self, target: str, timeout: float = 900, **extra: str
             ) -> subprocess.CompletedProcess[str]:
        return make(self.bed, f"{target}-{self.variant}" if target in (
            "deploy", "login", "undeploy") else target, timeout=timeout,
            **{**self.vars, **extra})

    def login(self, command: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        return self.make("login", timeout=timeout, COMMAND=command)

    def compute_pods(self) -> list[str]:
        return [f"hpc-cn-{i}" for i in range(REPLICAS)]

    def left_in_namespace(self) -> list[str]:
        done = kubectl(self.bed, "-n", self.namespace, "get",
                       "pods,statefulsets,jobs,services,secrets,roles,rolebindings,"
                       "networkpolicies,serviceaccounts,configmaps", "-o", "name")
        assert done.returncode == 0, done.stderr
        # what Kubernetes puts in every namespace
        return [n for n in done.stdout.split()
                if n not in ("serviceaccount/default", "configmap/kube-root-ca.crt")]

    def _crictl(self, *args: str) -> list[dict]:
        """crictl ... -o json inside the bed's mount namespace (where containerd's socket
        is), its items."""
        from kube_pmix.k8s.cluster import daemon_pid

        pid = daemon_pid(self.bed.state)
        assert pid is not None, f"the daemon of {self.bed.name} is gone"
        done = subprocess.run(["nsenter", "-t", str(pid), "-m", "--",
                               self.bed.plan.bin("crictl"), "--runtime-endpoint",
                               f"unix://{self.bed.state.containerd_socket}", *args, "-o",
                               "json"], capture_output=True, text=True, timeout=60,
                              check=False)
        assert done.returncode == 0, done.stderr
        data = json.loads(done.stdout)
        return list(data.get("items") or data.get("containers") or [])

    def running_on_node(self) -> list[str]:
        """Containers of the namespace that still run."""
        found = self._crictl("ps", "--label", f"io.kubernetes.pod.namespace={self.namespace}")
        return [c["metadata"]["name"] for c in found]

    def left_on_node(self, timeout: float = 300) -> list[str]:
        """Pod sandboxes of the namespace still on the node after TIMEOUT: the kubelet
        removes those of deleted pods in its garbage collection, a minute or so later."""
        deadline = time.monotonic() + timeout
        while True:
            left = [p["metadata"]["name"]
                    for p in self._crictl("pods", "--namespace", self.namespace)]
            if not left or time.monotonic() > deadline:
                return left
            time.sleep(5)


def counted(text: str) -> collections.Counter:
    return collections.Counter(text.split())


def size_line(size: int) -> str:
    return rf"^\s*0\) Size: {size} \(Running\)$"


@pytest.mark.parametrize("variant", VARIANTS)
def test_variant_as_a_user_types_it(k8s_cluster, pushed, built_images, variant, request):
    from kube_pmix.vcluster.variants import variant as lookup

    the_variant = lookup(variant)
    if the_variant.fuse:
        request.getfixturevalue("fuse_plugin")
    vc = Deployed(k8s_cluster, variant, pushed, built_images.tag)
    done = vc.make("deploy")
    assert done.returncode == 0, done.stderr
    try:
        _listings(vc, the_variant)
    finally:
        done = vc.make("undeploy")
        assert done.returncode == 0, done.stderr
        assert vc.left_in_namespace() == []
        assert vc.running_on_node() == []  # at once: the pods' containers are stopped
        assert vc.left_on_node() == []
        kubectl(k8s_cluster, "delete", "namespace", vc.namespace, "--wait=true", timeout=300)


def _listings(vc: Deployed, the_variant) -> None:
    pods = vc.compute_pods()
    # the first login waits for the login pod (the waiter wrote the hostfiles)
    result = vc.login("prterun --map-by ppr:2:node hostname")
    assert result.returncode == 0, result.stderr
    assert counted(result.stdout) == {pod: 2 for pod in pods}, result.stdout
    log = vc.make("get-waitfor-log")
    assert log.returncode == 0 and f"({REPLICAS} hosts)" in log.stdout + log.stderr, log.stderr
    # the k8sgo FAQ's two lines: plm/k8sgo hands every daemon to one launcher
    result = vc.login("export PRTE_MCA_plm_k8sgo_launch_script=/opt/hpc/bin/basic_launcher; "
                      "prterun --map-by ppr:2:node hostname")
    assert result.returncode == 0, result.stderr
    assert counted(result.stdout) == {pod: 2 for pod in pods}, result.stdout
    # bare pod names resolve (the service's search domain), as in a hostfile
    result = vc.login(f"getent hosts {pods[-1]} && hostname -f")
    assert result.returncode == 0 and pods[-1] in result.stdout, result.stderr
    result = vc.login("prte --daemonize && prun --map-by ppr:1:node hostname; s=$?; "
                      "pterm; exit $s")
    assert result.returncode == 0, result.stderr
    assert counted(result.stdout) == {pod: 1 for pod in pods}, result.stdout
    size = 2 * len(pods)
    if the_variant.image == "k8s-mpi-with-runtime":
        result = vc.login(f"prterun --personality ompi --map-by ppr:2:node {INIT_FINALIZE}")
        assert result.returncode == 0, result.stderr
        assert re.search(size_line(size), result.stdout, re.M), result.stdout
    if the_variant.podman:
        _separated_model(vc, pods, size)


def _separated_model(vc: Deployed, pods: list[str], size: int) -> None:
    result = vc.login("podman pull -q $MPI_IMAGE && "
                      "prterun --map-by ppr:1:node podman pull -q $MPI_IMAGE")
    assert result.returncode == 0, result.stderr
    ids = result.stdout.split()
    assert len(ids) == 1 + len(pods) and len(set(ids)) == 1, result.stdout  # one image
    # the storage driver the variant asked for, also in a session of the launcher
    driver = "vfs" if not vc.variant.endswith("-unpriv") else "overlay"
    result = vc.login("prterun --map-by ppr:1:node "
                      "podman info --format '{{.Store.GraphDriverName}}'")
    assert result.returncode == 0 and counted(result.stdout) == {driver: len(pods)}, (
        result.stdout + result.stderr)
    result = vc.login(f"prterun --personality ompi --map-by ppr:2:node -x MPI_IMAGE "
                      f"{WRAP} {INIT_FINALIZE}")
    assert result.returncode == 0, result.stderr
    assert re.search(size_line(size), result.stdout, re.M), result.stdout
    # the FAQ's prun injection: prun inside the application container, the outer DVM
    result = vc.login(f"prte --daemonize --report-uri /tmp/find-me.txt && "
                      f"{WRAP} --prun --dvm-uri /tmp/find-me.txt prun --personality ompi "
                      f"--map-by ppr:2:node hostname; s=$?; pterm; exit $s")
    assert result.returncode == 0, result.stderr
    assert counted(result.stdout) == {pod: 2 for pod in pods}, result.stdout


def test_unpriv_without_the_fuse_plugin_login_says_why_at_once(k8s_cluster, pushed,
                                                                built_images):
    """No plugin deployed (the -unpriv variants deploy theirs for themselves only): the
    pods ask for github.com/fuse, which no node offers."""
    vc = Deployed(k8s_cluster, "kubectl-with-podman-unpriv", pushed, built_images.tag)
    vc.vars["NAMESPACE"] = "vc-no-fuse"
    vc.vars["REPLICAS"] = "1"
    done = vc.make("deploy")
    assert done.returncode == 0, done.stderr
    try:
        result = vc.login("true", timeout=300)
        assert result.returncode != 0
        assert ("needs github.com/fuse, which no node offers: deploy the fuse device plugin"
                in result.stderr), result.stderr
    finally:
        assert vc.make("undeploy").returncode == 0
        kubectl(k8s_cluster, "delete", "namespace", vc.namespace, "--wait=true", timeout=300)



def test_a_tenant_deploys_into_the_namespace_it_was_given(k8s_cluster, pushed, built_images,
                                                          tmp_path):
    """Rights in one namespace only (the built-in `admin` role there, nothing cluster-wide):
    `--existing-namespace` deploys, logs in (no node list: the device check is skipped)
    and undeploys."""
    from kube_pmix.k8s.kubeconfigs import token_kubeconfig

    ns = "vc-tenant"
    setup = (f"apiVersion: v1\nkind: Namespace\nmetadata: {{name: {ns}}}\n---\n"
             f"apiVersion: v1\nkind: ServiceAccount\nmetadata: {{name: tenant, namespace: {ns}}}\n"
             f"---\napiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\n"
             f"metadata: {{name: tenant-admin, namespace: {ns}}}\n"
             f"roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: admin}}\n"
             f"subjects: [{{kind: ServiceAccount, name: tenant, namespace: {ns}}}]\n")
    done = subprocess.run(["kubectl", "--kubeconfig", k8s_cluster.kubeconfig, "apply", "-f", "-"],
                          input=setup, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    try:
        token = kubectl(k8s_cluster, "-n", ns, "create", "token", "tenant").stdout.strip()
        config = tmp_path / "tenant.kubeconfig"
        config.write_text(token_kubeconfig(k8s_cluster.plan.api_here,
                                           Path(k8s_cluster.ca).read_bytes(), token, ns))
        vc = Deployed(k8s_cluster, "kubectl-with-mpi", pushed, built_images.tag)
        vc.vars.update(NAMESPACE=ns, REPLICAS="1")
        env_config = {"KUBECONFIG": str(config)}
        refused = make(k8s_cluster, "deploy-kubectl-with-mpi", **vc.vars, **env_config)
        # without --existing-namespace the Namespace object is applied: forbidden
        assert refused.returncode != 0 and "forbidden" in refused.stderr, refused.stderr
        done = make(k8s_cluster, "deploy-kubectl-with-mpi", **vc.vars, **env_config,
                    DEPLOY_ARGS="--existing-namespace")
        assert done.returncode == 0, done.stderr
        result = make(k8s_cluster, "login-kubectl-with-mpi", **vc.vars, **env_config,
                      COMMAND="prterun --map-by ppr:2:node hostname")
        assert result.returncode == 0, result.stderr
        assert counted(result.stdout) == {"hpc-cn-0": 2}, result.stdout
        done = make(k8s_cluster, "undeploy-kubectl-with-mpi", **vc.vars, **env_config,
                    DEPLOY_ARGS="--existing-namespace")
        assert done.returncode == 0, done.stderr
        # what the namespace's owner made for the tenant, nothing of the cluster
        assert sorted(vc.left_in_namespace()) == [
            "rolebinding.rbac.authorization.k8s.io/tenant-admin", "serviceaccount/tenant"]
    finally:
        kubectl(k8s_cluster, "delete", "namespace", ns, "--wait=true", timeout=300)


@pytest.mark.skipif(not os.environ.get("KUBE_PMIX_GROMACS"),
                    reason="k8s-gromacs compiles for about 55 min here (21 min of CPU), over "
                           "CI's budget: KUBE_PMIX_GROMACS=1 runs it")
def test_gromacs_runs_mdrun_across_pods_each_rank_in_its_container(
        k8s_cluster, pushed, built_images, podman_user, request):
    """The separated model with a real application: k8s-gromacs as MPI_IMAGE, gmx_mpi
    mdrun on the water input the image made, one rank per pod, 20 steps."""
    done = podman_user.run(
        [str(VENV / "bin" / "kube-pmix"), "images", "build", "gromacs", "--no-parents",
         "--registry", built_images.registry, "--tag", built_images.tag],
        cwd=str(REPO), timeout=7200, env={"KUBE_PMIX_IMAGE_RECORD": os.devnull})
    assert done.returncode == 0, done.stderr[-3000:]
    with tempfile.TemporaryDirectory(prefix="kube-pmix-certs-") as certs:
        os.chmod(certs, 0o755)
        shutil.copyfile(k8s_cluster.ca, Path(certs) / "ca.crt")
        os.chmod(Path(certs) / "ca.crt", 0o644)
        done = podman_user.run(["podman", "push", "-q", "--cert-dir", certs,
                                built_images.ref("gromacs"),
                                f"{k8s_cluster.registry}/kube-pmix/k8s-gromacs:"
                                f"{built_images.tag}"], timeout=1200)
    assert done.returncode == 0, done.stderr
    request.getfixturevalue("fuse_plugin")
    vc = Deployed(k8s_cluster, "kubectl-with-podman-unpriv", pushed, built_images.tag)
    vc.vars.update(NAMESPACE="vc-gromacs", REPLICAS="2")
    assert vc.make("deploy").returncode == 0
    try:
        result = vc.login(
            "export MPI_IMAGE=${MPI_IMAGE%/*}/k8s-gromacs:" + built_images.tag + "; "
            "podman pull -q $MPI_IMAGE && prterun --map-by ppr:1:node podman pull -q "
            "$MPI_IMAGE && prterun --personality ompi --map-by ppr:1:node -x MPI_IMAGE "
            f"{WRAP} /opt/hpc/local/gromacs/bin/gmx_mpi mdrun -nsteps 20 -ntomp 1 "
            "-s /opt/hpc/local/gromacs/examples/water/water.tpr -deffnm /tmp/water",
            timeout=1200)
        assert result.returncode == 0, result.stderr[-3000:]
        assert "Using 2 MPI processes" in result.stdout + result.stderr
        assert "Performance:" in result.stdout + result.stderr
    finally:
        assert vc.make("undeploy").returncode == 0
        kubectl(k8s_cluster, "delete", "namespace", vc.namespace, "--wait=true", timeout=300)


def test_a_deadline_ends_the_cluster_and_the_ttl_removes_it(k8s_cluster, pushed,
                                                            built_images):
    """--deadline (the login Job's activeDeadlineSeconds) and --ttl 0: when the deadline
    passes the Job fails, is deleted at once, and the compute pods go with it (the
    StatefulSet belongs to the Job); what the cluster's pods were given stays."""
    vc = Deployed(k8s_cluster, "kubectl-with-mpi", pushed, built_images.tag)
    vc.vars.update(NAMESPACE="vc-deadline", REPLICAS="1")
    try:
        done = vc.make("deploy", DEPLOY_ARGS="--deadline 90 --ttl 0")
        assert done.returncode == 0, done.stderr
        owners = kubectl(k8s_cluster, "-n", vc.namespace, "get", "statefulset", "hpc-cn", "-o",
                         "jsonpath={.metadata.ownerReferences[*].kind}")
        assert owners.stdout == "Job", owners.stdout + owners.stderr
        # the cluster runs before its deadline
        result = vc.login("prterun --map-by ppr:2:node hostname", timeout=300)
        assert result.returncode == 0, result.stderr
        assert counted(result.stdout) == {"hpc-cn-0": 2}, result.stdout

        def workload() -> list[str]:
            return [n for n in vc.left_in_namespace()
                    if n.split("/")[0].split(".")[0] in ("pod", "statefulset", "job")]

        until = time.monotonic() + 300  # the deadline, the Job's end, the TTL, the GC
        while workload() and time.monotonic() < until:
            time.sleep(5)
        assert workload() == []
        assert sorted(vc.left_in_namespace()) == [
            "networkpolicy.networking.k8s.io/hpc-cluster",
            "role.rbac.authorization.k8s.io/hpc-cluster",
            "rolebinding.rbac.authorization.k8s.io/hpc-cluster",
            "service/hpc-cluster", "serviceaccount/hpc-cluster"]
        # it was the deadline that ended it (the Job's event outlives the Job)
        events = kubectl(k8s_cluster, "-n", vc.namespace, "get", "events", "-o",
                         "jsonpath={.items[*].reason}")
        assert "DeadlineExceeded" in events.stdout.split(), events.stdout + events.stderr
    finally:
        vc.make("undeploy")
        kubectl(k8s_cluster, "delete", "namespace", vc.namespace, "--wait=true", timeout=300)


def test_a_suspended_cluster_starts_when_its_login_job_is_resumed(k8s_cluster, pushed,
                                                                   built_images):
    """--suspend: nothing runs while the login Job is suspended (no compute pod can be
    created: the StatefulSet has no replicas); resuming the Job, as a queue does, starts
    the login pod, which scales the compute pods up, and the cluster works."""
    vc = Deployed(k8s_cluster, "kubectl-with-mpi", pushed, built_images.tag)
    vc.vars.update(NAMESPACE="vc-suspend", REPLICAS="2")
    try:
        done = vc.make("deploy", DEPLOY_ARGS="--suspend")
        assert done.returncode == 0, done.stderr
        held = kubectl(k8s_cluster, "-n", vc.namespace, "get", "job/hpc-cluster-login",
                       "statefulset/hpc-cn", "-o",
                       "jsonpath={.items[0].spec.suspend} {.items[1].spec.replicas}")
        assert held.stdout == "true 0", held.stdout + held.stderr
        assert [n for n in vc.left_in_namespace() if n.startswith("pod/")] == []
        done = kubectl(k8s_cluster, "-n", vc.namespace, "patch", "job", "hpc-cluster-login",
                       "--type=merge", "-p", '{"spec":{"suspend":false}}')
        assert done.returncode == 0, done.stderr
        result = vc.login("prterun --map-by ppr:2:node hostname")
        assert result.returncode == 0, result.stderr
        assert counted(result.stdout) == {"hpc-cn-0": 2, "hpc-cn-1": 2}, result.stdout
    finally:
        assert vc.make("undeploy").returncode == 0
        assert vc.left_in_namespace() == []
        kubectl(k8s_cluster, "delete", "namespace", vc.namespace, "--wait=true", timeout=300)
