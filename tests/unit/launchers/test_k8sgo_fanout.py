"""The fan-out engine against a scripted fake transport: ids, the semaphore, failures, teardown."""

from __future__ import annotations

import asyncio
import signal
from typing import Optional, Sequence

from launchers.exec import guardwire as wire
from launchers.exec.errors import ConnectionFailed, ConnectionLost
from launchers.k8sgo.fanout import Fanout, Outcome


class FakeInner:
    """Stands for the guarded stream: collects raw records (the KILL record lands here)."""

    def __init__(self) -> None:
        self.records: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.records.append(data)


class FakeProc:
    """A remote daemon: `behaviour` says how it ends."""

    def __init__(self, host: str, behaviour: str) -> None:
        self.pod = host
        self.behaviour = behaviour
        self.inner = FakeInner()
        self.signals: list[int] = []
        self.eof = False
        self.aborted = False
        self.ended: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        if behaviour.startswith("exit:"):
            asyncio.get_running_loop().call_later(0.01, self._finish, int(behaviour[5:]))
        if behaviour.startswith("late:"):  # exits on its own, a moment later
            asyncio.get_running_loop().call_later(0.1, self._finish, int(behaviour[5:]))

    def _finish(self, status: int) -> None:
        if not self.ended.done():
            self.ended.set_result(status)

    def write(self, data: bytes) -> None: ...
    async def drain(self) -> None: ...

    def close_stdin(self) -> None:
        self.eof = True

    def send_signal(self, signo: int) -> bool:
        self.signals.append(signo)
        if self.behaviour != "deaf":
            self._finish(128 + signo)
        return True

    def kill_tree(self) -> bool:
        self.inner.write(wire.encode(wire.KILL))
        return True

    def detach(self) -> bool:
        """As the guard: the session ends with status 0 ("stuck": it ends with 1 instead)."""
        self.inner.write(wire.encode(wire.DETACH))
        self._finish(1 if self.behaviour == "stuck" else 0)
        return True

    def abort(self) -> None:
        self.aborted = True
        if not self.ended.done():
            self.ended.set_exception(ConnectionLost("aborted", self.pod))

    async def wait(self) -> int:
        return await asyncio.shield(self.ended)

    async def run(self, check: bool = False) -> None: ...


class FakeTransport:
    """host -> behaviour: "fail" (set-up error), "exit:N", "hang" (until signalled), "deaf",
    "lose" (stream breaks after a moment)."""

    def __init__(self, behaviours: dict[str, str], setup_delay: float = 0.0) -> None:
        self.behaviours = behaviours
        self.setup_delay = setup_delay
        self.argvs: dict[str, list[str]] = {}
        self.envs: dict[str, dict[str, str]] = {}
        self.procs: dict[str, FakeProc] = {}
        self.in_flight = 0
        self.most_in_flight = 0

    async def prepare(self, hosts: Sequence[str]) -> None: ...

    async def start(self, index: int, host: str, argv: Sequence[str], stdout, stderr,
                    flow=None, env=None) -> FakeProc:
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            await asyncio.sleep(self.setup_delay)
        finally:
            self.in_flight -= 1
        behaviour = self.behaviours.get(host, "hang")
        if behaviour == "fail":
            raise ConnectionFailed("refused", host)
        if behaviour == "crash":  # what no transport foresaw: asyncssh's KeyImportError, say
            raise ValueError("passphrase must be specified to import encrypted private keys")
        self.argvs[host] = list(argv)
        self.envs[host] = dict(env or {})
        stdout(f"up {host}\n".encode())
        proc = FakeProc(host, behaviour)
        if behaviour == "lose":
            asyncio.get_running_loop().call_later(
                0.01, lambda: proc.ended.set_exception(ConnectionLost("cut", host)))
        self.procs[host] = proc
        return proc

    async def close(self) -> None: ...

    def stats(self) -> dict[str, int]:
        return {}


def run(transport: FakeTransport, hosts: list[str], *, concurrency: int = 64,
        grace: float = 0.05, keep_going: bool = False,
        stop_after: Optional[float] = None, supervised: bool = False,
        caller_ends_after: Optional[float] = None,
        detach_after: Optional[float] = None,
        trace: Optional[list[tuple[str, dict]]] = None) -> tuple[list[Outcome], Fanout, bytes]:
    out = bytearray()

    def record(event: str, **fields) -> None:
        if trace is not None:
            trace.append((event, fields))

    async def main() -> tuple[list[Outcome], Fanout]:
        engine = Fanout(transport, hosts, ["prted", "a b"], concurrency=concurrency,
                        stdout=out.extend, stderr=out.extend, grace=grace,
                        keep_going=keep_going, supervised=supervised, trace=record)
        if stop_after is not None:
            asyncio.get_running_loop().call_later(stop_after, engine.stop, signal.SIGTERM)
        if caller_ends_after is not None:
            asyncio.get_running_loop().call_later(caller_ends_after, engine.caller_ending)
        if detach_after is not None:
            asyncio.get_running_loop().call_later(detach_after, engine.detach)
        return await asyncio.wait_for(engine.run(), 10), engine

    outcomes, engine = asyncio.run(main())
    return outcomes, engine, bytes(out)


HOSTS = [f"h{i}" for i in range(10)]


def test_every_daemon_gets_its_line_index_and_the_semaphore_bounds_setups() -> None:
    transport = FakeTransport({h: "exit:0" for h in HOSTS}, setup_delay=0.01)
    outcomes, engine, out = run(transport, HOSTS, concurrency=3)
    assert [o.status for o in outcomes] == [0] * 10
    assert not any(o.failed for o in outcomes)
    assert [transport.argvs[h] for h in HOSTS] == [["prted", "a b"]] * 10
    assert [transport.envs[h] for h in HOSTS] == [{"PRTE_ESS_K8SGO_ID": str(i)}
                                                  for i in range(10)]
    assert transport.most_in_flight == 3
    assert sorted(out.splitlines()) == sorted(f"up {h}".encode() for h in HOSTS)


def test_the_trace_follows_each_daemon_from_its_slot_to_its_end() -> None:
    """What a phase account and a hung launch's post-mortem read: per daemon, set-up, open
    and exit (or why it failed), in that order, and why the others were ended."""
    transport = FakeTransport({"h0": "exit:0", "h1": "fail", "h2": "hang"}, setup_delay=0.01)
    trace: list[tuple[str, dict]] = []
    outcomes, engine, _ = run(transport, ["h0", "h1", "h2"], concurrency=1, trace=trace)
    per_daemon = {i: [e for e, f in trace if f.get("i") == i] for i in range(3)}
    assert per_daemon[0] == ["setup", "open", "exit"]
    assert per_daemon[1] == ["setup", "failed"]
    assert dict(trace)["failed"] == {"i": 1, "why": "refused"}
    assert dict(trace)["exit"] == {"i": 0, "status": 0}
    assert ("stop", {"reason": "failure"}) in trace
    assert per_daemon[2] in ([], ["setup", "open"])  # never started, or ended by the stop


def test_a_daemon_exiting_3_ends_the_others() -> None:
    transport = FakeTransport({"h4": "exit:3"})
    outcomes, engine, _ = run(transport, HOSTS)
    failed = [o for o in outcomes if o.failed]
    assert [(o.host, o.status) for o in failed] == [("h4", 3)]
    for host in HOSTS:
        if host != "h4":
            assert transport.procs[host].signals == [signal.SIGTERM]
            assert transport.procs[host].eof
    assert all(o.ended_by_us for o in outcomes if o.host != "h4")
    assert engine.signalled is None


def test_keep_going_lets_the_others_run() -> None:
    transport = FakeTransport({"h1": "exit:3", "h2": "exit:0"})
    outcomes, _, _ = run(transport, ["h1", "h2"], keep_going=True)
    assert [(o.host, o.status, o.failed) for o in outcomes] == [
        ("h1", 3, True), ("h2", 0, False)]


def test_a_setup_failure_stops_the_hosts_still_waiting_for_a_slot() -> None:
    transport = FakeTransport({"h0": "fail"}, setup_delay=0.01)
    outcomes, _, _ = run(transport, HOSTS, concurrency=2)
    assert outcomes[0].failed and not outcomes[0].started
    assert isinstance(outcomes[0].error, ConnectionFailed)
    assert len(transport.procs) < len(HOSTS) - 1  # the queue never started
    assert not any(o.failed for o in outcomes[1:])


def test_a_lost_stream_is_that_hosts_failure() -> None:
    transport = FakeTransport({"h3": "lose"})
    outcomes, _, _ = run(transport, HOSTS[:5])
    assert [o.host for o in outcomes if o.failed] == ["h3"]
    assert isinstance(outcomes[3].error, ConnectionLost) and outcomes[3].started
    assert transport.procs["h3"].aborted


def test_a_signal_ends_all_and_a_deaf_daemon_gets_kill_then_abort() -> None:
    transport = FakeTransport({"h2": "deaf"})
    outcomes, engine, _ = run(transport, HOSTS[:4], stop_after=0.05)
    assert engine.signalled == signal.SIGTERM
    assert not any(o.failed for o in outcomes)
    assert all(o.ended_by_us for o in outcomes)
    deaf = transport.procs["h2"]
    assert deaf.signals == [signal.SIGTERM]
    assert wire.encode(wire.KILL) in deaf.inner.records
    assert deaf.aborted


def test_an_unforeseen_setup_exception_is_that_hosts_failure_and_ends_the_others() -> None:
    transport = FakeTransport({"h2": "crash"})
    outcomes, _, _ = run(transport, HOSTS[:4])
    assert [o.host for o in outcomes if o.failed] == ["h2"]
    assert "ValueError: passphrase must be specified" in outcomes[2].error.reason
    assert all(o.ended_by_us for o in outcomes if o.host != "h2")


def test_supervised_a_daemon_exiting_0_alone_is_a_failure(monkeypatch) -> None:
    from launchers.k8sgo import fanout

    monkeypatch.setattr(fanout, "END_WAIT", 0.2)
    transport = FakeTransport({"h1": "exit:0"})
    outcomes, _, _ = run(transport, HOSTS[:4], supervised=True)
    assert [(o.host, o.premature) for o in outcomes if o.failed] == [("h1", True)]
    assert all(o.ended_by_us for o in outcomes if o.host != "h1")


def test_supervised_every_daemon_exiting_0_is_an_orderly_end(monkeypatch) -> None:
    """PRRTE's halt (pterm) reaches every daemon at once, before the caller's EOF."""
    from launchers.k8sgo import fanout

    monkeypatch.setattr(fanout, "END_WAIT", 0.5)
    transport = FakeTransport({"h0": "exit:0", "h1": "late:0", "h2": "late:0"})
    outcomes, _, _ = run(transport, ["h0", "h1", "h2"], supervised=True)
    assert [(o.status, o.failed) for o in outcomes] == [(0, False)] * 3


def test_unsupervised_a_daemon_exiting_0_is_fine() -> None:
    transport = FakeTransport({"h1": "exit:0", "h2": "exit:0"})
    outcomes, _, _ = run(transport, ["h1", "h2"])
    assert not any(o.failed for o in outcomes)


def test_after_the_callers_end_exits_are_expected_and_stragglers_ended(monkeypatch) -> None:
    from launchers.k8sgo import fanout

    monkeypatch.setattr(fanout, "END_WAIT", 0.2)
    transport = FakeTransport({"h0": "late:0", "h1": "late:0", "h2": "hang"})
    # all three run; the caller ends the launch; h0 and h1 then exit 0 by themselves
    outcomes, engine, _ = run(transport, ["h0", "h1", "h2"], supervised=True,
                              caller_ends_after=0.05)
    assert engine.caller_ended
    assert [(o.host, o.status, o.failed) for o in outcomes[:2]] == [("h0", 0, False),
                                                                    ("h1", 0, False)]
    assert outcomes[2].ended_by_us and not outcomes[2].failed  # still running after END_WAIT
    assert transport.procs["h2"].signals == [signal.SIGTERM]
    assert transport.procs["h0"].signals == []


def test_after_the_callers_end_nothing_more_is_started() -> None:
    transport = FakeTransport({}, setup_delay=0.05)
    outcomes, _, _ = run(transport, HOSTS, concurrency=1, supervised=True,
                         caller_ends_after=0.01)
    assert len(transport.procs) <= 1
    assert all(o.ended_by_us for o in outcomes)


def test_running_daemons_hold_no_set_up_slot() -> None:
    """plm/ssh's flat deadlock, absent here: with 3 set-up slots, all 10 daemons that keep
    running start (a slot held for a daemon's life would stop at 3 and wait forever)."""
    transport = FakeTransport({h: "hang" for h in HOSTS}, setup_delay=0.01)
    outcomes, engine, out = run(transport, HOSTS, concurrency=3, stop_after=0.5)
    assert engine.started == 10 and transport.most_in_flight == 3
    assert sorted(out.splitlines()) == sorted(f"up {h}".encode() for h in HOSTS)
    assert all(o.started and o.ended_by_us for o in outcomes)


def test_detach_ends_every_session_and_is_no_failure_even_supervised() -> None:
    """A supervised daemon that exits 0 is a failure, unless it is the detach's doing."""
    transport = FakeTransport({h: "hang" for h in HOSTS})
    trace: list[tuple[str, dict]] = []
    outcomes, engine, _ = run(transport, HOSTS, supervised=True, detach_after=0.1, trace=trace)
    assert [o.detached for o in outcomes] == [True] * 10
    assert not any(o.failed or o.premature or o.ended_by_us for o in outcomes)
    assert all(transport.procs[h].inner.records == [wire.encode(wire.DETACH)] for h in HOSTS)
    assert ("detach", {"sessions": 10}) in trace
    assert engine.stop_reason is None


def test_a_session_that_ends_non_zero_at_the_detach_is_a_failure() -> None:
    transport = FakeTransport({h: ("stuck" if h == "h3" else "hang") for h in HOSTS})
    outcomes, _, _ = run(transport, HOSTS, supervised=True, detach_after=0.1)
    assert [o.host for o in outcomes if o.failed] == ["h3"]
    assert [o.detached for o in outcomes].count(True) == 9


def test_a_daemon_whose_session_opens_after_the_detach_is_detached_too() -> None:
    transport = FakeTransport({h: "hang" for h in HOSTS}, setup_delay=0.05)
    outcomes, _, _ = run(transport, HOSTS, concurrency=2, detach_after=0.01)
    assert [o.detached for o in outcomes] == [True] * 10
