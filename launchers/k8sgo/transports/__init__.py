"""How to start one remote process on one host; the engine owns everything else.

`k8s` goes through the Kubernetes exec API (our lean client), `ssh` through
asyncssh. Both run the daemon under `kubexec-guard`, so signals, stdin EOF and
"the launcher is gone" mean the same thing whichever way it was started.
"""

from launchers.k8sgo.transports.base import Flow, Sink, Transport

__all__ = ["Flow", "Sink", "Transport", "load"]


def load(name: str) -> type:
    """The transport class called `name` (imported on demand: asyncssh costs 0.4 s)."""
    if name == "k8s":
        from launchers.k8sgo.transports.k8s import K8sTransport

        return K8sTransport
    if name == "ssh":
        from launchers.k8sgo.transports.ssh import SshTransport

        return SshTransport
    raise ValueError(f"unknown transport {name!r}")
