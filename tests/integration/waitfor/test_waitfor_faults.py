"""wait-for-pods (the real CLI and Kubernetes client) against a tiny API server started here
on loopback, scripted to fail: 503 without Retry-After, 429 with it, connections reset or
refused, a watch that fails, a server that accepts and never answers. Transient errors are
retried within --timeout, and --timeout is a hard deadline."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Iterator

import pytest

WAITER = str(Path(sys.executable).parent / "kube-pmix-wait-for-pods")


def pod(name: str, ready: bool, rv: str = "5") -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": "kube-pmix", "resourceVersion": rv},
            "status": {"phase": "Running", "podIP": "10.0.0.2",
                       "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}}


def status(code: int, reason: str) -> dict[str, Any]:
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "reason": reason, "message": reason, "code": code}


class Script:
    """What the server answers, request by request: ("status", code, headers) | ("list",
    ready) | ("watch", [events]) | ("reset",). The last entry repeats."""

    def __init__(self, *steps: tuple[Any, ...]) -> None:
        self.steps = list(steps)
        self.seen: list[tuple[float, str]] = []
        self.lock = threading.Lock()

    def next(self, path: str) -> tuple[Any, ...]:
        with self.lock:
            self.seen.append((time.monotonic(), path))
            return self.steps.pop(0) if len(self.steps) > 1 else self.steps[0]


def serve(script: Script) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            pass

        def reply(self, code: int, body: dict[str, Any], headers: dict[str, str]) -> None:
            data = json.dumps(body).encode()
            self.send_response(code)
            for key, value in {"Content-Type": "application/json", **headers}.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:  # noqa: N802
            step = script.next(self.path)
            if step[0] == "reset":
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                           b"\x01\x00\x00\x00\x00\x00\x00\x00")
                self.connection.close()
                self.close_connection = True
            elif step[0] == "status":
                self.reply(step[1], status(step[1], step[2]), step[3] if len(step) > 3 else {})
            elif step[0] == "list":
                self.reply(200, {"kind": "PodList", "apiVersion": "v1",
                                 "metadata": {"resourceVersion": "5"},
                                 "items": [pod("hpc-cn-0", step[1])]}, {})
            elif step[0] == "watch":
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Connection", "close")
                self.end_headers()
                for event in step[1]:
                    self.wfile.write(json.dumps(event).encode() + b"\n")
                self.close_connection = True

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def kubeconfig(tmp_path: Path, port: int) -> Path:
    path = tmp_path / "kubeconfig"
    path.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "c",
        "clusters": [{"name": "c", "cluster": {"server": f"http://127.0.0.1:{port}"}}],
        "users": [{"name": "u", "user": {}}],
        "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u",
                                               "namespace": "kube-pmix"}}],
    }))
    return path


def run_waiter(config: Path, out: Path, timeout: float,
               bound: float) -> tuple[subprocess.CompletedProcess[str], float]:
    start = time.monotonic()
    done = subprocess.run([WAITER, "--kubeconfig", str(config), "--no-dns", "--count", "1",
                           "--namespace", "kube-pmix", "-o", str(out), "--timeout", str(timeout)],
                          capture_output=True, text=True, timeout=bound)
    return done, time.monotonic() - start


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Any]:
    servers: list[ThreadingHTTPServer] = []

    def start(*steps: tuple[Any, ...]) -> tuple[Script, Path]:
        script = Script(*steps)
        server = serve(script)
        servers.append(server)
        return script, kubeconfig(tmp_path, server.server_address[1])

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def test_503_429_and_resets_are_retried_honouring_retry_after(api, tmp_path):
    script, config = api(("status", 503, "ServiceUnavailable"), ("reset",),
                         ("status", 429, "TooManyRequests", {"Retry-After": "1"}),
                         ("list", True))
    done, took = run_waiter(config, tmp_path / "etc", timeout=30, bound=60)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "etc" / "hostfile").read_text() == "hpc-cn-0.hpc-cluster.kube-pmix\n"
    assert len(script.seen) == 4
    (t429, _), (t_ok, _) = script.seen[2], script.seen[3]
    assert t_ok - t429 >= 1.0  # Retry-After: 1 was honoured
    assert took < 20
    assert "HTTP 503" in done.stderr and "retrying in" in done.stderr


def test_a_failing_watch_is_retried_then_the_pod_turns_ready(api, tmp_path):
    ready = {"type": "MODIFIED", "object": pod("hpc-cn-0", True, "6")}
    script, config = api(("list", False), ("status", 503, "ServiceUnavailable"),
                         ("watch", [ready]))
    done, _ = run_waiter(config, tmp_path / "etc", timeout=30, bound=60)
    assert done.returncode == 0, done.stderr
    paths = [p for _, p in script.seen]
    assert "watch=True" in paths[1] or "watch=true" in paths[1]
    assert len(paths) == 3


def test_503_until_the_deadline_is_exit_3_at_the_deadline(api, tmp_path):
    _, config = api(("status", 503, "ServiceUnavailable"))
    done, took = run_waiter(config, tmp_path / "etc", timeout=3, bound=30)
    assert done.returncode == 3
    assert "still failing after 3s" in done.stderr and "HTTP 503" in done.stderr
    assert 2.5 <= took < 8
    assert not (tmp_path / "etc").exists()


def test_a_server_that_accepts_and_never_answers_cannot_hold_it_past_timeout(tmp_path):
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(16)  # connections complete in the kernel; nothing is ever read or sent
    try:
        config = kubeconfig(tmp_path, silent.getsockname()[1])
        done, took = run_waiter(config, tmp_path / "etc", timeout=3, bound=30)
    finally:
        silent.close()
    assert done.returncode == 3, done.stderr
    assert "Kubernetes API" in done.stderr.splitlines()[-1]
    assert 2.5 <= took < 8


def test_connection_refused_is_retried_until_the_deadline(tmp_path):
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()  # nothing listens there: every connect is refused
    done, took = run_waiter(kubeconfig(tmp_path, port), tmp_path / "etc", timeout=2, bound=30)
    assert done.returncode == 3
    last = done.stderr.splitlines()[-1]
    assert "still failing after 2s" in last and "attempts" in last
    assert 1.5 <= took < 7


def test_forbidden_is_final_at_once(api, tmp_path):
    script, config = api(("status", 403, "Forbidden"))
    done, took = run_waiter(config, tmp_path / "etc", timeout=30, bound=30)
    assert done.returncode == 3 and "Kubernetes API error 403" in done.stderr
    assert len(script.seen) == 1 and took < 10
