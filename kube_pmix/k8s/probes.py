"""Is a component ready? One check per component, each returning None or why not.

Used inside the cluster's network namespace by the daemon while it brings the
cluster up. HTTP checks use the component's own health endpoint; the API server
is asked with the admin's certificate, the node through the API, and cluster DNS
with a real query to the `kube-dns` Service address.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import ssl
import struct
from typing import Optional

from . import layout
from .plan import Plan


async def tcp(host: str, port: int) -> Optional[str]:
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), 2)
    except (OSError, asyncio.TimeoutError) as exc:
        return f"{host}:{port} does not accept connections ({exc.__class__.__name__})"
    writer.close()
    return None


def client_context(plan: Plan, user: Optional[str] = "admin") -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=plan.pki("ca"))
    if user:
        ctx.load_cert_chain(plan.pki(user), plan.pki(user, "key"))
    return ctx


async def http_get(host: str, port: int, path: str,
                   ctx: Optional[ssl.SSLContext] = None) -> tuple[int, bytes]:
    """A bare HTTP/1.1 GET (status, body): enough for health endpoints, no client library."""
    reader, writer = await asyncio.wait_for(
        asyncio.open_connection(host, port, ssl=ctx, server_hostname=host if ctx else None), 3)
    try:
        writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
                     .encode())
        raw = await asyncio.wait_for(reader.read(), 5)
    finally:
        writer.close()
    head, _, body = raw.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    if b"transfer-encoding: chunked" in head.lower():
        body = _unchunk(body)
    return status, body


def _unchunk(body: bytes) -> bytes:
    out, rest = b"", body
    while rest:
        size_line, _, rest = rest.partition(b"\r\n")
        size = int(size_line.split(b";")[0] or b"0", 16)
        if size == 0:
            break
        out, rest = out + rest[:size], rest[size + 2:]
    return out


async def healthz(host: str, port: int, path: str,
                  ctx: Optional[ssl.SSLContext] = None) -> Optional[str]:
    try:
        status, body = await http_get(host, port, path, ctx)
    except (OSError, asyncio.TimeoutError, ssl.SSLError, ValueError, IndexError) as exc:
        return f"{host}:{port}{path}: {exc.__class__.__name__}: {exc}"
    if status != 200:
        return f"{host}:{port}{path} answers {status}: {body[:200].decode(errors='replace')}"
    return None


def insecure() -> ssl.SSLContext:
    """For the self-signed serving certificates of the controller-manager and the scheduler,
    whose health endpoints answer anyone; used for that and nothing else."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


async def node_ready(plan: Plan) -> Optional[str]:
    try:
        status, body = await http_get(str(layout.NODE_IP), layout.API_PORT,
                                      f"/api/v1/nodes/{plan.node}", client_context(plan))
    except (OSError, asyncio.TimeoutError, ssl.SSLError) as exc:
        return f"the API server did not answer: {exc}"
    if status == 404:
        return f"node {plan.node} has not registered yet"
    if status != 200:
        return f"GET node {plan.node}: {status}"
    conditions = json.loads(body).get("status", {}).get("conditions", [])
    ready = [c for c in conditions if c.get("type") == "Ready"]
    if ready and ready[0].get("status") == "True":
        return None
    reason = ready[0].get("message", "") if ready else "no Ready condition yet"
    return f"node {plan.node} is not Ready: {reason}"


def dns_query(name: str, qid: int) -> bytes:
    header = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0)  # recursion desired, 1 question
    labels = b"".join(bytes([len(p)]) + p.encode() for p in name.rstrip(".").split("."))
    return header + labels + b"\0" + struct.pack(">HH", 1, 1)  # A, IN


def dns_answers(reply: bytes, qid: int) -> tuple[int, int]:
    """(rcode, number of answers) of a reply to query `qid`."""
    rid, flags, _, ancount = struct.unpack(">HHHH", reply[:8])
    if rid != qid:
        raise ValueError("reply to another query")
    return flags & 0xF, ancount


async def cluster_dns(name: str = f"kubernetes.default.svc.{layout.CLUSTER_DOMAIN}"
                      ) -> Optional[str]:
    """None once the kube-dns Service answers `name` with an address."""
    qid = int.from_bytes(os.urandom(2), "big")
    loop = asyncio.get_running_loop()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.setblocking(False)
        try:
            await loop.sock_sendto(sock, dns_query(name, qid), (str(layout.DNS_SERVICE_IP), 53))
            reply = await asyncio.wait_for(loop.sock_recv(sock, 4096), 1)
            rcode, answers = dns_answers(reply, qid)
        except (OSError, asyncio.TimeoutError, ValueError, struct.error) as exc:
            return f"no answer from {layout.DNS_SERVICE_IP}:53 ({exc.__class__.__name__})"
    if rcode or not answers:
        return f"{layout.DNS_SERVICE_IP}:53 answers {name} with rcode {rcode}, {answers} records"
    return None
