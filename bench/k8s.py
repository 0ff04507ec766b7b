"""Benchmark: the same work on the real Kubernetes test bed, beside the local cluster's figures.

    python -m bench.k8s       (root; `make k8s`; builds the images as the pod user when missing)
    BENCH_K8S_PODS=64 (compute pods)   BENCH_SIZES=8,32 (launch)   BENCH_K8S_ROUNDS=3
    BENCH_KUBEXEC_ROUNDS=30

A bed of its own (`kp-bench-k8s`), the `kubectl-with-mpi` virtual cluster on it
from the project's images (pushed into the bed's registry), with N compute
pods: their CPU and memory requests are lowered so that N fit on the bed's one
2-core node (the manifests ask 500m each: three would). The bench code is
copied into the pods (they run images, not this checkout), then, from the login
pod as the pod user, every exec through the real apiserver, kubelet and
containerd:

    kubexec       bench.kubexec's timer: `kubexec POD true` direct and through its
                  control master, against `kubectl exec POD -- true`
    launch        bench.launch's timer at each BENCH_SIZES: k8sgo-launcher (ours-k8s),
                  one `kubectl exec -i` per pod, and the raw exec floor
    prterun       `prterun --map-by ppr:1:node hostname` on all N pods with the
                  images' PRRTE 3.0.8: plm/k8sgo (one launcher) against flat plm/ssh
                  with the seed's `kubectl exec` agent, and with kubexec

Results: bench/results/k8s.json and one line, with this run's local-cluster
figures beside it when bench.kubexec, bench.launch and bench.prterun ran first
(`make bench` runs them first):

    k8s bed: kubexec/kubectl=A master/kubectl=B launch N=32 kubectl-per-host/ours=C
        ours/floor=D prterun N=64 ssh+kubectl/k8sgo=E | local: ...
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import pwd
import shutil
import statistics
import subprocess
import sys
import tarfile
import time
from pathlib import Path
from typing import Any, Iterator, Optional

from bench.record import write_json

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"
BED = "kp-bench-k8s"
POD_USER = "mpiuser"
# per checkout: the pod user's image store is shared by every checkout on this machine,
# and another one's bench must not retag the images this one deploys
TAG = "bench-" + hashlib.sha1(str(REPO).encode()).hexdigest()[:8]
IMAGES = ("mpi-with-runtime", "waitfor")
IN_POD = "/tmp/kp-bench"              # where the bench code lands in each pod (an emptyDir)
STANDIN = f"{IN_POD}/tests/fixtures/standin_prted.sh"
PYTHON = "/opt/hpc/local/kube-pmix/bin/python"
POD_PATH = "/opt/hpc/local/kube-pmix/bin:/opt/hpc/local/bin:/usr/local/bin:/usr/bin:/bin"
PRRTE = "/opt/hpc/local/prrte"
# The seed's kubexec.sh; its waiter wrote bare pod names, ours writes pod.service.namespace
# (what resolves in a pod), so the agent keeps the first label.
KUBECTL_AGENT = ('#!/bin/sh\npod=${1%%.*}; shift\n'
                 'exec kubectl exec "$pod" -- /bin/sh -c "$*"\n')
# What a compute pod asks for here: enough to be scheduled N times on 2 cores and 24 GiB.
DENSE_REQUESTS = {"cpu": "10m", "memory": "64Mi"}


def env_int(name: str, default: int) -> int:
    return int(os.environ.get(name, str(default)))


def launch_sizes() -> list[int]:
    return sorted({int(s) for s in os.environ.get("BENCH_SIZES", "8,32").split(",")
                   if s.strip()})


# --- setting the bed up ---

def built_images() -> None:
    """The images the virtual cluster runs, built as the pod user (podman's layer cache
    makes this cheap after `make test` or an earlier run)."""
    subprocess.run(["make", "-s", "-C", str(REPO), "base-image", "wheelhouse", "prrte-k8sgo",
                    f"BASE_IMAGE_USER={POD_USER}"], check=True)
    user = pwd.getpwnam(POD_USER)
    env = {"HOME": user.pw_dir, "USER": POD_USER, "XDG_RUNTIME_DIR": f"/run/user/{user.pw_uid}",
           "PATH": f"{REPO / '.venv' / 'bin'}:/usr/local/bin:/usr/bin:/bin"}
    subprocess.run(["setpriv", f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}",
                    "--init-groups", "--", str(REPO / ".venv" / "bin" / "kube-pmix"), "images",
                    "build", *IMAGES, "--registry", "localhost/kube-pmix", "--tag", TAG],
                   env=env, cwd=str(REPO), check=True, stdout=subprocess.DEVNULL)


def dense(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rendered manifests with small requests and pulls of what is present (pure)."""
    for obj in objects:
        if obj.get("kind") in ("StatefulSet", "Job"):
            spec = obj["spec"]["template"]["spec"]
            for container in spec.get("containers", []) + spec.get("initContainers", []):
                container.setdefault("resources", {})["requests"] = dict(DENSE_REQUESTS)
                container["imagePullPolicy"] = "IfNotPresent"
    return objects


def deploy(vcluster: Any, pods: int) -> float:
    from kube_pmix.vcluster.render import RenderParams, render, to_yaml

    objects = dense(render(RenderParams(
        "kubectl-with-mpi", namespace=vcluster.namespace, replicas=pods,
        registry=f"{vcluster.registry_in_cluster}/kube-pmix", tag=TAG)))
    start = time.monotonic()
    vcluster.kubectl("apply", "-f", "-", input=to_yaml(objects))
    vcluster.kubectl("wait", "--for=condition=Ready", "pod", "-l", "app=hpc-compute-nodes",
                     f"--timeout={max(300, 4 * pods)}s", timeout=max(320, 4 * pods + 20))
    deadline = time.monotonic() + 300
    while not vcluster.login_pod and time.monotonic() < deadline:
        time.sleep(2)
        vcluster.refresh()
    vcluster.kubectl("wait", "--for=condition=Ready", "pod", vcluster.login_pod,
                     "--timeout=300s", timeout=320)
    vcluster.refresh()
    return time.monotonic() - start


def bench_tar() -> bytes:
    """bench/ and the stand-in daemon, as a tar for the pods."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        tar.add(REPO / "bench", "bench", filter=lambda t: None if "__pycache__" in t.name
                or "/results" in t.name else t)
        tar.add(REPO / "tests" / "fixtures" / "standin_prted.sh",
                "tests/fixtures/standin_prted.sh")
        # the seed's agent needs kubectl, which the project's images do not carry
        # (kubexec replaces it): this machine's, with in-cluster config in the pod
        tar.add(Path(shutil.which("kubectl") or "kubectl").resolve(), "bin/kubectl")
        agent = KUBECTL_AGENT.encode()
        info = tarfile.TarInfo("kubexec.sh")
        info.size, info.mode = len(agent), 0o755
        tar.addfile(info, io.BytesIO(agent))
    return buf.getvalue()


def copy_bench(vcluster: Any) -> None:
    data = bench_tar()
    for pod in [vcluster.login_pod, *vcluster.compute_pods]:
        done = subprocess.run(
            ["kubectl", "--kubeconfig", vcluster.kubeconfig, "-n", vcluster.namespace, "exec",
             "-i", pod, "-c", vcluster.container(pod), "--", "sh", "-c",
             f"mkdir -p {IN_POD} && tar -C {IN_POD} -xf -"], input=data, capture_output=True,
            timeout=120, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"copying the bench into {pod}: {done.stderr.decode()[-300:]}")


def in_login(vcluster: Any, argv: list[str], timeout: float = 1800) -> str:
    done = vcluster.pod_exec(vcluster.login_pod, argv, timeout=timeout, env={
        "PYTHONPATH": IN_POD, "PATH": f"{IN_POD}/bin:{POD_PATH}"})
    if done.returncode != 0:
        raise RuntimeError(f"{argv[:4]} failed in {vcluster.login_pod}: {done.stderr[-2000:]}")
    return str(done.stdout)


# --- the three measurements ---

def kubexec_per_call(vcluster: Any) -> dict[str, Any]:
    pod = vcluster.compute_pods[0]
    spec = {
        "kubexec": {"argv": ["kubexec", pod, "true"], "env": {"KUBEXEC_CONTROL_PERSIST": "0"}},
        "kubexec_master": {"argv": ["kubexec", pod, "true"],
                           "env": {"KUBEXEC_CONTROL_PERSIST": "120"}},
        "kubectl": ["kubectl", "exec", pod, "--", "true"],
    }
    rounds = env_int("BENCH_KUBEXEC_ROUNDS", 30)
    return dict(json.loads(in_login(vcluster, [PYTHON, "-m", "bench.kubexec", "--timer",
                                               json.dumps(spec), str(rounds)])))


def launch_spec(method: str, pods: list[str], hostfile: str) -> dict[str, Any]:
    """What bench.launch.timer starts for `method` in the pod (pure)."""
    if method == "ours-k8s":
        return {"argvs": [["k8sgo-launcher", "-q", "-f", hostfile, "--", STANDIN]],
                "end": "term"}
    if method == "kubectl-per-host":
        return {"argvs": [["kubectl", "exec", "-i", pod, "--", "env",
                           f"PRTE_ESS_K8SGO_ID={i}", STANDIN] for i, pod in enumerate(pods)],
                "end": "eof"}
    if method == "floor":
        return {"argvs": [[PYTHON, "-m", "bench.launch.floor", hostfile, STANDIN]],
                "end": "term"}
    raise ValueError(method)


def launch(vcluster: Any, rounds: int) -> dict[str, Any]:
    figures: dict[str, Any] = {}
    for n in launch_sizes():
        pods = vcluster.compute_pods[:n]
        hostfile = f"{IN_POD}/hostfile-{n}"
        in_login(vcluster, ["sh", "-c", f"printf '%s\\n' {' '.join(pods)} > {hostfile}"])
        runs: dict[str, list[dict[str, Any]]] = {}
        for _ in range(rounds):
            for method in ("ours-k8s", "kubectl-per-host", "floor"):
                job = {**launch_spec(method, pods, hostfile), "expect": n}
                out = in_login(vcluster, [PYTHON, "-m", "bench.launch.timer", json.dumps(job)])
                runs.setdefault(method, []).append(json.loads(out))
                print(f"  launch N={n} {method}: {runs[method][-1]['wall_s']:.2f} s", flush=True)
        figures[str(n)] = {m: {"median_s": statistics.median(r["wall_s"] for r in rs),
                               "cpu_median_s": statistics.median(r["cpu_s"] for r in rs),
                               "runs": rs} for m, rs in runs.items()}
    return figures


def prterun_command(variant: str) -> str:
    """The bash line of one run in the login pod (pure); flat plm/ssh as bench.prterun does."""
    base = f"export PRTE_PREFIX={PRRTE} PATH={PRRTE}/bin:$PATH; "  # the images' default
    run = "prterun --map-by ppr:1:node hostname"
    if variant == "k8sgo":
        return base + "export PRTE_MCA_plm_k8sgo_launch_script=$(command -v basic_launcher); " \
            + run
    agent = "kubexec" if variant == "ssh+kubexec" else f"{IN_POD}/kubexec.sh"
    return (base + f"export PRTE_MCA_plm=ssh PRTE_MCA_plm_ssh_agent={agent} "
            "PRTE_MCA_plm_ssh_no_tree_spawn=1; " + run)


def prterun(vcluster: Any, rounds: int) -> dict[str, Any]:
    n = len(vcluster.compute_pods)
    walls: dict[str, list[float]] = {}
    variants = ("k8sgo", "ssh+kubexec", "ssh+kubectl")
    for i in range(rounds + 1):  # the first round warms caches and is not counted
        for variant in variants:
            start = time.perf_counter()
            out = in_login(vcluster, ["/bin/bash", "-c", prterun_command(variant)], timeout=900)
            wall = time.perf_counter() - start
            if len(out.split()) != n:
                raise RuntimeError(f"prterun {variant}: {len(out.split())}/{n} lines")
            if i:
                walls.setdefault(variant, []).append(wall)
                print(f"  prterun N={n} {variant}: {wall:.2f} s", flush=True)
    return {"n": n, **{v: {"median_s": statistics.median(w), "runs_s": w}
                       for v, w in walls.items()}}


# --- the local cluster's figures of the same `make bench` run ---

def local_figures() -> dict[str, Optional[float]]:
    def read(name: str) -> dict[str, Any]:
        try:
            return dict(json.loads((RESULTS / f"{name}.json").read_text()))
        except (OSError, ValueError):
            return {}

    kx, la, pr = read("kubexec"), read("launch"), read("prterun")
    summary = kx.get("summary", {})
    launch32 = la.get("per_size", {}).get("32", {}) if la else {}
    ours = launch32.get("ours-k8s", {}).get("median_s")
    per_host = launch32.get("kubectl-per-host", {}).get("median_s")
    return {
        "kubexec_over_kubectl": summary.get("kubexec_over_kubectl"),
        "master_over_kubectl": summary.get("master_over_kubectl"),
        "launch32_kubectl_per_host_over_ours": per_host / ours if ours and per_host else None,
        "prterun_ssh_kubectl_over_k8sgo": pr.get("summary", {}).get("ssh_kubectl_over_k8sgo"),
        "prterun_n": pr.get("summary", {}).get("n"),
    }


@contextlib.contextmanager
def bed_with_pods(name: str, pods: int, figures: dict[str, Any]) -> Iterator[Any]:
    """A bed of its own with the virtual cluster's `pods` compute pods Ready and the bench
    code in every pod; the virtual cluster. Down again afterwards, whatever happened."""
    from kube_pmix.k8s import cluster as bed
    from kube_pmix.k8s.vcluster import VirtualCluster
    from kube_pmix.local.push import push

    built_images()
    bed.down(name)
    start = time.monotonic()
    made = bed.up(name, max_pods=max(256, pods + 16))
    figures["bed_up_s"] = time.monotonic() - start
    try:
        for image in IMAGES:
            push(pwd.getpwnam(POD_USER), made.registry, made.ca,
                 f"localhost/kube-pmix/k8s-{image}:{TAG}", f"kube-pmix/k8s-{image}:{TAG}")
        vcluster = VirtualCluster(made, variant="kubectl-with-mpi")
        figures["deploy_s"] = deploy(vcluster, pods)
        print(f"  {pods} compute pods Ready after {figures['deploy_s']:.0f} s", flush=True)
        copy_bench(vcluster)
        yield vcluster
    finally:
        bed.down(name)


def run_bench() -> dict[str, Any]:
    pods = env_int("BENCH_K8S_PODS", 64)
    rounds = env_int("BENCH_K8S_ROUNDS", 3)
    figures: dict[str, Any] = {"pods": pods}
    with bed_with_pods(BED, pods, figures) as vcluster:
        figures["kubexec"] = kubexec_per_call(vcluster)
        figures["launch"] = launch(vcluster, rounds)
        figures["prterun"] = prterun(vcluster, rounds)
    return figures


def main(argv: list[str]) -> int:
    if os.geteuid() != 0:
        print("k8s bed: skipped (the real test bed needs root)")
        return 1
    figures = run_bench()
    kx, pr = figures["kubexec"], figures["prterun"]
    top = figures["launch"][str(max(launch_sizes()))]
    summary = {
        "kubexec_over_kubectl": kx["kubexec"]["median_s"] / kx["kubectl"]["median_s"],
        "master_over_kubectl": kx["kubexec_master"]["median_s"] / kx["kubectl"]["median_s"],
        "launch_n": max(launch_sizes()),
        "launch_kubectl_per_host_over_ours": top["kubectl-per-host"]["median_s"]
        / top["ours-k8s"]["median_s"],
        "launch_ours_over_floor": top["ours-k8s"]["median_s"] / top["floor"]["median_s"],
        "prterun_n": pr["n"],
        "prterun_ssh_kubectl_over_k8sgo": pr["ssh+kubectl"]["median_s"] / pr["k8sgo"]["median_s"],
        "prterun_ssh_kubexec_over_k8sgo": pr["ssh+kubexec"]["median_s"] / pr["k8sgo"]["median_s"],
    }
    local = local_figures()
    write_json(RESULTS / "k8s.json", {"summary": summary, "local": local, **figures,
                                       "where": "login pod of a virtual cluster on the real "
                                                "test bed (kube-pmix k8s), as the pod user"})

    def fmt(value: Optional[float]) -> str:
        return "-" if value is None else f"{value:.2f}"

    print(f"k8s bed: kubexec/kubectl={fmt(summary['kubexec_over_kubectl'])} "
          f"master/kubectl={fmt(summary['master_over_kubectl'])} "
          f"launch N={summary['launch_n']} kubectl-per-host/ours="
          f"{fmt(summary['launch_kubectl_per_host_over_ours'])} "
          f"ours/floor={fmt(summary['launch_ours_over_floor'])} "
          f"prterun N={pr['n']} ssh+kubectl/k8sgo="
          f"{fmt(summary['prterun_ssh_kubectl_over_k8sgo'])} | local: "
          f"kubexec/kubectl={fmt(local['kubexec_over_kubectl'])} "
          f"master/kubectl={fmt(local['master_over_kubectl'])} "
          f"launch N=32 kubectl-per-host/ours={fmt(local['launch32_kubectl_per_host_over_ours'])} "
          f"prterun N={local['prterun_n'] or '-'} ssh+kubectl/k8sgo="
          f"{fmt(local['prterun_ssh_kubectl_over_k8sgo'])}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
