"""The API side of wait-for-pods: list the pods, then watch them, until enough are usable.

One small method per step: `run` (the loop), `_call` (every request goes
through it: transient errors are retried with backoff and jitter, 410 Gone is
answered by listing again), `_relist`, `_watch` (one watch window), `_apply`
(one event), `_check` (enough pods, names resolving) and `_give_up`.

`--timeout` is a hard deadline: each request carries a client-side timeout no
longer than the time left, so a server that accepts and never answers cannot
hold the waiter past it. The client must not retry on its own (the CLI turns
urllib3's retries off), or each of its retries would get that time again.
"""

from __future__ import annotations

import functools
import random
import time
from typing import Any, Callable, Optional

from launchers.waitfor.pods import (
    ApiError,
    PodState,
    Progress,
    Resolver,
    WaitSpec,
    WaitTimeout,
    chosen,
    dns_name,
    pod_state,
    system_resolver,
)
from launchers.waitfor.retry import Random, Transient, classify, delay, is_api_exception

DNS_RECHECK = 2.0  # all Ready but names not yet published: nothing to watch, look again
CONNECT_TIMEOUT = 10.0
MIN_TIMEOUT = 0.1
Clock = Callable[[], float]
Sleep = Callable[[float], None]


def _is_gone(exc: BaseException) -> bool:
    return is_api_exception(exc) and getattr(exc, "status", None) == 410


def _is_read_timeout(exc: BaseException) -> bool:
    return type(exc).__name__ == "ReadTimeoutError"


def _as_dict(api_client: Any, obj: Any) -> dict[str, Any]:
    if isinstance(obj, dict):
        return obj
    return dict(api_client.sanitize_for_serialization(obj))


def _final_error(exc: BaseException) -> ApiError:
    status = getattr(exc, "status", None)
    if is_api_exception(exc):
        return ApiError(f"Kubernetes API error {status} {getattr(exc, 'reason', '')}".strip())
    return ApiError(f"cannot reach the Kubernetes API: {exc}")


class Waiter:
    """One wait: the pods' states as last seen, the watch position, the deadline."""

    def __init__(self, core_v1: Any, spec: WaitSpec, resolver: Resolver,
                 progress: Optional[Progress], clock: Clock = time.monotonic,
                 sleep: Sleep = time.sleep, rng: Random = random.random) -> None:
        self.core_v1, self.spec, self.resolver, self.progress = core_v1, spec, resolver, progress
        self.clock, self.sleep, self.rng = clock, sleep, rng
        self.deadline = spec.deadline if spec.deadline is not None else clock() + spec.timeout
        self.states: dict[str, PodState] = {}
        self.version = ""
        self.listed = False  # a list has succeeded since the last 410
        self.ever_listed = False
        self.failing: Optional[Transient] = None  # the last request's retryable failure
        self.attempts = 0
        self.missing_dns: list[str] = []
        self._last_line = ""

    # --- the loop ---

    def run(self) -> list[PodState]:
        while True:
            if not self.listed and not self._call(self._relist, listing=True):
                break
            if self._check():
                return chosen(self.states, self.spec.count)
            left = self.remaining()
            if left <= 0:
                break
            window = min(left, DNS_RECHECK) if self.missing_dns else left
            if not self._call(functools.partial(self._watch, window)):
                break
        raise self._give_up()

    def remaining(self) -> float:
        return self.deadline - self.clock()

    def _call(self, request: Callable[[], None], listing: bool = False) -> bool:
        """Runs `request` until it succeeds (True) or the deadline passes (False).
        Final errors (401, 403, ...) raise ApiError at once."""
        attempt = 0
        while True:
            try:
                request()
            except Exception as exc:  # noqa: BLE001 - sorted out just below
                if _is_gone(exc) and not listing:
                    self.listed = False  # our resourceVersion is too old: list again
                    return True
                failure = classify(exc) if not _is_gone(exc) else Transient("HTTP 410 Gone")
                if failure is None:
                    raise _final_error(exc) from exc
                self.failing = failure
                self.attempts += 1
                left = self.remaining()
                if left <= 0:
                    return False
                wait = min(delay(attempt, failure, self.rng), left)
                self._say(f"Kubernetes API: {failure.what}; retrying in {wait:.1f}s")
                self.sleep(wait)
                attempt += 1
                if self.remaining() <= 0:
                    return False
                continue
            self.failing = None
            return True

    def _timeout(self, read: float) -> tuple[float, float]:
        """urllib3's (connect, read) timeouts, neither past the deadline."""
        left = max(MIN_TIMEOUT, self.remaining())
        return min(CONNECT_TIMEOUT, left), max(MIN_TIMEOUT, min(read, left))

    # --- the requests ---

    def _relist(self) -> None:
        pods = self.core_v1.list_namespaced_pod(
            self.spec.namespace, label_selector=self.spec.selector,
            _request_timeout=self._timeout(self.remaining()))
        self.states = {}
        for item in pods.items:
            state = pod_state(_as_dict(self.core_v1.api_client, item))
            self.states[state.name] = state
        self.version = str(pods.metadata.resource_version or "")
        self.listed = self.ever_listed = True

    def _watch(self, window: float) -> None:
        """Pod events for up to `window` seconds (the server ends the watch then), until
        enough pods are usable or the deadline passes."""
        from kubernetes import watch  # only this tool pays for it

        stream = watch.Watch()
        try:
            for event in stream.stream(
                self.core_v1.list_namespaced_pod, self.spec.namespace,
                label_selector=self.spec.selector, resource_version=self.version,
                timeout_seconds=max(1, int(window + 0.999)), allow_watch_bookmarks=False,
                _request_timeout=self._timeout(window + 1),
            ):
                if self._apply(event) or self.remaining() <= 0:
                    break
                self._say(self._status_line([]))
        except Exception as exc:  # noqa: BLE001
            # no event within the window (+1 s): a quiet watch, or a server that went
            # silent; the loop looks again, and the deadline bounds it
            if not _is_read_timeout(exc):
                raise
        finally:
            stream.stop()

    def _apply(self, event: dict[str, Any]) -> bool:
        """One watch event into the states; True once enough pods are usable."""
        obj = _as_dict(self.core_v1.api_client, event.get("raw_object") or event["object"])
        kind = event.get("type")
        if kind == "ERROR":  # older clients hand the Status over instead of raising
            if obj.get("code") == 410:
                self.listed = False
                return True
            raise ApiError(f"Kubernetes API error {obj.get('code')} {obj.get('reason', '')}")
        self.version = str((obj.get("metadata") or {}).get("resourceVersion") or self.version)
        state = pod_state(obj)
        if kind == "DELETED":
            self.states.pop(state.name, None)
        else:
            self.states[state.name] = state
        return self._enough()

    # --- decisions and words ---

    def _enough(self) -> bool:
        return len(chosen(self.states, self.spec.count)) >= self.spec.count

    def _unresolved(self, pods: list[PodState]) -> list[str]:
        if not self.spec.check_dns:
            return []
        names = [dns_name(p.name, self.spec.service, self.spec.namespace) for p in pods]
        names += list(self.spec.extra_names)
        return [n for n in names if self.resolver(n) is None]

    def _check(self) -> bool:
        """Enough usable pods whose names resolve; says where things stand."""
        pods = chosen(self.states, self.spec.count)
        self.missing_dns = self._unresolved(pods) if len(pods) >= self.spec.count else []
        self._say(self._status_line(self.missing_dns))
        return len(pods) >= self.spec.count and not self.missing_dns

    def _waiting(self) -> list[PodState]:
        return sorted((s for s in self.states.values() if not s.ready),
                      key=lambda s: (s.ordinal, s.name))

    def _status_line(self, missing_dns: list[str]) -> str:
        ready = sum(1 for s in self.states.values() if s.ready)
        line = f"{ready}/{self.spec.count} pods ready"
        if len(self.states) < self.spec.count:
            line += f" ({len(self.states)} exist)"
        waiting = self._waiting()
        if waiting:
            line += "; waiting for " + ", ".join(f"{s.name} ({s.reason})" for s in waiting)
        if missing_dns:
            line += "; DNS pending for " + ", ".join(missing_dns)
        return line

    def _say(self, line: str) -> None:
        if self.progress is not None and line != self._last_line:
            self.progress(line)
        self._last_line = line

    def _give_up(self) -> Exception:
        """At the deadline: the API's fault if it never answered or was failing, else the
        pods' (WaitTimeout names them)."""
        if self.failing is not None or not self.ever_listed:
            what = self.failing.what if self.failing else "no answer"
            return ApiError(f"Kubernetes API unavailable: still failing after "
                            f"{self.spec.timeout:g}s ({self.attempts} attempts; last: {what})")
        return WaitTimeout(wanted=self.spec.count, timeout=self.spec.timeout,
                           missing=self._waiting(), unresolved=self.missing_dns,
                           seen=len(self.states))


def wait_for_pods(
    core_v1: Any,
    spec: WaitSpec,
    resolver: Resolver = system_resolver,
    progress: Optional[Progress] = None,
    **clock: Any,
) -> list[PodState]:
    """Block until SPEC.count matching pods are usable; return them in ordinal order.

    CORE_V1 is a `kubernetes.client.CoreV1Api` whose client does not retry by itself.
    Transient API errors are retried until SPEC.timeout, a hard deadline. Raises
    WaitTimeout (naming the pods still missing and why) or ApiError (refused, or still
    failing at the deadline). `clock`: `clock=`, `sleep=`, `rng=` for tests.
    """
    return Waiter(core_v1, spec, resolver, progress, **clock).run()
