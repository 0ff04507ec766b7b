"""Every overlay renders with kubectl's kustomize, parameters apply, and every object
validates against the Kubernetes 1.32 schemas (kubernetes-validate, offline)."""

from __future__ import annotations

import pytest
from vc_helpers import env_of, find, pod_specs

from kube_pmix.vcluster import paths
from kube_pmix.vcluster.errors import RenderError
from kube_pmix.vcluster.render import (
    Manifest,
    RenderParams,
    _set_flag,
    kustomization,
    post_process,
    render,
)
from kube_pmix.vcluster.variants import VARIANTS

kubernetes_validate = pytest.importorskip("kubernetes_validate")


def test_every_variant_renders_the_virtual_cluster(rendered: dict[str, list[Manifest]]) -> None:
    for name, objects in rendered.items():
        kinds = sorted(o["kind"] for o in objects)
        assert kinds == sorted([
            "Namespace", "ServiceAccount", "Role", "RoleBinding", "Service", "NetworkPolicy",
            "StatefulSet", "Job",
        ]), name
        assert not [o for o in objects if o["kind"] in ("ClusterRole", "ClusterRoleBinding")]


def test_every_object_validates_against_the_schemas(rendered: dict[str, list[Manifest]]) -> None:
    for name, objects in rendered.items():
        for obj in objects:
            try:
                kubernetes_validate.validate(obj, "1.32.0", strict=True)
            except kubernetes_validate.ValidationError as exc:  # pragma: no cover - on failure
                pytest.fail(f"{name}: {obj['kind']} {obj['metadata']['name']}: {exc.message}")


def test_the_ssh_secret_validates_too() -> None:
    from kube_pmix.vcluster.sshkeys import ssh_secret

    kubernetes_validate.validate(ssh_secret("kube-pmix"), "1.32.0", strict=True)


def test_names_and_labels_match_the_local_cluster(rendered: dict[str, list[Manifest]]) -> None:
    """The manifests, kube_pmix.names and the local cluster's pods say the same names."""
    from kube_pmix import names
    from kube_pmix.local.daemon import initial_pods

    local = initial_pods(2, "abcde")
    local_compute, local_login = local[0], local[-1]
    for objects in rendered.values():
        sts = find(objects, "StatefulSet")
        assert sts["metadata"]["name"] == names.STATEFULSET
        assert sts["spec"]["serviceName"] == names.SERVICE
        assert sts["spec"]["podManagementPolicy"] == "Parallel"
        compute = sts["spec"]["template"]
        assert compute["metadata"]["labels"] == dict(names.COMPUTE_LABELS,
                                                     **{names.CLUSTER_LABEL: names.SERVICE})
        assert sts["spec"]["selector"]["matchLabels"] == names.COMPUTE_LABELS
        assert [c["name"] for c in compute["spec"]["containers"]] == [names.COMPUTE_CONTAINER]
        assert compute["spec"]["serviceAccountName"] == names.SERVICE_ACCOUNT
        svc = find(objects, "Service")
        assert svc["metadata"]["name"] == names.SERVICE and svc["spec"]["clusterIP"] == "None"
        job = find(objects, "Job")
        assert job["metadata"]["name"] == names.LOGIN_JOB
        login = job["spec"]["template"]
        assert names.LOGIN_LABELS.items() <= login["metadata"]["labels"].items()
        assert [c["name"] for c in login["spec"]["initContainers"]] == [names.WAITER_CONTAINER]
        assert [c["name"] for c in login["spec"]["containers"]] == [names.LOGIN_CONTAINER]
        assert login["spec"]["serviceAccountName"] == names.SERVICE_ACCOUNT
        assert find(objects, "ServiceAccount")["metadata"]["name"] == names.SERVICE_ACCOUNT
        assert {o["metadata"].get("namespace", names.NAMESPACE) for o in objects} == {
            names.NAMESPACE}
        # the local cluster's pods carry the same labels and containers
        assert compute["metadata"]["labels"].items() <= local_compute.labels.items()
        assert login["metadata"]["labels"].items() <= local_login.labels.items()
        assert [c.name for c in local_compute.containers] == [names.COMPUTE_CONTAINER]
        assert [c.name for c in local_login.containers] == [names.LOGIN_CONTAINER]
        assert [c.name for c in local_login.init_containers] == [names.WAITER_CONTAINER]


def test_parameters_apply_without_touching_the_sources() -> None:
    params = RenderParams("kubectl-with-podman-unpriv", namespace="hpc-a", replicas=4,
                          registry="quay.io/me/", tag="v7", slots=8, wait_timeout=90)
    objects = render(params)
    assert find(objects, "Namespace")["metadata"]["name"] == "hpc-a"
    assert {o["metadata"]["namespace"] for o in objects if o["kind"] != "Namespace"} == {"hpc-a"}
    assert find(objects, "RoleBinding")["subjects"][0]["namespace"] == "hpc-a"
    assert find(objects, "StatefulSet")["spec"]["replicas"] == 4
    exec_rule = [r for r in find(objects, "Role")["rules"] if "pods/exec" in r["resources"]][0]
    assert exec_rule["resourceNames"] == ["hpc-cn-0", "hpc-cn-1", "hpc-cn-2", "hpc-cn-3"]
    waiter = find(objects, "Job")["spec"]["template"]["spec"]["initContainers"][0]
    assert "--count=4" in waiter["command"] and "--count=2" not in waiter["command"]
    assert "--slots=8" in waiter["command"] and "--timeout=90" in waiter["command"]
    images = {c["image"] for spec in pod_specs(objects)
              for c in spec["containers"] + spec.get("initContainers", [])}
    assert images == {"quay.io/me/k8s-runtime-with-podman:v7", "quay.io/me/k8s-waitfor:v7"}


def test_kustomization_references_the_overlay_and_sets_every_image() -> None:
    doc = kustomization("../x/overlays/ssh", RenderParams("ssh", registry="r", tag="t"))
    assert doc["resources"] == ["../x/overlays/ssh"]
    assert {"name": "k8s-mpi-with-runtime", "newName": "r/k8s-mpi-with-runtime",
            "newTag": "t"} in doc["images"]


def test_set_flag_replaces_both_spellings() -> None:
    assert _set_flag(["w", "--count", "2", "--x=1"], "--count", "5") == ["w", "--x=1", "--count=5"]
    assert _set_flag(["w", "--count=2"], "--count", "5") == ["w", "--count=5"]


def test_post_process_refuses_foreign_manifests() -> None:
    with pytest.raises(RenderError, match="lack StatefulSet hpc-cn"):
        post_process([{"kind": "Job", "metadata": {"name": "x"}}], RenderParams("ssh"))


def test_agents_use_prrte_names(rendered: dict[str, list[Manifest]]) -> None:
    for name, objects in rendered.items():
        want = "ssh" if VARIANTS[name].transport == "ssh" else paths.KUBEXEC
        for spec in pod_specs(objects):
            env = env_of(spec["containers"][0])
            assert env["PRTE_MCA_plm_ssh_agent"] == want, name
            # the image sets the prefix of the PRRTE it carries; a manifest must not
            # point every pod at another one
            assert "PRTE_PREFIX" not in env, name
            assert not [k for k in env if k.startswith("OMPI_MCA_plm_rsh")], name
        login = find(objects, "Job")["spec"]["template"]["spec"]["containers"][0]
        assert env_of(login)["PRTE_MCA_prte_default_hostfile"] == paths.HOSTFILE


def test_unpriv_variants_request_fuse_and_set_pmix_params(
    rendered: dict[str, list[Manifest]],
) -> None:
    for name, objects in rendered.items():
        for spec in pod_specs(objects):
            main = spec["containers"][0]
            env = env_of(main)
            fuse = main["resources"].get("limits", {}).get("github.com/fuse")
            if VARIANTS[name].fuse:
                assert fuse == "1"
                assert env["PMIX_MCA_psec"] == "none"
            else:
                assert fuse is None and "PMIX_MCA_psec" not in env
            # never globally: it turns prte's command line into mpirun's (no --daemonize)
            assert "PRTE_MCA_schizo_proxy" not in env
            assert (env.get("STORAGE_DRIVER") == "vfs") == (
                VARIANTS[name].podman and not VARIANTS[name].fuse
            )


def test_dev_shm_is_memory_backed(rendered: dict[str, list[Manifest]]) -> None:
    for objects in rendered.values():
        for spec in pod_specs(objects):
            volumes = {v["name"]: v for v in spec["volumes"]}
            assert volumes["dev-shm"]["emptyDir"]["medium"] == "Memory"
            mounts = {m["mountPath"] for m in spec["containers"][0]["volumeMounts"]}
            assert "/dev/shm" in mounts


def test_every_pod_names_a_runtime_dir_of_its_own_in_the_home_volume(
    rendered: dict[str, list[Manifest]],
) -> None:
    """kubexec's control master refuses the /tmp emptyDir (0777, not sticky): each pod
    names an XDG_RUNTIME_DIR inside the home volume, which kube-pmix-node makes 0700."""
    for name, objects in rendered.items():
        for spec in pod_specs(objects):
            main = spec["containers"][0]
            home = [m["mountPath"] for m in main["volumeMounts"] if m["name"] == "home"]
            runtime_dir = env_of(main)["XDG_RUNTIME_DIR"]
            assert home and runtime_dir.startswith(home[0] + "/"), (name, runtime_dir)
