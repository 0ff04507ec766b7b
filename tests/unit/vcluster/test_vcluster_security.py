"""Security defaults of the rendered manifests, and the checkov scan with its listed
exceptions (manifests/checkov.yaml, images/checkov.yaml)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from vc_helpers import find, pod_specs

from kube_pmix.vcluster.paths import images_dir, manifests_dir, repo_root
from kube_pmix.vcluster.render import Manifest, to_yaml
from kube_pmix.vcluster.variants import VARIANTS

# newuidmap/newgidmap's file capabilities, and nothing else: the user namespace podman
# makes has a full bounding set of its own (tests/e2e/test_real_k8s_variants.py runs it)
PODMAN_CAPS = {"SETGID", "SETUID"}


def _containers(spec: Manifest) -> list[Manifest]:
    return list(spec.get("initContainers", [])) + list(spec["containers"])


def test_pods_run_as_non_root_with_runtime_default_seccomp(
    rendered: dict[str, list[Manifest]],
) -> None:
    for name, objects in rendered.items():
        for spec in pod_specs(objects):
            ctx = spec["securityContext"]
            assert ctx["runAsNonRoot"] is True and ctx["runAsUser"] >= 10000, name
            assert ctx["seccompProfile"]["type"] == "RuntimeDefault", name
            assert not spec.get("hostNetwork") and not spec.get("hostPID"), name
            assert not spec.get("hostIPC"), name


def test_no_container_is_privileged_and_all_have_requests(
    rendered: dict[str, list[Manifest]],
) -> None:
    for name, objects in rendered.items():
        for spec in pod_specs(objects):
            for c in _containers(spec):
                sc = c["securityContext"]
                assert sc.get("privileged") is not True, (name, c["name"])
                assert sc["readOnlyRootFilesystem"] is True, (name, c["name"])
                assert "ALL" in sc["capabilities"]["drop"], (name, c["name"])
                assert {"cpu", "memory"} <= set(c["resources"]["requests"]), (name, c["name"])
                assert "memory" in c["resources"]["limits"], (name, c["name"])


def test_privilege_escalation_only_where_rootless_podman_needs_it(
    rendered: dict[str, list[Manifest]],
) -> None:
    for name, objects in rendered.items():
        podman = VARIANTS[name].podman
        for spec in pod_specs(objects):
            waiter_and_main = _containers(spec)
            for c in waiter_and_main:
                sc = c["securityContext"]
                if podman and c["name"] != "job-waiter":
                    assert sc["allowPrivilegeEscalation"] is True
                    assert set(sc["capabilities"]["add"]) == PODMAN_CAPS
                    assert sc["seccompProfile"]["type"] == "Unconfined"
                else:
                    assert sc["allowPrivilegeEscalation"] is False, (name, c["name"])
                    assert "add" not in sc["capabilities"], (name, c["name"])
                    assert "seccompProfile" not in sc, (name, c["name"])
        ns = find(objects, "Namespace")["metadata"]["labels"]
        level = "privileged" if podman else "baseline"
        assert ns["pod-security.kubernetes.io/enforce"] == level, name


def test_rbac_is_namespaced_and_minimal(rendered: dict[str, list[Manifest]]) -> None:
    for objects in rendered.values():
        rules = find(objects, "Role")["rules"]
        assert rules == [
            {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch"]},
            {"apiGroups": [""], "resources": ["pods/exec"], "verbs": ["create", "get"],
             "resourceNames": ["hpc-cn-0", "hpc-cn-1"]},
        ]


def test_ssh_variants_do_not_mount_tokens_on_compute_pods(
    rendered: dict[str, list[Manifest]],
) -> None:
    for name, objects in rendered.items():
        sts = find(objects, "StatefulSet")["spec"]["template"]["spec"]
        automount = sts.get("automountServiceAccountToken", True)
        assert automount is (VARIANTS[name].transport == "kubectl"), name


def _ssh_volume(spec: Manifest) -> Manifest:
    return next(v for v in spec.get("volumes", []) if v["name"] == "ssh-keys")


def test_the_login_pod_mounts_only_the_ssh_client_keys(
    rendered: dict[str, list[Manifest]],
) -> None:
    for name, objects in rendered.items():
        if not VARIANTS[name].needs_ssh_keys:
            continue
        login = find(objects, "Job")["spec"]["template"]["spec"]
        items = _ssh_volume(login)["secret"].get("items")
        assert items == [{"key": "id_ed25519", "path": "id_ed25519"},
                         {"key": "known_hosts", "path": "known_hosts"}], name
        # the compute pods run sshd (host key, authorized_keys) and ssh (tree spawn): all
        compute = find(objects, "StatefulSet")["spec"]["template"]["spec"]
        assert "items" not in _ssh_volume(compute)["secret"], name


def _checkov() -> str:
    """checkov lives in its own venv (`make checkov-venv`): its pins conflict with ours."""
    candidates = [os.environ.get("CHECKOV", ""),
                  str(repo_root() / "build" / "checkov-venv" / "bin" / "checkov"),
                  shutil.which("checkov") or ""]
    for candidate in candidates:
        if candidate and Path(candidate).is_file():
            return candidate
    pytest.skip("checkov not installed: `make checkov-venv` (its own venv; its pinned "
                "dependencies downgrade packages of the project's venv) or set CHECKOV")


def _offline(argv: list[str]) -> list[str]:
    """checkov fetches guidelines from its vendor when it can: keep it in an empty netns."""
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        pytest.skip("needs root and unshare to run checkov without network access")
    return ["unshare", "--net", "--", *argv]


def _run_checkov(config: Path, directory: Path) -> None:
    argv = _offline([_checkov(), "--config-file", str(config), "-d", str(directory)])
    done = subprocess.run(argv, capture_output=True, text=True, timeout=300, check=False)
    failed = [line for line in done.stdout.splitlines() if "FAILED" in line or "Check:" in line]
    assert done.returncode == 0, "\n".join(failed) or done.stderr[-2000:]
    assert "Failed checks: 0" in done.stdout


def test_checkov_passes_on_every_rendered_variant(
    rendered: dict[str, list[Manifest]], tmp_path: Path,
) -> None:
    from kube_pmix.vcluster.sshkeys import ssh_secret

    for name, objects in rendered.items():
        extra = [ssh_secret("kube-pmix")] if VARIANTS[name].needs_ssh_keys else []
        (tmp_path / f"{name}.yaml").write_text(to_yaml(objects + extra))
    _run_checkov(manifests_dir() / "checkov.yaml", tmp_path)


def test_checkov_passes_on_every_containerfile(tmp_path: Path) -> None:
    # checkov only recognises files named Dockerfile.
    for containerfile in images_dir().glob("*/Containerfile"):
        dest = tmp_path / containerfile.parent.name
        dest.mkdir()
        shutil.copy(containerfile, dest / "Dockerfile")
    _run_checkov(images_dir() / "checkov.yaml", tmp_path)


def skips_without_reason(text: str) -> list[str]:
    """The skipped checks of a checkov config whose line directly above is not a comment
    inside the skip list (the file's header explains nothing about one check)."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip() == "skip-check:")
    missing = []
    for i in range(start + 1, len(lines)):
        item = lines[i].strip()
        if item.startswith("- "):
            above = lines[i - 1].strip() if i - 1 > start else ""
            if not above.startswith("#") or above == "#":
                missing.append(item[2:].strip())
    return missing


def test_the_reason_check_looks_directly_above_each_skip() -> None:
    text = ("# header: every exception, with its reason\nskip-check:\n"
            "  # a reason\n  - CKV_A\n  - CKV_B\n\n  - CKV_C\n  # another\n  - CKV_D\n")
    assert skips_without_reason(text) == ["CKV_B", "CKV_C"]
    assert skips_without_reason("# header\nskip-check:\n  - CKV_X\n") == ["CKV_X"]


def test_checkov_exceptions_all_carry_a_reason() -> None:
    for config in (manifests_dir() / "checkov.yaml", images_dir() / "checkov.yaml"):
        text = config.read_text()
        assert yaml.safe_load(text)["skip-check"], config.name
        assert skips_without_reason(text) == [], f"{config.name}: skips without a reason"


def test_scan_configs_name_test_files_that_exist() -> None:
    import re

    for config in (manifests_dir() / "checkov.yaml", images_dir() / "checkov.yaml",
                   images_dir() / ".hadolint.yaml"):
        named = re.findall(r"tests/[\w/]+\.py", config.read_text())
        assert named, config.name
        for path in named:
            assert (repo_root() / path).is_file(), f"{config.name} names {path}"


def test_the_login_job_fails_at_once_only_on_final_verdicts(
    rendered: dict[str, list[Manifest]],
) -> None:
    """A waiter that timed out (slow pull, scale-up) or met a refused API (a RoleBinding
    not yet propagated) is retried by a new pod; bad arguments and an unwritable
    hostfile fail the Job at once."""
    from launchers.waitfor.cli import EXIT_API, EXIT_TIMEOUT, EXIT_WRITE

    for name, objects in rendered.items():
        spec = find(objects, "Job")["spec"]
        assert 3 <= spec["backoffLimit"] <= 6, name
        rules = spec["podFailurePolicy"]["rules"]
        final = next(r for r in rules if r["action"] == "FailJob")["onExitCodes"]
        assert final["containerName"] == "job-waiter" and final["operator"] == "In", name
        assert set(final["values"]) == {2, EXIT_WRITE}, name
        assert not {EXIT_TIMEOUT, EXIT_API} & set(final["values"]), name
        ignored = next(r for r in rules if r["action"] == "Ignore")["onPodConditions"]
        assert ignored == [{"type": "DisruptionTarget", "status": "True"}], name
