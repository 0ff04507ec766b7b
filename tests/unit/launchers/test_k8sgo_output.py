"""launchers.k8sgo.output: a stalled reader holds the daemons back, never the event loop."""

from __future__ import annotations

import asyncio
import os
import threading

from launchers.k8sgo.output import Output

CHUNK = 8192


def _pattern(i: int) -> bytes:
    return bytes([i % 251]) * CHUNK


def test_a_stalled_reader_holds_writers_back_not_the_loop() -> None:
    r, w = os.pipe()
    received = bytearray()
    reading = threading.Event()

    def reader() -> None:
        reading.wait()
        while True:
            data = os.read(r, 65536)
            if not data:
                return
            received.extend(data)

    thread = threading.Thread(target=reader)
    thread.start()

    async def main() -> tuple[int, int, int]:
        loop = asyncio.get_running_loop()
        out = Output(w, loop, high=64 * 1024, low=16 * 1024)
        ticks = 0
        gated_ticks = -1
        most_queued = 0

        async def ticker() -> None:  # stands for the heartbeats
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0.005)

        beat = loop.create_task(ticker())
        for i in range(128):  # 1 MiB, as a transport feeds it: wait for room, then write
            if not out._open.is_set() and gated_ticks < 0:
                # the pipe (64 KiB) and our queue are full: the loop must still run
                before = ticks
                await asyncio.sleep(0.1)
                gated_ticks = ticks - before
                reading.set()  # now let the reader drain
            await out.ready()
            out.write(_pattern(i))
            most_queued = max(most_queued, out.queued)
        beat.cancel()
        assert out.close(10)
        os.close(w)
        return gated_ticks, most_queued, ticks

    gated_ticks, most_queued, _ = asyncio.run(main())
    thread.join(10)
    os.close(r)
    assert gated_ticks > 0, "the event loop stood still while the reader stalled"
    assert most_queued <= 64 * 1024 + CHUNK  # bounded: high water plus one piece
    assert bytes(received) == b"".join(_pattern(i) for i in range(128))


def test_a_reader_that_went_away_never_blocks_anyone() -> None:
    r, w = os.pipe()
    os.close(r)

    async def main() -> bool:
        out = Output(w, asyncio.get_running_loop(), high=1024, low=256)
        for i in range(64):
            await asyncio.wait_for(out.ready(), 5)
            out.write(_pattern(i))
        return out.close(5)

    assert asyncio.run(main())
    os.close(w)
