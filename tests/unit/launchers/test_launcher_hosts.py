"""HOST -> pod: names parsed without lookups; IPs looked up with one list call."""

from __future__ import annotations

import asyncio

import pytest

from launchers.exec.errors import ApiError, Forbidden, HostNotFound
from launchers.exec.hosts import Target, parse_host, pods_with_ip, resolve


@pytest.mark.parametrize(
    ("host", "target"),
    [
        ("hpc-cn-0", Target(pod="hpc-cn-0")),
        ("mpiuser@hpc-cn-0", Target(pod="hpc-cn-0")),
        ("hpc-cn-0.hpc-cn", Target(pod="hpc-cn-0")),
        ("hpc-cn-0.hpc-cn.kube-pmix", Target(pod="hpc-cn-0", namespace="kube-pmix")),
        ("HPC-CN-0.hpc-cn.kube-pmix.svc.cluster.local.",
         Target(pod="hpc-cn-0", namespace="kube-pmix")),
        ("10.1.2.3", Target(ip="10.1.2.3")),
        ("[fd00::1]", Target(ip="fd00::1")),
    ],
)
def test_parse_host(host, target):
    assert parse_host(host) == target


@pytest.mark.parametrize("host", ["", "user@", "a..b"])
def test_malformed_hosts(host):
    with pytest.raises(HostNotFound):
        parse_host(host)


PODS = [
    {"metadata": {"name": "old"}, "status": {"podIP": "10.0.0.5", "phase": "Succeeded"}},
    {"metadata": {"name": "new"}, "status": {"podIP": "10.0.0.5", "phase": "Running"}},
    {"metadata": {"name": "dual"}, "status": {"podIPs": [{"ip": "10.0.0.6"}, {"ip": "fd00::6"}]}},
]


def test_pods_with_ip_prefers_live_pods_and_reads_pod_ips():
    assert pods_with_ip(PODS, "10.0.0.5") == ["new", "old"]
    assert pods_with_ip(PODS, "fd00::6") == ["dual"]
    assert pods_with_ip(PODS, "10.0.0.7") == []


class FakeApi:
    """Answers list calls from PODS; `selectors=False` refuses field selectors with 400."""

    def __init__(self, selectors: bool = True) -> None:
        self.selectors = selectors
        self.paths: list[str] = []

    async def __call__(self, path: str):
        self.paths.append(path)
        if "fieldSelector" in path:
            if not self.selectors:
                raise ApiError("field label not supported", "", 400)
            return {"items": [p for p in PODS if p["status"].get("podIP") == "10.0.0.5"]}
        return {"items": PODS}


def test_resolve_names_needs_no_api_call():
    api = FakeApi()
    assert asyncio.run(resolve("a.svc.ns2", api, "ns1")) == ("a", "ns2")
    assert asyncio.run(resolve("a", api, "ns1")) == ("a", "ns1")
    assert api.paths == []


def test_resolve_ip_uses_field_selector():
    api = FakeApi()
    assert asyncio.run(resolve("10.0.0.5", api, "ns")) == ("new", "ns")
    assert api.paths == ["/api/v1/namespaces/ns/pods?fieldSelector=status.podIP%3D10.0.0.5"]


def test_resolve_ip_falls_back_to_full_list():
    api = FakeApi(selectors=False)
    assert asyncio.run(resolve("fd00::6", api, "ns")) == ("dual", "ns")
    assert api.paths[-1] == "/api/v1/namespaces/ns/pods"


def test_unknown_ip_and_other_errors():
    with pytest.raises(HostNotFound, match="no pod has IP 10.9.9.9 in namespace ns"):
        asyncio.run(resolve("10.9.9.9", FakeApi(selectors=False), "ns"))

    async def forbidden(path: str):
        raise Forbidden("forbidden: list pods", "", 403)

    with pytest.raises(Forbidden):
        asyncio.run(resolve("10.0.0.5", forbidden, "ns"))
