"""The k8sgo launcher's cluster tests: one 16-pod local cluster for the folder.

The cluster's exec idle timeout is short (3 s), so every test also proves that
the launcher's sessions outlive it. The launcher runs on the host with the admin
kubeconfig (k8s transport), or in the login pod as the pod user (ssh transport,
which reaches the compute pods' sshd over the pod network).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Iterator

import pytest

from tests.fixtures.cluster import _down, _up, require_root

if TYPE_CHECKING:
    from kube_pmix.local.cluster import Cluster

NODES = 16
IDLE_TIMEOUT = 3.0


@pytest.fixture(scope="package")
def k8sgo_cluster() -> Iterator[Cluster]:
    require_root()
    name = f"kp-k8sgo-{os.getpid() % 10000}"
    cluster = _up(name, NODES, IDLE_TIMEOUT)
    try:
        yield cluster
    finally:
        _down(name)
