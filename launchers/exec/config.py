"""Where the API server is and how to authenticate to it, as kubectl would find it.

Precedence (kr8s' and client-go's): explicit arguments, then the kubeconfig
(`KUBECONFIG`, a `:`-separated list merged first-wins, else `~/.kube/config`),
then the in-cluster service account (the pod's mounted token, CA and namespace
plus `KUBERNETES_SERVICE_HOST`/`_PORT`).

The kubeconfig is YAML; PyYAML's C loader reads it in well under a
millisecond once imported (~10 ms to import), and JSON files skip YAML.
"""

from __future__ import annotations

import base64
import os
import ssl
from pathlib import Path
from typing import Any, Mapping, NamedTuple, Optional, cast
from urllib.parse import urlsplit

from launchers.exec.errors import ConfigError

SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"


class ClusterConfig(NamedTuple):
    """Everything needed to open one HTTPS connection to the API server.

    A NamedTuple, not a dataclass: importing dataclasses costs kubexec ~15 ms.
    """

    server: str
    namespace: str = "default"
    token: Optional[str] = None
    ca_data: Optional[bytes] = None
    ca_file: Optional[str] = None
    cert_data: Optional[bytes] = None
    cert_file: Optional[str] = None
    key_data: Optional[bytes] = None
    key_file: Optional[str] = None
    insecure: bool = False
    tls_server_name: Optional[str] = None
    source: str = ""

    @property
    def bearer_token(self) -> Optional[str]:
        """The token to send, or None over plain http: client-go sends no credentials there."""
        return None if self.scheme == "http" else self.token

    @property
    def scheme(self) -> str:
        return urlsplit(self.server).scheme or "https"

    @property
    def host(self) -> str:
        return urlsplit(self.server).hostname or ""

    @property
    def port(self) -> int:
        parts = urlsplit(self.server)
        return parts.port or (443 if parts.scheme != "http" else 80)

    @property
    def host_header(self) -> str:
        host = self.host
        if ":" in host:
            host = f"[{host}]"
        return f"{host}:{self.port}"

    @property
    def path_prefix(self) -> str:
        """A server URL may carry a path (e.g. behind a proxy); requests go below it."""
        return urlsplit(self.server).path.rstrip("/")

    def ssl_context(self, shared: bool = True) -> Optional[ssl.SSLContext]:
        """The TLS context for this server (None for plain http, which gets no credentials).

        `shared=False`: a context of the caller's own, never one kept for others.
        """
        if self.scheme == "http":
            return None
        if _contexts is None or not shared:
            return self._new_context()
        # Keyed by the files' identities too: a rotated CA or certificate makes a new one.
        key = (self, *(_identity(p) for p in (self.ca_file, self.cert_file, self.key_file)))
        ctx = _contexts.get(key)
        if ctx is None:
            ctx = _contexts[key] = self._new_context()
        return ctx

    def _new_context(self) -> ssl.SSLContext:
        try:
            # Not create_default_context(): loading the system trust store costs more than
            # the rest of kubexec's TLS set-up, and a kubeconfig names its CA.
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            if self.insecure:
                ctx.check_hostname = False
                ctx.verify_mode = ssl.CERT_NONE
            elif self.ca_data or self.ca_file:
                ctx.load_verify_locations(
                    cafile=self.ca_file,
                    cadata=self.ca_data.decode() if self.ca_data else None,
                )
            else:
                ctx.load_default_certs()
            if self.cert_data or self.cert_file:
                _load_client_cert(ctx, self)
        except (OSError, ssl.SSLError, ValueError) as exc:
            raise ConfigError(f"cannot set up TLS for {self.server}: {exc}") from exc
        return ctx


# SSL contexts kept for reuse, or None (the default: a direct kubexec makes one and exits).
# A control master sets a dict and warms it: making a context (SSL_CTX_new, the CA) costs
# ~2 ms, and every child the master forks for a call inherits the ones it made.
_contexts: Optional[dict[tuple[Any, ...], ssl.SSLContext]] = None


def keep_contexts() -> None:
    global _contexts
    if _contexts is None:
        _contexts = {}


def _identity(path: Optional[str]) -> Optional[tuple[int, int, int, int]]:
    if not path:
        return None
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


def _load_client_cert(ctx: ssl.SSLContext, cfg: ClusterConfig) -> None:
    """`load_cert_chain` only takes files: inline data goes through a private temp dir."""
    if cfg.cert_file and (cfg.key_file or not cfg.key_data):
        ctx.load_cert_chain(cfg.cert_file, cfg.key_file)
        return
    import tempfile  # only for inline client certificates

    with tempfile.TemporaryDirectory(prefix="kubexec-") as tmp:
        cert = Path(tmp) / "cert.pem"
        key = Path(tmp) / "key.pem"
        cert.write_bytes(cfg.cert_data or Path(str(cfg.cert_file)).read_bytes())
        key.write_bytes(cfg.key_data or Path(str(cfg.key_file)).read_bytes())
        ctx.load_cert_chain(str(cert), str(key))


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"cannot read kubeconfig {path}: {exc.strerror}") from exc
    try:
        if text.lstrip().startswith("{"):
            import json

            data = json.loads(text)
        else:
            import yaml

            loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
            data = yaml.load(text, Loader=loader)  # noqa: S506 - a safe loader
    except Exception as exc:  # yaml.YAMLError / ValueError: any parse failure is a config error
        raise ConfigError(f"kubeconfig {path} is not valid YAML: {exc}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"kubeconfig {path} is not a mapping")
    return data


def _named(entries: Any, name: str, field: str) -> Optional[dict[str, Any]]:
    for entry in entries or []:
        if isinstance(entry, dict) and entry.get("name") == name:
            value = entry.get(field)
            return value if isinstance(value, dict) else {}
    return None


def _data(section: Mapping[str, Any], key: str) -> Optional[bytes]:
    value = section.get(key)
    if not value:
        return None
    try:
        return base64.b64decode(value)
    except ValueError as exc:
        raise ConfigError(f"kubeconfig field {key} is not base64") from exc


_TRUE = ("1", "t", "T", "TRUE", "true", "True")
_FALSE = ("0", "f", "F", "FALSE", "false", "False")


def _bool(section: Mapping[str, Any], key: str) -> bool:
    """A kubeconfig boolean: YAML's true/false, or the strings Go's strconv.ParseBool takes.

    `bool("false")` is True, which turned TLS verification off for a quoted "false".
    """
    value = section.get(key, False)
    if value is None or isinstance(value, bool):
        return bool(value)
    if str(value) in _TRUE:
        return True
    if str(value) in _FALSE:
        return False
    raise ConfigError(f"kubeconfig field {key} is not a boolean: {value!r}")


def _file(section: Mapping[str, Any], key: str, base: Path) -> Optional[str]:
    value = section.get(key)
    if not value:
        return None
    return str((base / os.path.expanduser(value)).resolve())


def kubeconfig_paths(env: Mapping[str, str], home: Optional[str] = None) -> list[Path]:
    """The kubeconfig files to merge, as kubectl picks them; may be empty."""
    listed = env.get("KUBECONFIG", "")
    if listed:
        return [Path(p) for p in listed.split(os.pathsep) if p]
    home = home if home is not None else env.get("HOME") or os.path.expanduser("~")
    default = Path(home) / ".kube" / "config"
    return [default] if default.is_file() else []


def from_kubeconfig(paths: list[Path], context: Optional[str] = None) -> ClusterConfig:
    """Merge `paths` first-wins (as kubectl does) and resolve one context."""
    docs = [(p, _read_yaml(p)) for p in paths if p.is_file()]
    if not docs:
        raise ConfigError(f"kubeconfig not found: {os.pathsep.join(map(str, paths))}")
    current = (d.get("current-context") for _, d in docs if d.get("current-context"))
    name = context or next(current, None)
    if not name:
        raise ConfigError("kubeconfig has no current-context; pass --context")

    def find(kind: str, entry: str, field: str) -> tuple[Path, dict[str, Any]]:
        for path, doc in docs:
            found = _named(doc.get(kind), entry, field)
            if found is not None:
                return path.parent, found
        raise ConfigError(f"kubeconfig has no {field} named {entry!r}")

    _, ctx = find("contexts", name, "context")
    cluster_base, cluster = find("clusters", str(ctx.get("cluster", "")), "cluster")
    user_base, user = Path("."), cast("dict[str, Any]", {})
    if ctx.get("user"):
        user_base, user = find("users", str(ctx["user"]), "user")
    server = cluster.get("server")
    if not server:
        raise ConfigError(f"kubeconfig cluster {ctx.get('cluster')!r} has no server")
    token = user.get("token")
    if not token and user.get("tokenFile"):
        token = _read_token(_file(user, "tokenFile", user_base) or "")
    has_cert = user.get("client-certificate") or user.get("client-certificate-data")
    if not (token or has_cert) and (user.get("exec") or user.get("auth-provider")):
        raise ConfigError(
            f"kubeconfig user {ctx.get('user')!r} uses a credential plugin, which kubexec "
            "does not run; use a token or client certificate"
        )
    insecure = _bool(cluster, "insecure-skip-tls-verify")
    if insecure and (cluster.get("certificate-authority")
                     or cluster.get("certificate-authority-data")):
        # kubectl refuses this pair too: which one did the user mean?
        raise ConfigError(
            f"kubeconfig cluster {ctx.get('cluster')!r}: specifying a root certificates file "
            "with the insecure flag (insecure-skip-tls-verify) is not allowed"
        )
    return ClusterConfig(
        server=str(server).rstrip("/"),
        namespace=str(ctx.get("namespace") or "default"),
        token=token,
        ca_data=_data(cluster, "certificate-authority-data"),
        ca_file=_file(cluster, "certificate-authority", cluster_base),
        cert_data=_data(user, "client-certificate-data"),
        cert_file=_file(user, "client-certificate", user_base),
        key_data=_data(user, "client-key-data"),
        key_file=_file(user, "client-key", user_base),
        insecure=insecure,
        tls_server_name=cluster.get("tls-server-name"),
        source=f"kubeconfig context {name}",
    )


def _read_token(path: str) -> str:
    try:
        return Path(path).read_text().strip()
    except OSError as exc:
        raise ConfigError(f"cannot read token file {path}: {exc.strerror}") from exc


def in_cluster(env: Mapping[str, str], root: str = SERVICE_ACCOUNT_DIR) -> ClusterConfig:
    """The pod's own service account, as every in-cluster client uses it."""
    host, port = env.get("KUBERNETES_SERVICE_HOST"), env.get("KUBERNETES_SERVICE_PORT")
    token_path = Path(root) / "token"
    if not host or not port or not token_path.is_file():
        raise ConfigError(
            "no kubeconfig found and not in a pod with a service account "
            "(set KUBECONFIG or run inside the cluster)"
        )
    if ":" in host:
        host = f"[{host}]"
    ns_path = Path(root) / "namespace"
    namespace = ns_path.read_text().strip() if ns_path.is_file() else "default"
    ca = Path(root) / "ca.crt"
    return ClusterConfig(
        server=f"https://{host}:{port}",
        namespace=namespace or "default",
        token=_read_token(str(token_path)),
        ca_file=str(ca) if ca.is_file() else None,
        source="in-cluster service account",
    )


def load_config(
    kubeconfig: Optional[str] = None,
    context: Optional[str] = None,
    env: Optional[Mapping[str, str]] = None,
    home: Optional[str] = None,
    service_account_dir: str = SERVICE_ACCOUNT_DIR,
) -> ClusterConfig:
    """Find credentials: explicit kubeconfig, then KUBECONFIG/~/.kube/config, then in-cluster."""
    env = os.environ if env is None else env
    if kubeconfig:
        return from_kubeconfig([Path(kubeconfig)], context)
    paths = kubeconfig_paths(env, home)
    if paths and any(p.is_file() for p in paths):
        return from_kubeconfig(paths, context)
    try:
        return in_cluster(env, service_account_dir)
    except ConfigError as exc:
        if env.get("KUBECONFIG"):  # the user named files: say which are missing
            missing = os.pathsep.join(str(p) for p in paths)
            raise ConfigError(
                f"kubeconfig not found: KUBECONFIG={missing} names no existing file "
                "(and not in a pod with a service account)"
            ) from exc
        raise
