"""A new cluster's state directory: config, tokens, TLS, the pods' Role, shared pod files.

Written once by `up` before the daemon starts. Secrets are born private
(private.py); the service account belongs to the pod user.
"""

from __future__ import annotations

import json
import pwd
import secrets
from ipaddress import IPv4Address
from pathlib import Path
from typing import Mapping, Optional

from . import registry
from .config import ClusterConfig, pick_subnet_index
from .layout import NAMESPACE, POD_CERTS_D, POD_HPC_ROOT, POD_SECRETS_ROOT, STATE_ROOT, StateDir
from .podenv import bin_dirs, login_profile
from .podrbac import render_pod_rbac
from .private import make_private_dir, write_private
from .tls import make_tls

HOST_MOUNTPOINTS = (Path(POD_HPC_ROOT), Path(POD_SECRETS_ROOT))
# Made only for a cluster with a registry (and removed when empty, like the others).
CERTS_MOUNTPOINT = Path(POD_CERTS_D)


def prepare_state(state: StateDir, name: str, nodes: int, idle_timeout: Optional[float],
                  entry: pwd.struct_passwd, venv: Path, exec_errors: Mapping[int, float],
                  with_registry: bool = False, prrte: Optional[Path] = None) -> None:
    for folder in HOST_MOUNTPOINTS:  # empty mountpoints; each pod mounts its own over them
        folder.mkdir(mode=0o755, exist_ok=True)
    # 0700: the state holds every token; pods see their files through bind mounts, which
    # do not need the folders above them to be searchable
    STATE_ROOT.mkdir(mode=0o700, parents=True, exist_ok=True)
    taken = []
    for other in STATE_ROOT.iterdir():
        try:
            taken.append(ClusterConfig.load(other / "config.json").subnet_index)
        except (OSError, ValueError, TypeError):
            continue
    make_private_dir(state.root)
    config = ClusterConfig(
        name=name, nodes=nodes, subnet_index=pick_subnet_index(name, taken),
        idle_timeout=idle_timeout, admin_token=secrets.token_urlsafe(32),
        sa_token=secrets.token_urlsafe(32), restricted_token=secrets.token_urlsafe(32),
        venv=str(venv), uid=entry.pw_uid, gid=entry.pw_gid, home=entry.pw_dir,
        user=entry.pw_name, exec_errors={str(c): s for c, s in exec_errors.items()},
        registry_port=registry.free_port() if with_registry else 0,
        prrte=str(prrte) if prrte else "",
    )
    config.save(state.config)
    state.rbac.write_text(json.dumps(render_pod_rbac(nodes), indent=1))
    tls = make_tls(name, [IPv4Address("127.0.0.1"), config.gateway],
                   [registry.NAME] if with_registry else [])
    state.ca_cert.write_bytes(tls.ca_cert_pem)
    state.server_cert.write_bytes(tls.server_cert_pem)
    write_private(state.server_key, tls.server_key_pem)
    write_private(state.restricted_token, config.restricted_token + "\n")
    # The pods' service account belongs to the pod user, who reads it in every pod
    # through the read-only bind mount at the in-pod path (as a projected volume with
    # fsGroup would); nobody else on this machine can.
    pod_user = (entry.pw_uid, entry.pw_gid)
    sa = state.service_account
    make_private_dir(sa, pod_user)
    write_private(sa / "token", config.sa_token, pod_user)
    write_private(sa / "ca.crt", tls.ca_cert_pem, pod_user)
    write_private(sa / "namespace", NAMESPACE, pod_user)
    state.hpc_etc.mkdir(mode=0o755)
    state.hosts.write_text("")
    state.hosts.chmod(0o644)
    host_profile = Path("/etc/profile")
    if host_profile.is_file():
        state.profile.write_text(login_profile(host_profile.read_text(), bin_dirs(config)))
        state.profile.chmod(0o644)
    if with_registry:
        _prepare_registry(state, config.registry_port, tls.ca_cert_pem, tls.extra_cert_pem,
                          tls.extra_key_pem)


def _prepare_registry(state: StateDir, port: int, ca: bytes, cert: bytes, key: bytes) -> None:
    """The registry's config and TLS files, and the CA every pod's podman trusts for it."""
    CERTS_MOUNTPOINT.mkdir(mode=0o755, parents=True, exist_ok=True)
    make_private_dir(state.registry)
    make_private_dir(state.registry / "data")
    (state.registry / "tls.crt").write_bytes(cert)
    write_private(state.registry / "tls.key", key)
    state.registry_config.write_text(registry.config_text(
        state.registry / "data", port, state.registry / "tls.crt", state.registry / "tls.key"))
    # the CA is public: readable by the pod user through the bind mount in every pod
    trusted = state.certs_d / registry.IN_CLUSTER
    trusted.mkdir(mode=0o755, parents=True)
    state.certs_d.chmod(0o755)
    (trusted / "ca.crt").write_bytes(ca)
    (trusted / "ca.crt").chmod(0o644)
