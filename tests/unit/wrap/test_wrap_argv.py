"""The argument builder, by equality, for every profile, runtime and user mapping."""

from __future__ import annotations

import pytest

from wrap import (
    BadSettingError,
    FuseMissingError,
    Host,
    NoImageError,
    NoRuntimeError,
    Options,
    PrrteNotFoundError,
    build,
)
from wrap.settings import CID_FILE, ENV_FILE, PID_FILE

HOST = Host(
    which={
        "podman": "/usr/bin/podman",
        "docker": "/usr/bin/docker",
        "fuse-overlayfs": "/usr/bin/fuse-overlayfs",
    },
    uid=1001,
    gid=1002,
    cwd="/home/u/job",
    existing_dirs=frozenset({"/tmp/prte.vm.1001/dvm.7", "/tmp/prte.vm.1001/dvm.7/1/0"}),
    fuse_usable=True,
    prrte_prefix="/opt/prrte",
)
ENV = {
    "MPI_IMAGE": "localhost/app:1",
    "PMIX_RANK": "3",
    "PMIX_SERVER_TMPDIR": "/tmp/prte.vm.1001/dvm.7",
    "OMPI_FILE_LOCATION": "/tmp/prte.vm.1001/dvm.7/1/0",
    "PRTE_LAUNCHED": "1",
    "OPAL_PREFIX": "/opt/ompi",
    "KUBERNETES_SERVICE_HOST": "10.96.0.1",
    "SSH_AUTH_SOCK": "/tmp/agent.1",
    "KUBECONFIG": "/home/u/.kube/config",
    "HOME": "/home/u",
    "PATH": "/usr/bin:/bin",
}
NAMESPACES = [
    "run",
    "--rm",
    "--network=host",
    "--uts=host",
    "--pid=host",
    "--ipc=host",
    "--volume=/dev/shm:/dev/shm",
    "--cap-add=sys_ptrace",
]
FORWARDED_ENV = [
    "--env=OMPI_FILE_LOCATION",
    "--env=OPAL_PREFIX",
    "--env=PMIX_RANK",
    "--env=PMIX_SERVER_TMPDIR",
    "--env=PRTE_LAUNCHED",
]
MOUNTS = [
    "--volume=/home/u/job:/home/u/job",
    "--volume=/tmp/prte.vm.1001/dvm.7:/tmp/prte.vm.1001/dvm.7",
    "--workdir=/home/u/job",
]
TAIL = ["localhost/app:1", "./app", "-n", "1"]
RUN_FILES = ["--pidfile", PID_FILE, "--cidfile", CID_FILE]  # podman: wrap.supervise


def plan_for(environ=None, host=HOST, command=("./app", "-n", "1"), **options):
    return build(ENV if environ is None else environ, Options(**options), host, command)


CASES: dict[str, tuple[dict, dict, list[str]]] = {
    # name: (options, host changes, expected argv)
    "rootless podman, privileged profile (default)": (
        {},
        {},
        ["/usr/bin/podman", *NAMESPACES, "--cgroups=no-conmon", *RUN_FILES, "--userns=keep-id",
         "--user=1001:1002",
         "--pull=never", *FORWARDED_ENV, *MOUNTS, *TAIL],
    ),
    "rootless podman, unprivileged profile": (
        {"profile": "unprivileged"},
        {},
        ["/usr/bin/podman", *NAMESPACES, "--cgroups=no-conmon", *RUN_FILES, "--userns=keep-id",
         "--user=1001:1002",
         "--device=/dev/fuse", "--pull=never", *FORWARDED_ENV, *MOUNTS, *TAIL],
    ),
    "rootless podman, --user mapping": (
        {"userns": "user"},
        {},
        ["/usr/bin/podman", *NAMESPACES, "--cgroups=no-conmon", *RUN_FILES, "--user=1001:1002",
         "--pull=never", *FORWARDED_ENV, *MOUNTS, *TAIL],
    ),
    "podman as root: no mapping needed": (
        {},
        {"uid": 0, "gid": 0},
        ["/usr/bin/podman", *NAMESPACES, "--cgroups=no-conmon", *RUN_FILES,
         "--pull=never", *FORWARDED_ENV, *MOUNTS, *TAIL],
    ),
    "docker: env-file and --user": (
        {"runtime": "docker"},
        {},
        ["/usr/bin/docker", *NAMESPACES, "--user=1001:1002", "--pull=never",
         "--env-file", ENV_FILE, *MOUNTS, *TAIL],
    ),
    "docker picked when podman is absent": (
        {},
        {"which": {"docker": "/usr/bin/docker"}},
        ["/usr/bin/docker", *NAMESPACES, "--user=1001:1002", "--pull=never",
         "--env-file", ENV_FILE, *MOUNTS, *TAIL],
    ),
    "docker, unprivileged profile passes /dev/fuse": (
        {"runtime": "docker", "profile": "unprivileged", "userns": "none"},
        {},
        ["/usr/bin/docker", *NAMESPACES, "--device=/dev/fuse", "--pull=never",
         "--env-file", ENV_FILE, *MOUNTS, *TAIL],
    ),
    "runtime given as a path, pull allowed, no cwd mount": (
        {"runtime": "/opt/bin/podman", "pull": "missing", "mount_cwd": False},
        {"which": {"/opt/bin/podman": "/opt/bin/podman"}},
        ["/opt/bin/podman", *NAMESPACES, "--cgroups=no-conmon", *RUN_FILES, "--userns=keep-id",
         "--user=1001:1002",
         "--pull=missing", *FORWARDED_ENV,
         "--volume=/tmp/prte.vm.1001/dvm.7:/tmp/prte.vm.1001/dvm.7", *TAIL],
    ),
}


@pytest.mark.parametrize("name", list(CASES))
def test_profiles_and_runtimes(name):
    options, host_changes, expected = CASES[name]
    plan = plan_for(host=HOST._replace(**host_changes), **options)
    assert list(plan.argv) == expected


def test_podman_values_travel_in_the_environment_not_the_command_line():
    plan = plan_for()
    assert plan.kind == "podman" and plan.env_file is None
    assert plan.forwarded == ("OMPI_FILE_LOCATION", "OPAL_PREFIX", "PMIX_RANK",
                              "PMIX_SERVER_TMPDIR", "PRTE_LAUNCHED")
    assert plan.env["PMIX_RANK"] == "3"
    assert not any("=3" in arg for arg in plan.argv)


def test_docker_env_file_holds_only_forwarded_values():
    plan = plan_for(runtime="docker")
    assert plan.env_file == (
        "OMPI_FILE_LOCATION=/tmp/prte.vm.1001/dvm.7/1/0\n"
        "OPAL_PREFIX=/opt/ompi\n"
        "PMIX_RANK=3\n"
        "PMIX_SERVER_TMPDIR=/tmp/prte.vm.1001/dvm.7\n"
        "PRTE_LAUNCHED=1\n"
    )
    resolved = plan.resolved_argv({ENV_FILE: "/run/user/1001/wrap-env.x"})
    assert resolved.count("/run/user/1001/wrap-env.x") == 1 and ENV_FILE not in resolved
    with pytest.raises(ValueError):
        plan.resolved_argv()


def test_only_the_builders_placeholders_are_replaced():
    # the command's words are the user's, even one that looks like a placeholder
    plan = plan_for(command=["echo", PID_FILE])
    resolved = plan.resolved_argv({PID_FILE: "/run/w/pid", CID_FILE: "/run/w/cid"})
    assert resolved[-2:] == ["echo", PID_FILE]
    assert resolved[resolved.index("--pidfile") + 1] == "/run/w/pid"
    assert resolved[resolved.index("--cidfile") + 1] == "/run/w/cid"


@pytest.mark.parametrize("secret", ["KUBERNETES_SERVICE_HOST", "SSH_AUTH_SOCK", "KUBECONFIG",
                                    "HOME", "PATH"])
def test_caller_environment_is_not_forwarded_by_default(secret):
    for runtime in ("podman", "docker"):
        plan = plan_for(runtime=runtime)
        assert secret not in plan.forwarded
        assert f"--env={secret}" not in plan.argv
        assert secret not in (plan.env_file or "")


def test_more_variables_by_option_pattern_and_wrap_env():
    env = {**ENV, "WRAP_ENV": "UCX_* TZ", "UCX_TLS": "tcp", "UCX_NET_DEVICES": "eth0",
           "TZ": "UTC", "OTHER": "x"}
    plan = plan_for(environ=env, env=("OTHER", "SET_HERE=a b", "ABSENT"))
    assert {"UCX_TLS", "UCX_NET_DEVICES", "TZ", "OTHER", "SET_HERE"} <= set(plan.forwarded)
    assert "ABSENT" not in plan.forwarded
    assert plan.env["SET_HERE"] == "a b"


def test_option_value_overrides_the_callers():
    plan = plan_for(env=("PMIX_RANK=9",))
    assert plan.env["PMIX_RANK"] == "9"


@pytest.mark.parametrize(
    "value",
    ["with space", "quote's \"double\"", "semi;colon $(cmd) `x`", "new\nline", "", "a=b=c"],
)
def test_values_survive_exactly(value):
    env = {**ENV, "PMIX_ODD": value}
    podman = plan_for(environ=env)
    assert podman.env["PMIX_ODD"] == value and "--env=PMIX_ODD" in podman.argv
    docker = plan_for(environ=env, runtime="docker")
    lines = (docker.env_file or "").splitlines()
    if "\n" in value:
        # an env-file cannot hold a newline: the name alone makes docker read our environment
        assert "PMIX_ODD" in lines and docker.env["PMIX_ODD"] == value
    else:
        assert f"PMIX_ODD={value}" in lines


@pytest.mark.parametrize(
    ("container_args", "expected"),
    [
        ("", []),
        ("--user 998:995 -v /opt/hpc:/opt/hpc", ["--user", "998:995", "-v", "/opt/hpc:/opt/hpc"]),
        ("--label 'a b' --env=X=\"y z\"", ["--label", "a b", "--env=X=y z"]),
        ("  --network=none  ", ["--network=none"]),
    ],
)
def test_container_args_split_like_a_shell_and_come_last(container_args, expected):
    plan = plan_for(environ={**ENV, "CONTAINER_ARGS": container_args})
    argv = list(plan.argv)
    image_at = argv.index("localhost/app:1")
    assert argv[image_at - len(expected):image_at] == expected
    assert argv[image_at - len(expected) - 1] == "--workdir=/home/u/job"


def test_command_words_are_kept_apart():
    plan = plan_for(command=("sh", "-c", "echo $PMIX_RANK; exit 3"))
    assert list(plan.argv[-4:]) == ["localhost/app:1", "sh", "-c", "echo $PMIX_RANK; exit 3"]


def test_image_option_beats_mpi_image():
    assert "other:2" in plan_for(image="other:2").argv


def test_settings_from_wrap_variables():
    env = {**ENV, "WRAP_RUNTIME": "docker", "WRAP_USERNS": "none", "WRAP_PULL": "always"}
    plan = plan_for(environ=env)
    assert plan.kind == "docker" and "--pull=always" in plan.argv and not plan.check_image
    assert not any(a.startswith("--user") for a in plan.argv)


def test_mounts_only_existing_dirs_and_the_outermost():
    env = {**ENV, "PMIX_SERVER_TMPDIR": "/gone",
           "OMPI_FILE_LOCATION": "/tmp/prte.vm.1001/dvm.7/1/0"}
    plan = plan_for(environ=env, mount_cwd=False)
    volumes = [a for a in plan.argv if a.startswith("--volume=") and "shm" not in a]
    assert volumes == ["--volume=/tmp/prte.vm.1001/dvm.7/1/0:/tmp/prte.vm.1001/dvm.7/1/0"]


def test_prun_injection_mounts_prrte_and_passes_the_dvm_uri():
    uri = "prte-login-7@0.0;tcp4://10.0.0.5:40000"
    plan = plan_for(command=("prun", "-n", "2", "hostname"), inject_prrte=True, dvm_uri=uri)
    argv = list(plan.argv)
    assert "--volume=/opt/prrte:/opt/prrte:ro" in argv
    assert argv[-4:] == ["/opt/prrte/bin/prun", "-n", "2", "hostname"]
    for name in ("PMIX_SERVER_URI", "PMIX_SERVER_URI41", "PMIX_SERVER_URI4"):
        assert f"--env={name}" in argv and plan.env[name] == uri
    assert plan.env["PRTE_PREFIX"] == "/opt/prrte"


def test_prun_injection_uses_exported_uri_and_prte_prefix():
    env = {**ENV, "PMIX_SERVER_URI41": "u@0.0;tcp4://127.0.0.1:1", "PRTE_PREFIX": "/x/prrte",
           "PMIX_SYSTEM_TMPDIR": "/tmp/prte.vm.1001"}
    host = HOST._replace(existing_dirs=HOST.existing_dirs | {"/tmp/prte.vm.1001"})
    plan = plan_for(environ=env, host=host, command=("/bin/prun", "x"), inject_prrte=True,
                    mount_cwd=False)
    argv = list(plan.argv)
    assert "--volume=/x/prrte:/x/prrte:ro" in argv
    assert argv[-2:] == ["/bin/prun", "x"]  # a path is left alone
    # the tool's rendezvous dir (system tmpdir) covers the server's tmpdir
    assert "--volume=/tmp/prte.vm.1001:/tmp/prte.vm.1001" in argv
    assert "--volume=/tmp/prte.vm.1001/dvm.7:/tmp/prte.vm.1001/dvm.7" not in argv


@pytest.mark.parametrize(
    ("env_changes", "options", "host_changes", "error", "words"),
    [
        ({"MPI_IMAGE": ""}, {}, {}, NoImageError, "MPI_IMAGE"),
        ({}, {}, {"which": {}}, NoRuntimeError, "podman"),
        ({}, {"runtime": "docker"}, {"which": {"podman": "/p"}}, NoRuntimeError, "docker"),
        ({}, {"profile": "unprivileged"}, {"fuse_usable": False}, FuseMissingError, "/dev/fuse"),
        ({"CONTAINER_ARGS": "--label 'open"}, {}, {}, BadSettingError, "CONTAINER_ARGS"),
        ({"WRAP_PROFILE": "weird"}, {}, {}, BadSettingError, "WRAP_PROFILE"),
        ({}, {"userns": "keep-id", "runtime": "docker"}, {}, BadSettingError, "keep-id"),
        ({}, {"userns": "keep-id"}, {"uid": 0}, BadSettingError, "rootless"),
        ({}, {"inject_prrte": True}, {"prrte_prefix": None}, PrrteNotFoundError, "PRRTE"),
        ({}, {"inject_prrte": True}, {}, BadSettingError, "report-uri"),
        ({"PMIX_SERVER_TMPDIR": "/tmp/a:b"}, {}, {"existing_dirs": frozenset({"/tmp/a:b"})},
         BadSettingError, "':'"),
    ],
)
def test_clear_errors(env_changes, options, host_changes, error, words):
    with pytest.raises(error) as info:
        plan_for(environ={**ENV, **env_changes}, host=HOST._replace(**host_changes),
                 **options)
    assert words in str(info.value)
    assert "\n" not in str(info.value)


def test_empty_command_is_refused():
    with pytest.raises(BadSettingError):
        plan_for(command=())
