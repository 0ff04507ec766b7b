"""Shared pytest set-up: fixtures live in tests/fixtures, one module per concern."""

pytest_plugins = [
    "tests.fixtures.cluster",
    "tests.fixtures.guard",
    "tests.fixtures.mpi",
    "tests.fixtures.podman",
    "tests.fixtures.images",
    "tests.fixtures.prrte_k8sgo",
    "tests.fixtures.k8s",
]
