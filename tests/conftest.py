"""Shared pytest set-up: fixtures live in tests/fixtures, one module per concern."""

pytest_plugins = [
    "tests.fixtures.cluster",
    "tests.fixtures.mpi",
    "tests.fixtures.podman",
    "tests.fixtures.prrte_k8sgo",
]
