"""The k8sgo launcher's cluster tests: one 16-pod local cluster for the folder.

The cluster's exec idle timeout is short (3 s), so every test also proves that
the launcher's sessions outlive it. The launcher runs on the host with the admin
kubeconfig (k8s transport), or in the login pod as the pod user (ssh transport,
which reaches the compute pods' sshd over the pod network).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterator

import pytest

from tests.fixtures.cluster import own_cluster

if TYPE_CHECKING:
    from kube_pmix.local.cluster import Cluster

NODES = 16
IDLE_TIMEOUT = 3.0


@pytest.fixture(scope="package")
def k8sgo_cluster() -> Iterator[Cluster]:
    with own_cluster("kp-k8sgo", NODES, IDLE_TIMEOUT) as cluster:
        yield cluster
