"""The floor: the least a client of the exec endpoint can do to start N processes.

All requests at once, no guard, no heartbeats, no pod lookup, no semaphore: per
pod one TLS connection, one upgrade request, then the output frames are copied
to stdout. On SIGTERM (or stdin EOF) every session's stdin is closed (v5) so the
stand-ins end, and it exits once all sessions have. Only the benchmark uses it.

    python -m bench.launch.floor HOSTFILE COMMAND...
"""

from __future__ import annotations

import asyncio
import os
import signal
import ssl
import sys
from typing import Optional

from launchers.exec import protocol as p
from launchers.exec.config import ClusterConfig, load_config


async def one(cfg: ClusterConfig, ctx: Optional[ssl.SSLContext], pod: str, argv: list[str],
              done: asyncio.Event) -> None:
    reader, writer = await asyncio.open_connection(
        cfg.host, cfg.port, ssl=ctx, server_hostname=cfg.tls_server_name or cfg.host)
    key = p.new_key()
    path = cfg.path_prefix + p.exec_path(cfg.namespace, pod, argv, stdin=True)
    writer.write(p.upgrade_request(cfg.host_header, path, key, cfg.token))
    head = await reader.readuntil(b"\r\n\r\n")
    status, _ = p.parse_response_head(head[:-4])
    if status != 101:
        raise SystemExit(f"{pod}: HTTP {status}")
    decoder = p.FrameDecoder()

    async def pump() -> None:
        while True:
            data = await reader.read(65536)
            if not data:
                return
            for msg in decoder.feed(data):
                if msg.opcode == p.OP_CLOSE:
                    return
                if msg.payload[:1] == bytes([p.STDOUT]):
                    os.write(1, msg.payload[1:])

    reading = asyncio.get_running_loop().create_task(pump())
    await done.wait()
    writer.write(p.client_frame(p.OP_BINARY, bytes([p.CLOSE, p.STDIN])))
    await asyncio.wait_for(reading, 10)
    writer.close()


async def main(hostfile: str, argv: list[str]) -> None:
    cfg = load_config()
    ctx = cfg.ssl_context()
    with open(hostfile) as f:
        pods = [line.split()[0] for line in f if line.strip()]
    done = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, done.set)
    await asyncio.gather(*(one(cfg, ctx, pod, argv, done) for pod in pods))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2:]))
