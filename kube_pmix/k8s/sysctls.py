"""Kernel settings: the cluster namespace's own, and the machine-wide ones the kubelet changes.

Inside the cluster's network namespace the node routes and bridges its pods'
traffic through iptables (as kube-proxy needs). The kubelet also sets a few
machine-wide settings at start (as on any node); `up` records their values
first and `down` puts them back, so a cluster leaves this machine as it found it.
"""

from __future__ import annotations

from pathlib import Path

PROC_SYS = Path("/proc/sys")
# Per network namespace: written by the daemon after it joined the cluster's namespace.
NETNS = {"net/ipv4/ip_forward": "1", "net/bridge/bridge-nf-call-iptables": "1"}
# Machine-wide: what the kubelet sets (its setupKernelTunables).
KUBELET_SETS = ("vm/overcommit_memory", "vm/panic_on_oom", "kernel/panic",
                "kernel/panic_on_oops", "kernel/keys/root_maxkeys", "kernel/keys/root_maxbytes")


def apply_netns() -> None:
    for key, value in NETNS.items():
        (PROC_SYS / key).write_text(value)


def snapshot() -> dict[str, str]:
    found = {}
    for key in KUBELET_SETS:
        try:
            found[key] = (PROC_SYS / key).read_text().strip()
        except OSError:
            continue
    return found


def restore(saved: dict[str, str]) -> list[str]:
    """Write the saved values back; returns the keys that could not be written."""
    failed = []
    for key, value in saved.items():
        try:
            if (PROC_SYS / key).read_text().strip() != value:
                (PROC_SYS / key).write_text(value)
        except OSError:
            failed.append(key)
    return failed
