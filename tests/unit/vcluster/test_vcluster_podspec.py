"""Pod settings of the rendered manifests that the review found missing or wrong
(docs/virtual-clusters.md): fsGroup for the Secret modes, pulls, DNS search domain,
bounded volumes, probes, spread, lifetime, an existing namespace."""

from __future__ import annotations

import pytest
from vc_helpers import env_of, find, pod_specs

from kube_pmix.vcluster import paths
from kube_pmix.vcluster.errors import RenderError
from kube_pmix.vcluster.podspec import search_domain
from kube_pmix.vcluster.render import Manifest, RenderParams, render
from kube_pmix.vcluster.variants import VARIANTS


def test_pods_that_mount_a_secret_own_it_through_fs_group(
    rendered: dict[str, list[Manifest]],
) -> None:
    """The ssh keys are mode 0440 files owned by root: the pod user reads them only as the
    group fsGroup gives the volume (without it sshd had no host key and exited)."""
    for name, objects in rendered.items():
        for spec in pod_specs(objects):
            uid = spec["securityContext"]["runAsUser"]
            assert spec["securityContext"]["fsGroup"] == uid, name
            for volume in spec["volumes"]:
                mode = volume.get("secret", {}).get("defaultMode")
                if mode is not None:
                    assert mode & 0o040 and not mode & 0o004, (name, volume["name"])


def test_images_are_pulled_once_per_node_unless_told(rendered: dict[str, list[Manifest]]) -> None:
    for name, objects in rendered.items():
        for spec in pod_specs(objects):
            for c in [*spec.get("initContainers", []), *spec["containers"]]:
                assert c["imagePullPolicy"] == "IfNotPresent", (name, c["name"])
            assert "imagePullSecrets" not in spec
    always = render(RenderParams("kubectl", pull_policy="Always"))
    assert {c["imagePullPolicy"] for s in pod_specs(always) for c in s["containers"]} == {
        "Always"}


def test_a_pull_secret_reaches_the_kubelet_and_podman(rendered: dict[str, list[Manifest]]) -> None:
    for name in ("kubectl-with-podman", "ssh-with-mpi"):
        objects = render(RenderParams(name, pull_secret="regcred"))
        for spec in pod_specs(objects):
            assert spec["imagePullSecrets"] == [{"name": "regcred"}]
            main = spec["containers"][0]
            mounted = {m["name"] for m in main["volumeMounts"]}
            if VARIANTS[name].podman:  # podman pull in the pod reads the same credentials
                assert env_of(main)["REGISTRY_AUTH_FILE"] == "/opt/hpc/registry-auth/auth.json"
                auth = next(v for v in spec["volumes"] if v["name"] == "registry-auth")
                assert auth["secret"] == {"secretName": "regcred", "defaultMode": 0o440,
                                          "items": [{"key": ".dockerconfigjson",
                                                     "path": "auth.json"}]}
                assert "registry-auth" in mounted
            else:
                assert "REGISTRY_AUTH_FILE" not in env_of(main) and "registry-auth" not in mounted


def test_bare_pod_names_resolve_through_the_service_search_domain() -> None:
    objects = render(RenderParams("ssh", namespace="team-a", cluster_domain="c.example"))
    for spec in pod_specs(objects):
        assert spec["dnsConfig"] == {"searches": ["hpc-cluster.team-a.svc.c.example"]}
    assert search_domain("ns") == "hpc-cluster.ns.svc.cluster.local"


def test_volumes_and_ephemeral_storage_are_bounded(rendered: dict[str, list[Manifest]]) -> None:
    for name, objects in rendered.items():
        for spec in pod_specs(objects):
            for volume in spec["volumes"]:
                if "emptyDir" in volume:
                    assert volume["emptyDir"].get("sizeLimit"), (name, volume["name"])
            home = next(v for v in spec["volumes"] if v["name"] == "home")["emptyDir"]
            # podman stores the ranks' images there (vfs: every layer in full)
            assert home["sizeLimit"] == ("16Gi" if VARIANTS[name].podman else "4Gi"), name
            assert spec["containers"][0]["resources"]["requests"]["ephemeral-storage"]


def test_probes_ask_the_node_script_what_the_pod_is_for(
    rendered: dict[str, list[Manifest]],
) -> None:
    for name, objects in rendered.items():
        sts = find(objects, "StatefulSet")["spec"]["template"]["spec"]["containers"][0]
        assert sts["readinessProbe"]["exec"]["command"] == [paths.NODE_SCRIPT, "ready"], name
        login = find(objects, "Job")["spec"]["template"]["spec"]["containers"][0]
        assert login["readinessProbe"]["exec"]["command"] == [paths.NODE_SCRIPT, "ready",
                                                              paths.HOSTFILE], name


def test_podman_variants_name_the_ranks_image_like_their_own(
    rendered: dict[str, list[Manifest]],
) -> None:
    objects = render(RenderParams("ssh-with-podman-unpriv", registry="r.example/x", tag="7"))
    for spec in pod_specs(objects):
        assert env_of(spec["containers"][0])["MPI_IMAGE"] == "r.example/x/k8s-mpi:7"
    for name, objects in rendered.items():
        for spec in pod_specs(objects):
            assert ("MPI_IMAGE" in env_of(spec["containers"][0])) == VARIANTS[name].podman


def test_spread_of_the_compute_pods() -> None:
    def constraints(how: str) -> list[Manifest]:
        sts = find(render(RenderParams("kubectl", spread=how)), "StatefulSet")
        return list(sts["spec"]["template"]["spec"].get("topologySpreadConstraints", []))

    assert constraints("none") == []
    (soft,) = constraints("soft")
    assert soft["whenUnsatisfiable"] == "ScheduleAnyway" and soft["maxSkew"] == 1
    assert soft["topologyKey"] == "kubernetes.io/hostname"
    assert soft["labelSelector"]["matchLabels"] == {"app": "hpc-compute-nodes",
                                                    "hpcnode": "compute-node"}
    assert constraints("hard")[0]["whenUnsatisfiable"] == "DoNotSchedule"
    with pytest.raises(RenderError, match="spread must be one of"):
        render(RenderParams("kubectl", spread="everywhere"))


def test_lifetime_of_the_login_job() -> None:
    job = find(render(RenderParams("kubectl", deadline=3600, ttl=60)), "Job")["spec"]
    assert job["activeDeadlineSeconds"] == 3600 and job["ttlSecondsAfterFinished"] == 60
    plain = find(render(RenderParams("kubectl")), "Job")["spec"]
    assert "activeDeadlineSeconds" not in plain and "ttlSecondsAfterFinished" not in plain


def test_an_existing_namespace_is_not_rendered() -> None:
    objects = render(RenderParams("kubectl", namespace="tenant", create_namespace=False))
    assert "Namespace" not in {o["kind"] for o in objects}
    assert {o["metadata"]["namespace"] for o in objects} == {"tenant"}


def test_pods_in_their_own_user_namespace_get_subordinate_ids_that_exist_there() -> None:
    """A pod with hostUsers: false has ids 0-65535 only: the image's 100000-165535 would
    not map, so podman pods mount a range that fits (not the pod user's 10001)."""
    objects = render(RenderParams("kubectl-with-podman", namespace="u",
                                  pod_user_namespace=True))
    config = find(objects, "ConfigMap")
    assert config["data"] == {"subuid": "mpiuser:16384:49152\n",
                              "subgid": "mpiuser:16384:49152\n"}
    for spec in pod_specs(objects):
        assert spec["hostUsers"] is False
        mounts = {m["mountPath"]: m for m in spec["containers"][0]["volumeMounts"]}
        assert mounts["/etc/subuid"]["subPath"] == "subuid"
        assert mounts["/etc/subgid"]["subPath"] == "subgid"
    start, count = 16384, 49152
    assert start > 10001 and start + count <= 65536
    plain = render(RenderParams("kubectl", pod_user_namespace=True))
    assert "ConfigMap" not in {o["kind"] for o in plain}
    assert all(s["hostUsers"] is False for s in pod_specs(plain))
    assert all("hostUsers" not in s for s in pod_specs(render(RenderParams("kubectl"))))


def test_a_suspended_cluster_runs_nothing_until_its_login_job_is_resumed() -> None:
    """--suspend: the login Job suspended and no compute pod; the login pod, once a queue
    resumes it, first scales the StatefulSet (a right its Role has on that one only)."""
    objects = render(RenderParams("ssh-with-podman", replicas=3, registry="r", tag="t",
                                  suspend=True))
    job, sts, role = find(objects, "Job"), find(objects, "StatefulSet"), find(objects, "Role")
    assert job["spec"]["suspend"] is True and sts["spec"]["replicas"] == 0
    admit, waiter = job["spec"]["template"]["spec"]["initContainers"]
    assert (admit["name"], waiter["name"]) == ("admit", paths.WAITER_CONTAINER)
    assert admit["command"] == ["kube-pmix-admit", "--replicas=3", "--namespace=$(POD_NAMESPACE)"]
    assert admit["image"] == waiter["image"] == "r/k8s-waitfor:t"
    assert admit["securityContext"] == waiter["securityContext"]
    assert admit["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert {"apiGroups": ["apps"], "resources": ["statefulsets/scale"],
            "verbs": ["get", "patch"], "resourceNames": ["hpc-cn"]} in role["rules"]
    # the exec rights name the pods the cluster has once admitted
    (exec_rule,) = [r for r in role["rules"] if "pods/exec" in r["resources"]]
    assert exec_rule["resourceNames"] == ["hpc-cn-0", "hpc-cn-1", "hpc-cn-2"]
    plain = render(RenderParams("ssh-with-podman", replicas=3))
    assert "suspend" not in find(plain, "Job")["spec"]
    assert find(plain, "StatefulSet")["spec"]["replicas"] == 3
    assert not [r for r in find(plain, "Role")["rules"] if r["apiGroups"] == ["apps"]]


def test_admit_asks_for_the_replicas_and_says_why_it_cannot(monkeypatch) -> None:
    from click.testing import CliRunner

    from kube_pmix.vcluster import admit

    assert admit.scale_body(4) == {"spec": {"replicas": 4}}
    # outside a pod: no in-cluster configuration, one line and exit 3 (the Job retries)
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    result = CliRunner().invoke(admit.main, ["--namespace", "n", "--replicas", "2"])
    assert result.exit_code == admit.EXIT_API
    assert result.output.startswith("kube-pmix-admit: cannot scale statefulset hpc-cn in n "
                                    "to 2: "), result.output
    assert len(result.output.strip().splitlines()) == 1


def test_podman_keeps_its_temporary_files_off_the_read_only_root(
    rendered: dict[str, list[Manifest]],
) -> None:
    """Without TMPDIR podman writes a new container's storage files to /var/tmp, on the
    read-only root: every `podman run` failed on the real bed."""
    for name, objects in rendered.items():
        for spec in pod_specs(objects):
            tmpdir = env_of(spec["containers"][0]).get("TMPDIR")
            assert tmpdir == ("/tmp" if "podman" in name else None), name
            if tmpdir:
                assert {"name": "tmp", "mountPath": "/tmp"} in spec["containers"][0][
                    "volumeMounts"], name
