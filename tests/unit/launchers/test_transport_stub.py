"""The asyncio transport (what a launcher uses for many pods at once) against the stub server."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest

from launchers.exec.config import load_config
from launchers.exec.errors import (
    ApiError,
    ConnectionFailed,
    Forbidden,
    PodNotFound,
    ProcessError,
    Unauthorized,
)
from launchers.exec.process import CompletedProcess
from launchers.exec.transport import ExecSession, open_guarded
from tests.unit.launchers.stub_server import ServerThread, StubServer

BIN = Path(sys.executable).parent


stubs: list[StubServer] = []


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    made = []
    paths = []
    stubs.clear()
    for protocols in (("v5.channel.k8s.io", "v4.channel.k8s.io"), ("v4.channel.k8s.io",)):
        server = StubServer(env={"PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"},
                            protocols=protocols)
        thread = ServerThread(server)
        thread.start()
        made.append(thread)
        stubs.append(server)
        path = tmp_path_factory.mktemp("transport") / "config"
        path.write_text(server.kubeconfig())
        paths.append(path)
    yield paths
    for thread in made:
        thread.stop()


def session_for(path: Path, retry_deadline: float | None = None) -> ExecSession:
    return ExecSession(load_config(str(path), env={}), connect_timeout=10,
                       retry_deadline=retry_deadline)


async def collect(session: ExecSession, pod: str, argv: list[str], data: bytes = b"",
                  guarded: bool = False) -> tuple[int, bytes, bytes]:
    out, err = bytearray(), bytearray()
    if guarded:
        proc = await open_guarded(session, pod, argv, heartbeat_interval=0.2,
                                  heartbeat_timeout=5, stdout=out.extend, stderr=err.extend)
    else:
        proc = await session.open_exec(pod, argv, stdout=out.extend, stderr=err.extend)
    if data:
        proc.write(data)
        await proc.drain()
    proc.close_stdin()
    return await asyncio.wait_for(proc.wait(), 30), bytes(out), bytes(err)


@pytest.mark.parametrize("which", [0, 1], ids=["v5", "v4"])
def test_many_guarded_processes_from_one_loop(servers, which):
    session = session_for(servers[which])

    async def main():
        return await asyncio.gather(*(
            collect(session, "pod-a", ["/bin/sh", "-c", f"cat; echo {i} >&2; exit {i % 4}"],
                    f"in{i}\n".encode(), guarded=True)
            for i in range(20)))

    results = asyncio.run(main())
    assert results == [(i % 4, f"in{i}\n".encode(), f"{i}\n".encode()) for i in range(20)]


def test_plain_exec_v5_closes_stdin(servers):
    session = session_for(servers[0])
    assert asyncio.run(collect(session, "pod-b", ["cat"], b"x" * 100_000)) == (
        0, b"x" * 100_000, b"")


def ended_by(servers, script: str, action) -> int:
    """Run `script` under the guard; once it says "up", `action(proc)`; its status."""
    session = session_for(servers[0])

    async def main():
        out = bytearray()
        proc = await open_guarded(session, "pod-a", ["/bin/sh", "-c", f"{script}; echo up; "
                                                     "while :; do sleep 0.05; done"],
                                  heartbeat_interval=0.2, stdout=out.extend)
        while b"up" not in out:
            await asyncio.sleep(0.02)
        assert action(proc)
        return await asyncio.wait_for(proc.wait(), 30)

    return asyncio.run(main())


def test_signal_reaches_the_remote_command(servers):
    assert ended_by(servers, "trap 'exit 9' TERM", lambda proc: proc.send_signal(15)) == 9


def test_kill_tree_ends_a_command_that_ignores_term(servers):
    assert ended_by(servers, "trap '' TERM", lambda proc: proc.kill_tree()) != 0


def test_errors_are_translated(servers, tmp_path):
    session = session_for(servers[0])
    with pytest.raises(PodNotFound):
        asyncio.run(collect(session, "ghost", ["true"]))
    with pytest.raises(Forbidden):
        asyncio.run(collect(session, "secret-pod", ["true"]))
    bad = tmp_path / "bad"
    bad.write_text(servers[0].read_text().replace("stub-token", "nope"))
    with pytest.raises(Unauthorized):
        asyncio.run(collect(session_for(bad), "pod-a", ["true"]))
    port = servers[0].read_text().split("127.0.0.1:")[1].split('"')[0]
    refused = tmp_path / "refused"
    refused.write_text(servers[0].read_text().replace(f":{port}", ":1"))
    with pytest.raises(ConnectionFailed, match="connection refused"):
        asyncio.run(collect(session_for(refused, retry_deadline=0.5), "pod-a", ["true"]))


def test_server_pings_are_answered(tmp_path):
    server = StubServer(ping_every=0.1)
    thread = ServerThread(server)
    thread.start()
    try:
        path = tmp_path / "config"
        path.write_text(server.kubeconfig())
        result = asyncio.run(collect(session_for(path), "pod-a",
                                     ["/bin/sh", "-c", "sleep 1; echo still here"]))
        assert result == (0, b"still here\n", b"")
    finally:
        thread.stop()


def test_get_json_lists_pods(servers):
    session = session_for(servers[0])
    listing = asyncio.run(session.get_json("/api/v1/namespaces/default/pods"))
    assert {item["metadata"]["name"] for item in listing["items"]} == {"pod-a", "pod-b"}


def test_run_returns_a_completed_process_and_check_raises_process_error(servers):
    session = session_for(servers[0])
    record = asyncio.run(session.run("pod-a", ["/bin/sh", "-c", "cat; echo e >&2"],
                                     input=b"in\n"))
    assert record == CompletedProcess("/bin/sh -c cat; echo e >&2", 0, b"in\n", b"e\n", "pod-a")
    with pytest.raises(ProcessError) as info:
        asyncio.run(session.run("pod-a", ["/bin/sh", "-c", "echo out; exit 4"], check=True,
                                guarded=True, heartbeat_interval=0.2))
    assert (info.value.exit_status, info.value.stdout, info.value.stderr) == (4, b"out\n", b"")


def test_upgrade_refused_with_429_is_retried_then_gives_up_at_the_deadline(servers):
    stubs[0].refuse_with, stubs[0].refuse_first = (429, "0"), 2
    assert asyncio.run(collect(session_for(servers[0], retry_deadline=20), "pod-a",
                               ["/bin/sh", "-c", "echo ok"])) == (0, b"ok\n", b"")
    stubs[0].refuse_with, stubs[0].refuse_first = (503, None), 1000
    try:
        with pytest.raises(ApiError, match="HTTP 503"):
            asyncio.run(collect(session_for(servers[0], retry_deadline=0.5), "pod-a", ["true"]))
    finally:
        stubs[0].refuse_first = 0


def test_a_server_that_never_answers_fails_saying_how_long_was_waited(servers, tmp_path):
    """Under load a bound is met; the failure names it (a bare "timed out" did not)."""
    import socket

    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)  # accepts (the kernel does), never answers
    try:
        port = servers[0].read_text().split("127.0.0.1:")[1].split('"')[0]
        config = tmp_path / "silent"
        config.write_text(servers[0].read_text().replace(
            f":{port}", f":{silent.getsockname()[1]}"))
        session = ExecSession(load_config(str(config), env={}), connect_timeout=0.3)
        with pytest.raises(ConnectionFailed, match=r"timed out after 0\.3 s"):
            asyncio.run(collect(session, "pod-a", ["true"]))
    finally:
        silent.close()
