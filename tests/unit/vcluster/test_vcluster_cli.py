"""The click commands (through the umbrella `kube-pmix`) and kubectl command lines."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from kube_pmix.cli import main
from kube_pmix.vcluster import deploy as kd


def test_render_prints_the_manifests() -> None:
    result = CliRunner().invoke(main, ["render", "kubectl", "--replicas", "3",
                                       "--namespace", "t1", "--registry", "r", "--tag", "x"])
    assert result.exit_code == 0, result.output
    objects = [o for o in yaml.safe_load_all(result.output) if o]
    sts = next(o for o in objects if o["kind"] == "StatefulSet")
    assert sts["spec"]["replicas"] == 3 and sts["metadata"]["namespace"] == "t1"
    assert sts["spec"]["template"]["spec"]["containers"][0]["image"] == "r/k8s-runtime:x"
    assert not [o for o in objects if o["kind"] == "Secret"]


def test_render_takes_the_makefile_environment() -> None:
    result = CliRunner().invoke(main, ["render", "ssh-with-mpi"],
                                env={"NAMESPACE": "envns", "IMAGE_REGISTRY": "reg",
                                     "IMAGE_TAG_NAME": "t9"})
    assert result.exit_code == 0, result.output
    assert "namespace: envns" in result.output and "reg/k8s-mpi-with-runtime:t9" in result.output


def test_unknown_variant_is_one_line_and_exit_3() -> None:
    result = CliRunner().invoke(main, ["render", "ssh-with-nothing"])
    assert result.exit_code == 3
    assert result.output.strip().splitlines() == [
        "kube-pmix: unknown variant 'ssh-with-nothing'; known: ssh, ssh-with-mpi, "
        "ssh-with-podman, ssh-with-podman-unpriv, kubectl, kubectl-with-mpi, "
        "kubectl-with-podman, kubectl-with-podman-unpriv"
    ]


def test_missing_kubectl_is_exit_5() -> None:
    result = CliRunner().invoke(main, ["render", "ssh", "--kubectl", "no-such-kubectl-here"])
    assert result.exit_code == 5
    assert "no-such-kubectl-here not found" in result.output


def test_images_build_dry_run_builds_parents_first() -> None:
    result = CliRunner().invoke(main, ["images", "build", "nas", "--dry-run", "--registry", "r",
                                       "--tag", "t", "--build-cmd", "docker build"])
    assert result.exit_code == 0, result.output
    tags = [line.split(" -t ")[1].split()[0] for line in result.output.splitlines()]
    assert tags == ["r/k8s-pmix-base:t", "r/k8s-mpi:t", "r/k8s-nas:t"]
    assert all(line.startswith("docker build -f images/") for line in result.output.splitlines())


def test_images_build_all_skips_nas_without_its_source() -> None:
    result = CliRunner().invoke(main, ["images", "build", "--dry-run", "--registry", "r",
                                       "--tag", "t"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    built = [line.split(" -t ")[1].split()[0] for line in lines if " -t " in line]
    assert "r/k8s-nas:t" not in built and "r/k8s-nas-with-runtime:t" not in built
    assert "r/k8s-gromacs-with-runtime:t" in built and len(built) == 8
    assert "skipping k8s-nas: needs --build-arg NPB_URL=... NPB_SHA256=..." in lines
    given = CliRunner().invoke(main, ["images", "build", "--dry-run", "--build-arg", "NPB_URL=u",
                                      "--build-arg", "NPB_SHA256=s"])
    assert given.exit_code == 0 and given.output.count(" -t ") == 10
    bad = CliRunner().invoke(main, ["images", "build", "--dry-run", "--build-arg", "NPB"])
    assert bad.exit_code != 0 and "is not KEY=VALUE" in bad.output


def test_kubectl_command_lines() -> None:
    assert kd.apply_argv("ns", context="c") == ["kubectl", "--context", "c", "--namespace", "ns",
                                                "apply", "-f", "-"]
    assert kd.delete_argv("ns") == ["kubectl", "--namespace", "ns", "delete",
                                    "--ignore-not-found", "--cascade=foreground",
                                    "--wait=true", "-f", "-"]
    # the pod the login wait found, not job/...: that may name a Failed pod of a retry
    assert kd.login_argv("ns", "login-x") == ["kubectl", "--namespace", "ns", "exec", "-it",
                                              "login-x", "-c", "hpc-login", "--",
                                              "/bin/bash", "-l"]
    assert kd.login_argv("ns", "login-x", command=["prterun", "hostname"], tty=False) == [
        "kubectl", "--namespace", "ns", "exec", "-i", "login-x", "-c", "hpc-login", "--",
        "/bin/bash", "-lc", "prterun hostname"]
    assert kd.get_json_argv("ns", ["pods", "-l", "a=b"]) == [
        "kubectl", "--namespace", "ns", "get", "pods", "-l", "a=b", "-o", "json"]
    assert kd.waitfor_log_argv("ns") == ["kubectl", "--namespace", "ns", "logs",
                                         "job/hpc-cluster-login", "-c", "job-waiter"]
    assert kd.secret_exists_argv("ns") == ["kubectl", "--namespace", "ns", "get", "secret",
                                           "hpc-cluster-ssh", "--ignore-not-found", "-o",
                                           "name"]


def _recording_kubectl(tmp_path: Path, secret_exists: bool, minor: str = "34") -> Path:
    """A kubectl that renders with the real one and records everything else it is asked."""
    real = shutil.which("kubectl")
    if real is None:
        pytest.skip("needs kubectl (its built-in kustomize renders the overlays)")
    log = tmp_path / "calls"
    log.mkdir()
    script = tmp_path / "kubectl"
    script.write_text(f"""#!/bin/sh
case " $* " in *" kustomize "*) exec {real} "$@";; esac
case " $* " in *" version -o json "*)
  echo '{{"serverVersion": {{"major": "1", "minor": "{minor}"}}}}'; exit 0;; esac
n=$(ls {log} | wc -l)
echo "$*" > {log}/$n.argv
case " $* " in
  *" apply "*|*" delete "*) cat > {log}/$n.stdin;;
  *" get secret "*) {"echo secret/hpc-cluster-ssh" if secret_exists else ":"};;
  *" get job "*) echo '{{"metadata": {{"uid": "u-1"}}}}';;
esac
""")
    script.chmod(0o755)
    return log


def _calls(log: Path) -> list[tuple[str, list[str]]]:
    out = []
    for argv in sorted(log.glob("*.argv"), key=lambda p: int(p.stem)):
        stdin = log / f"{argv.stem}.stdin"
        kinds = ([o["kind"] for o in yaml.safe_load_all(stdin.read_text()) if o]
                 if stdin.exists() else [])
        out.append((argv.read_text().strip(), kinds))
    return out


def test_deploy_ssh_creates_namespace_then_keys_then_the_cluster(tmp_path: Path) -> None:
    log = _recording_kubectl(tmp_path, secret_exists=False)
    result = CliRunner().invoke(main, ["deploy", "ssh", "--namespace", "d1",
                                       "--kubectl", str(tmp_path / "kubectl")])
    assert result.exit_code == 0, result.output
    calls = _calls(log)
    assert [argv for argv, _ in calls] == [
        "--namespace d1 apply -f -",
        "--namespace d1 get secret hpc-cluster-ssh --ignore-not-found -o name",
        "--namespace d1 apply -f -",
        "--namespace d1 apply -f -",
    ]
    assert calls[0][1] == ["Namespace"] and calls[2][1] == ["Secret"]
    assert sorted(calls[3][1]) == ["Job", "Namespace", "NetworkPolicy", "Role", "RoleBinding",
                                   "Service", "ServiceAccount", "StatefulSet"]


def test_redeploy_keeps_existing_keys_and_kubectl_variants_need_none(tmp_path: Path) -> None:
    log = _recording_kubectl(tmp_path, secret_exists=True)
    kubectl = str(tmp_path / "kubectl")
    assert CliRunner().invoke(main, ["deploy", "ssh", "--kubectl", kubectl]).exit_code == 0
    assert CliRunner().invoke(main, ["deploy", "kubectl", "--kubectl", kubectl]).exit_code == 0
    kinds = [k for _, k in _calls(log)]
    assert ["Secret"] not in kinds
    assert len(kinds) == 5  # ssh: ns, get secret, all; kubectl: ns, all


def test_undeploy_keeps_the_namespace_and_removes_the_keys(tmp_path: Path) -> None:
    log = _recording_kubectl(tmp_path, secret_exists=True)
    result = CliRunner().invoke(main, ["undeploy", "ssh-with-podman", "--kubectl",
                                       str(tmp_path / "kubectl")])
    assert result.exit_code == 0, result.output
    (delete, kinds), (secret, _), *configmaps = _calls(log)
    assert delete == ("--namespace kube-pmix delete --ignore-not-found --cascade=foreground "
                      "--wait=true -f -")
    assert "Namespace" not in kinds and "StatefulSet" in kinds
    assert secret == "--namespace kube-pmix delete secret hpc-cluster-ssh --ignore-not-found"


def test_failing_kubectl_is_one_line_and_exit_5(tmp_path: Path) -> None:
    _recording_kubectl(tmp_path, secret_exists=False)
    script = tmp_path / "kubectl"
    script.write_text(script.read_text().replace(
        "n=$(ls", 'echo "error: You must be logged in to the server" >&2; exit 1\nn=$(ls'))
    result = CliRunner().invoke(main, ["deploy", "kubectl", "--kubectl", str(script)])
    assert result.exit_code == 5
    assert result.output.strip().splitlines() == [
        f"kube-pmix: `{script} --namespace kube-pmix apply -f -` exited 1: "
        "error: You must be logged in to the server"]


def test_deploy_refuses_a_cluster_older_than_1_30_with_one_line(tmp_path: Path) -> None:
    log = _recording_kubectl(tmp_path, secret_exists=False, minor="29")
    result = CliRunner().invoke(main, ["deploy", "kubectl-with-podman",
                                       "--kubectl", str(tmp_path / "kubectl")])
    assert result.exit_code == 7
    assert result.output.strip().splitlines() == [
        "kube-pmix: the cluster runs Kubernetes 1.29; the virtual clusters need 1.30 or later "
        "(securityContext.appArmorProfile)"]
    assert _calls(log) == []  # nothing applied
    from kube_pmix.vcluster.version import server_version

    assert server_version('{"serverVersion": {"major": "1", "minor": "30+"}}') == (1, 30)


def test_deploy_into_an_existing_namespace_applies_no_namespace(tmp_path: Path) -> None:
    log = _recording_kubectl(tmp_path, secret_exists=True)
    result = CliRunner().invoke(main, ["deploy", "ssh", "--namespace", "tenant",
                                       "--existing-namespace",
                                       "--kubectl", str(tmp_path / "kubectl")])
    assert result.exit_code == 0, result.output
    kinds = [k for _, k in _calls(log)]
    assert kinds[0] == [] and "Namespace" not in kinds[1] and "StatefulSet" in kinds[1]


def test_a_lifetime_makes_the_statefulset_belong_to_the_login_job(tmp_path: Path) -> None:
    """--deadline/--ttl: the compute pods must go when the finished Job is deleted, so the
    StatefulSet gets the applied Job as its owner; without them it is left alone."""
    log = _recording_kubectl(tmp_path, secret_exists=True)
    kubectl = str(tmp_path / "kubectl")
    result = CliRunner().invoke(main, ["deploy", "kubectl", "--namespace", "d1", "--deadline",
                                       "60", "--ttl", "0", "--kubectl", kubectl])
    assert result.exit_code == 0, result.output
    calls = [argv for argv, _ in _calls(log)]
    assert calls[-2:] == [
        "--namespace d1 get job hpc-cluster-login -o json",
        "--namespace d1 patch statefulset hpc-cn --type=merge -p "
        '{"metadata": {"ownerReferences": [{"apiVersion": "batch/v1", "kind": "Job", '
        '"name": "hpc-cluster-login", "uid": "u-1", "blockOwnerDeletion": false}]}}']
    assert CliRunner().invoke(main, ["deploy", "kubectl", "--namespace", "d2",
                                     "--kubectl", kubectl]).exit_code == 0
    assert not [argv for argv, _ in _calls(log) if "d2" in argv and "patch" in argv]
