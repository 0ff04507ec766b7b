"""The asyncio exec transport over real TLS to both test beds: many streams, one loop."""

from __future__ import annotations

import asyncio

import pytest

from launchers.exec import hosts
from launchers.exec.config import load_config
from launchers.exec.errors import PodNotFound
from launchers.exec.transport import ExecSession, open_guarded


def test_concurrent_guarded_streams_to_every_pod(cluster):
    session = ExecSession(load_config(cluster.kubeconfig, env={}), connect_timeout=20)

    async def one(pod: str, i: int) -> tuple[str, int, bytes]:
        out = bytearray()
        proc = await open_guarded(session, pod, ["/bin/sh", "-c", f"cat; hostname; exit {i}"],
                                  heartbeat_interval=1, stdout=out.extend)
        proc.write(f"{i}:".encode())
        proc.close_stdin()
        return pod, await asyncio.wait_for(proc.wait(), 60), bytes(out)

    async def main():
        calls = [one(pod, i) for i in range(3) for pod in cluster.compute_pods]
        return await asyncio.gather(*calls)

    for pod, status, out in asyncio.run(main()):
        assert out == f"{status}:{pod}\n".encode()
    assert sorted({pod for pod, _, _ in asyncio.run(main())}) == sorted(cluster.compute_pods)


def test_ip_lookup_and_missing_pod_over_tls(cluster):
    session = ExecSession(load_config(cluster.kubeconfig, env={}), connect_timeout=20)
    pod = cluster.compute_pods[0]
    ip = cluster.ip(pod)
    found = asyncio.run(hosts.resolve(ip, session.get_json, cluster.namespace))
    assert found == (pod, cluster.namespace)

    async def missing():
        proc = await session.open_exec("hpc-cn-404", ["true"])
        return await proc.wait()

    with pytest.raises(PodNotFound, match="hpc-cn-404"):
        asyncio.run(missing())
