"""Variable selection and mount selection, the two policies the builder applies."""

from __future__ import annotations

import pytest

from wrap import BadSettingError, envfilter, mounts

CALLER = {
    "PMIX_RANK": "1",
    "PMIX_SERVER_URI41": "ns@0.0;tcp4://127.0.0.1:1",
    "OMPI_COMM_WORLD_SIZE": "4",
    "OPAL_PREFIX": "/opt/ompi",
    "PRTE_LAUNCHED": "1",
    "PMIXBOGUS": "no underscore: not ours",
    "KUBERNETES_PORT": "tcp://10.96.0.1:443",
    "UCX_TLS": "tcp",
    "UCX_NET_DEVICES": "eth0",
    "HOME": "/home/u",
}


def test_defaults_are_the_pmix_mpi_prefixes_only():
    assert list(envfilter.forwarded_env(CALLER, [])) == [
        "OMPI_COMM_WORLD_SIZE", "OPAL_PREFIX", "PMIX_RANK", "PMIX_SERVER_URI41", "PRTE_LAUNCHED",
    ]


@pytest.mark.parametrize(
    ("specs", "added"),
    [
        (["UCX_*"], {"UCX_TLS": "tcp", "UCX_NET_DEVICES": "eth0"}),
        (["UCX_TL?"], {"UCX_TLS": "tcp"}),
        (["HOME"], {"HOME": "/home/u"}),
        (["NOT_SET"], {}),
        (["NEW=x=y"], {"NEW": "x=y"}),
        (["EMPTY="], {"EMPTY": ""}),
        ([""], {}),
    ],
)
def test_additions(specs, added):
    base = envfilter.forwarded_env(CALLER, [])
    assert envfilter.forwarded_env(CALLER, specs) == dict(sorted({**base, **added}.items()))


def test_wrap_env_words_come_before_options():
    specs = envfilter.extra_specs(["A=option"], {"WRAP_ENV": "A=wrapenv  UCX_*"})
    assert specs == ["A=wrapenv", "UCX_*", "A=option"]
    assert envfilter.forwarded_env(CALLER, specs)["A"] == "option"


def test_named_dirs_and_outermost():
    env = {"PMIX_SERVER_TMPDIR": "/tmp/prte.h.1/dvm.2/", "OMPI_FILE_LOCATION": "relative/no",
           "PMIX_SYSTEM_TMPDIR": "/tmp"}
    assert mounts.named_dirs(env, inject_prrte=False) == ["/tmp/prte.h.1/dvm.2"]
    assert mounts.named_dirs(env, inject_prrte=True) == ["/tmp/prte.h.1/dvm.2", "/tmp"]
    assert mounts.outermost(["/tmp/a/b", "/tmp/a", "/tmp/ab", "/", "/tmp/a"]) == [
        "/tmp/a", "/tmp/ab",
    ]


def test_volume_syntax():
    assert mounts.volume("/a b", "/a b") == "--volume=/a b:/a b"
    assert mounts.volume("/p", "/p", readonly=True) == "--volume=/p:/p:ro"
    with pytest.raises(BadSettingError):
        mounts.volume("/a:b", "/a:b")
