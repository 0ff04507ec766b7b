"""Credential precedence and kubeconfig reading, on temporary files."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from launchers.exec.config import load_config
from launchers.exec.errors import ConfigError

CA = b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"


def write_kubeconfig(path: Path, server: str, namespace: str = "", context: str = "c1",
                     user: dict | None = None) -> Path:
    ns = f"\n    namespace: {namespace}" if namespace else ""
    user_yaml = "\n".join(f"    {k}: {v}" for k, v in (user or {"token": "tok"}).items())
    path.write_text(f"""apiVersion: v1
kind: Config
current-context: {context}
clusters:
- name: k1
  cluster:
    server: {server}
    certificate-authority-data: {base64.b64encode(CA).decode()}
users:
- name: u1
  user:
{user_yaml}
contexts:
- name: {context}
  context:
    cluster: k1
    user: u1{ns}
""")
    return path


def service_account(tmp_path: Path, namespace: str = "sa-ns") -> Path:
    root = tmp_path / "sa"
    root.mkdir()
    (root / "token").write_text("sa-token\n")
    (root / "namespace").write_text(namespace)
    (root / "ca.crt").write_bytes(CA)
    return root


IN_POD = {"KUBERNETES_SERVICE_HOST": "10.96.0.1", "KUBERNETES_SERVICE_PORT": "443"}


def test_kubeconfig_beats_in_cluster(tmp_path):
    cfg_path = write_kubeconfig(tmp_path / "kc", "https://127.0.0.1:6443", "team")
    sa = service_account(tmp_path)
    cfg = load_config(env={**IN_POD, "KUBECONFIG": str(cfg_path)},
                      service_account_dir=str(sa))
    assert (cfg.host, cfg.port, cfg.token, cfg.namespace) == ("127.0.0.1", 6443, "tok", "team")
    assert cfg.ca_data == CA


def test_explicit_kubeconfig_beats_environment(tmp_path):
    env_cfg = write_kubeconfig(tmp_path / "env", "https://10.0.0.1:1")
    explicit = write_kubeconfig(tmp_path / "explicit", "https://127.0.0.2:2")
    cfg = load_config(str(explicit), env={"KUBECONFIG": str(env_cfg)})
    assert cfg.server == "https://127.0.0.2:2"


def test_home_kubeconfig_when_no_env(tmp_path):
    (tmp_path / ".kube").mkdir()
    write_kubeconfig(tmp_path / ".kube" / "config", "https://127.0.0.3:3")
    cfg = load_config(env={}, home=str(tmp_path))
    assert cfg.server == "https://127.0.0.3:3" and cfg.namespace == "default"


def test_in_cluster_when_no_kubeconfig(tmp_path):
    sa = service_account(tmp_path)
    cfg = load_config(env=IN_POD, home=str(tmp_path), service_account_dir=str(sa))
    assert cfg.server == "https://10.96.0.1:443"
    assert (cfg.token, cfg.namespace, cfg.ca_file) == ("sa-token", "sa-ns", str(sa / "ca.crt"))


def test_nothing_found_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="no kubeconfig"):
        load_config(env={}, home=str(tmp_path), service_account_dir=str(tmp_path / "none"))


def test_kubeconfig_list_is_merged_first_wins(tmp_path):
    first = tmp_path / "a"
    first.write_text("current-context: c2\n")
    second = write_kubeconfig(tmp_path / "b", "https://127.0.0.4:4", context="c2")
    cfg = load_config(env={"KUBECONFIG": f"{first}:{second}"})
    assert cfg.server == "https://127.0.0.4:4"


def test_relative_files_and_token_file_are_read_from_the_kubeconfig_folder(tmp_path):
    (tmp_path / "tok").write_text("from-file\n")
    cfg_path = write_kubeconfig(tmp_path / "kc", "https://h:1",
                                user={"tokenFile": "tok", "client-certificate": "c.pem",
                                      "client-key": "k.pem"})
    cfg = load_config(str(cfg_path), env={})
    assert cfg.token == "from-file"
    assert cfg.cert_file == str(tmp_path / "c.pem") and cfg.key_file == str(tmp_path / "k.pem")


def test_json_kubeconfig_and_context_choice(tmp_path):
    doc = {"current-context": "a", "contexts": [
        {"name": "a", "context": {"cluster": "x"}},
        {"name": "b", "context": {"cluster": "x", "namespace": "nb"}}],
        "clusters": [{"name": "x", "cluster": {"server": "https://h:9",
                                               "insecure-skip-tls-verify": True}}]}
    path = tmp_path / "kc.json"
    path.write_text(json.dumps(doc))
    cfg = load_config(str(path), context="b", env={})
    assert (cfg.namespace, cfg.insecure, cfg.token) == ("nb", True, None)
    ctx = cfg.ssl_context()
    assert ctx is not None and ctx.check_hostname is False


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("clusters: [\n", "not valid YAML"),
        ("current-context: nope\n", "no context named"),
        ("- a\n", "not a mapping"),
        ("{}", "no current-context"),
    ],
)
def test_broken_kubeconfigs(tmp_path, text, match):
    path = tmp_path / "kc"
    path.write_text(text)
    with pytest.raises(ConfigError, match=match):
        load_config(str(path), env={})


def test_credential_plugin_users_are_refused_clearly(tmp_path):
    path = write_kubeconfig(tmp_path / "kc", "https://h:1",
                            user={"exec": "{apiVersion: x, command: aws}"})
    with pytest.raises(ConfigError, match="credential plugin"):
        load_config(str(path), env={})


def test_bad_ca_is_a_config_error(tmp_path):
    path = write_kubeconfig(tmp_path / "kc", "https://h:1")
    with pytest.raises(ConfigError, match="cannot set up TLS"):
        load_config(str(path), env={}).ssl_context()


def _insecure_doc(value, ca: bool = False) -> dict:
    cluster = {"server": "https://h:9", "insecure-skip-tls-verify": value}
    if ca:
        cluster["certificate-authority-data"] = base64.b64encode(CA).decode()
    return {"current-context": "a", "contexts": [{"name": "a", "context": {"cluster": "x"}}],
            "clusters": [{"name": "x", "cluster": cluster}]}


@pytest.mark.parametrize(("value", "insecure"), [
    (True, True), (False, False), ("true", True), ("True", True), ("1", True),
    ("false", False), ("False", False), ("0", False), ("f", False), (None, False)])
def test_insecure_flag_is_parsed_as_kubernetes_parses_booleans(tmp_path, value, insecure):
    """Defect 6: a quoted "false" used to turn TLS verification off."""
    path = tmp_path / "kc.json"
    path.write_text(json.dumps(_insecure_doc(value)))
    assert load_config(str(path), env={}).insecure is insecure


def test_insecure_flag_that_is_not_a_boolean_is_refused(tmp_path):
    path = tmp_path / "kc.json"
    path.write_text(json.dumps(_insecure_doc("nope")))
    with pytest.raises(ConfigError, match="insecure-skip-tls-verify is not a boolean"):
        load_config(str(path), env={})


def test_insecure_together_with_a_ca_is_refused_as_kubectl_does(tmp_path):
    path = tmp_path / "kc.json"
    path.write_text(json.dumps(_insecure_doc(True, ca=True)))
    with pytest.raises(ConfigError, match="root certificates file with the insecure flag"):
        load_config(str(path), env={})
    path.write_text(json.dumps(_insecure_doc("false", ca=True)))
    assert load_config(str(path), env={}).insecure is False


def test_kubeconfig_env_naming_a_missing_file_names_it(tmp_path):
    """Defect 8: it used to say only "no kubeconfig found and not in a pod"."""
    missing = tmp_path / "nope" / "config"
    with pytest.raises(ConfigError, match=f"KUBECONFIG={missing} names no existing file"):
        load_config(env={"KUBECONFIG": str(missing)}, service_account_dir=str(tmp_path / "sa"))


def test_no_bearer_token_over_plain_http(tmp_path):
    """Defect 5: client-go sends no credentials to an http:// server; neither do we."""
    http = load_config(str(write_kubeconfig(tmp_path / "a", "http://h:1")), env={})
    https = load_config(str(write_kubeconfig(tmp_path / "b", "https://h:1")), env={})
    assert (http.token, http.bearer_token) == ("tok", None)
    assert https.bearer_token == "tok"
