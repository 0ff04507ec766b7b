"""UNIT-TEST STUB: a tiny exec server on loopback that runs commands on this machine.

Serves HTTPS with a throwaway CA (the kubeconfig carries it) unless `tls=False`:
clients send no bearer token over plain http (client-go's rule), so only
the tests of that rule use http, and there the stub asks for no token.

Not the local cluster and not a faithful kubelet: just enough of pods/exec
(aiohttp's own WebSocket code, v5/v4, Status errors, channel-3 status) to drive
our client and kubexec offline. Integration tests use the real local cluster.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import signal
import ssl
import tempfile
import threading
from dataclasses import dataclass, field
from ipaddress import IPv4Address
from pathlib import Path
from typing import Any, Optional

import psutil
from aiohttp import WSMsgType, web

from kube_pmix.local.tls import TlsMaterial, make_tls

TOKEN = "stub-token"


def status(code: int, reason: str, message: str) -> web.Response:
    body = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": message, "reason": reason, "code": code}
    return web.json_response(body, status=code)


@dataclass
class StubServer:
    """Pods are names (with IPs); `forbidden` pods refuse exec with 403."""

    pods: dict[str, str] = field(default_factory=lambda: {"pod-a": "10.9.0.1", "pod-b": "10.9.0.2"})
    forbidden: set[str] = field(default_factory=lambda: {"secret-pod"})
    field_selectors: bool = True
    protocols: tuple[str, ...] = ("v5.channel.k8s.io", "v4.channel.k8s.io")
    env: dict[str, str] = field(default_factory=dict)
    ping_every: Optional[float] = None  # aiohttp pings and drops clients that do not pong
    port: int = 0
    tls: bool = True
    # Answer the first N exec upgrades with this (status, Retry-After) instead: retry tests.
    refuse_first: int = 0
    refuse_with: tuple[int, Optional[str]] = (429, "1")
    # Close the WebSocket this long after the start without a status: an idle-timeout kill.
    close_without_status_after: Optional[float] = None
    material: Optional[TlsMaterial] = None
    requests: list[str] = field(default_factory=list)
    authorization: list[Optional[str]] = field(default_factory=list)
    processes: list[asyncio.subprocess.Process] = field(default_factory=list)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/api/v1/namespaces/{ns}/pods", self.list_pods)
        app.router.add_get("/api/v1/namespaces/{ns}/pods/{pod}/exec", self.exec)
        return app

    def _authorized(self, request: web.Request) -> bool:
        self.authorization.append(request.headers.get("Authorization"))
        if not self.tls:
            return True  # an insecure port: no credentials expected, none must come
        return request.headers.get("Authorization") == f"Bearer {TOKEN}"

    async def list_pods(self, request: web.Request) -> web.Response:
        self.requests.append(str(request.rel_url))
        if not self._authorized(request):
            return status(401, "Unauthorized", "Unauthorized")
        selector = request.query.get("fieldSelector")
        items = [{"metadata": {"name": n}, "status": {"podIP": ip, "phase": "Running"}}
                 for n, ip in self.pods.items()]
        if selector:
            if not self.field_selectors:
                return status(400, "BadRequest", f"field label not supported: {selector}")
            key, _, value = selector.partition("=")
            items = [i for i in items if key == "status.podIP" and i["status"]["podIP"] == value]
        return web.json_response({"kind": "PodList", "items": items})

    async def exec(self, request: web.Request) -> web.StreamResponse:
        self.requests.append(str(request.rel_url))
        pod = request.match_info["pod"]
        if not self._authorized(request):
            return status(401, "Unauthorized", "Unauthorized")
        if pod in self.forbidden:
            return status(403, "Forbidden", f'pods "{pod}" is forbidden: User "u" cannot '
                          'create resource "pods/exec"')
        if pod not in self.pods:
            return status(404, "NotFound", f'pods "{pod}" not found')
        if self.refuse_first > 0:
            self.refuse_first -= 1
            code, after = self.refuse_with
            response = status(code, "TooManyRequests" if code == 429 else "ServiceUnavailable",
                              "try again later")
            if after is not None:
                response.headers["Retry-After"] = after
            return response
        offered = [p.strip() for p in request.headers.get("Sec-WebSocket-Protocol", "").split(",")]
        chosen = next((p for p in offered if p in self.protocols), None)
        if chosen is None:
            return status(400, "BadRequest", "no supported protocol")
        argv = request.query.getall("command")
        ws = web.WebSocketResponse(protocols=(chosen,), heartbeat=self.ping_every)
        await ws.prepare(request)
        await ws.send_bytes(b"\x01")
        proc = await asyncio.create_subprocess_exec(
            *argv, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE, env={**os.environ, **self.env},
            start_new_session=True,
        )
        self.processes.append(proc)

        async def pump(stream: Optional[asyncio.StreamReader], channel: int) -> None:
            assert stream is not None
            while chunk := await stream.read(32767):
                with contextlib.suppress(ConnectionError, RuntimeError):
                    await ws.send_bytes(bytes([channel]) + chunk)

        async def receive() -> None:
            assert proc.stdin is not None
            async for msg in ws:
                if msg.type not in (WSMsgType.BINARY, WSMsgType.TEXT):
                    break
                data = msg.data if isinstance(msg.data, bytes) else msg.data.encode()
                if data[:1] == b"\x00" and not proc.stdin.is_closing():
                    with contextlib.suppress(ConnectionError, RuntimeError):
                        proc.stdin.write(data[1:])
                        await proc.stdin.drain()
                elif data == b"\xff\x00":
                    proc.stdin.close()

        output = asyncio.gather(pump(proc.stdout, 1), pump(proc.stderr, 2))
        receiver = asyncio.ensure_future(receive())
        waiting: list[Any] = [output, receiver]
        if self.close_without_status_after is not None:
            waiting.append(asyncio.ensure_future(asyncio.sleep(self.close_without_status_after)))
        await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
        if self.close_without_status_after is not None and not output.done():
            receiver.cancel()  # like the kubelet's idle timeout: a Close, no status
            await ws.close()
            return ws
        if not output.done():  # client gone: like a kubelet, leave the process running
            receiver.cancel()
            return ws
        code = await proc.wait()
        code = 128 - code if code < 0 else code
        st: dict[str, Any] = {"metadata": {}, "status": "Success"}
        if code:
            st = {"metadata": {}, "status": "Failure", "reason": "NonZeroExitCode",
                  "message": f"command terminated with non-zero exit code: exit code {code}",
                  "details": {"causes": [{"reason": "ExitCode", "message": str(code)}]}}
        await ws.send_bytes(b"\x03" + json.dumps(st).encode())
        receiver.cancel()
        await ws.close()
        return ws

    def kubeconfig(self, namespace: str = "default") -> str:
        cluster: dict[str, Any] = {"server": f"http://127.0.0.1:{self.port}"}
        if self.tls:
            assert self.material is not None
            cluster = {"server": f"https://127.0.0.1:{self.port}",
                       "certificate-authority-data":
                           base64.b64encode(self.material.ca_cert_pem).decode()}
        return json.dumps({
            "apiVersion": "v1", "kind": "Config", "current-context": "stub",
            "clusters": [{"name": "stub", "cluster": cluster}],
            "users": [{"name": "stub", "user": {"token": TOKEN}}],
            "contexts": [{"name": "stub", "context": {"cluster": "stub", "user": "stub",
                                                      "namespace": namespace}}],
        })

    async def kill_all(self) -> None:
        """Kill every process group we started and reap it while the loop still runs."""
        for proc in self.processes:
            # the guard puts its command in a session of its own: kill every descendant
            try:
                tree = [proc.pid, *(p.pid for p in psutil.Process(proc.pid).children(True))]
            except psutil.Error:
                tree = [proc.pid]
            for pid in tree:
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)
        for proc in self.processes:
            if proc.stdin is not None:
                proc.stdin.close()  # the transport closes once all its pipes are closed
                # a guard that exited before its last records were written broke the pipe:
                # take that from the close waiter, or asyncio logs it as never retrieved
                with contextlib.suppress(ConnectionError, asyncio.TimeoutError):
                    await asyncio.wait_for(proc.stdin.wait_closed(), 10)
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(proc.wait(), 10)
        for _ in range(50):  # let the pipe transports see EOF and close
            if all(p.stdout is None or p.stdout.at_eof() for p in self.processes):
                break
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.02)
        self.processes.clear()


class ServerThread:
    """Runs a StubServer on its own event loop in a background thread."""

    def __init__(self, server: StubServer) -> None:
        self.server = server
        self.loop = asyncio.new_event_loop()
        self.runner = web.AppRunner(server.app(), handle_signals=False)
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def _ssl_context(self) -> Optional[ssl.SSLContext]:
        if not self.server.tls:
            return None
        material = self.server.material = make_tls("stub", [IPv4Address("127.0.0.1")])
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        with tempfile.TemporaryDirectory(prefix="stub-tls-") as tmp:
            cert, key = Path(tmp) / "cert.pem", Path(tmp) / "key.pem"
            cert.write_bytes(material.server_cert_pem)
            key.write_bytes(material.server_key_pem)
            ctx.load_cert_chain(str(cert), str(key))
        return ctx

    def start(self) -> StubServer:
        self.loop.run_until_complete(self.runner.setup())
        site = web.TCPSite(self.runner, "127.0.0.1", 0, ssl_context=self._ssl_context())
        self.loop.run_until_complete(site.start())
        sockets = site._server.sockets if site._server else []  # type: ignore[union-attr]
        self.server.port = sockets[0].getsockname()[1]
        self.thread.start()
        return self.server

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.server.kill_all(), self.loop).result(30)
        asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()
