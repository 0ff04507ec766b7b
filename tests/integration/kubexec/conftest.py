"""kubexec's cluster suite runs against both test beds.

`cluster` is the local cluster's session cluster, or the virtual cluster the
session deployed on the real Kubernetes test bed (tests/fixtures/k8s.py): the
same tests, the same names. Where the two differ, the local cluster is wrong.
The real bed's first test may build the session's images: 1800 s for it.
"""

from __future__ import annotations

from typing import Any

import pytest


@pytest.fixture(params=[
    pytest.param("local", marks=pytest.mark.cluster),
    pytest.param("k8s", marks=[pytest.mark.k8s, pytest.mark.timeout(1800)]),
])
def cluster(request: pytest.FixtureRequest) -> Any:
    if request.param == "local":
        return request.getfixturevalue("local_cluster")
    return request.getfixturevalue("k8s_vcluster")
