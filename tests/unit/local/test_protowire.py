"""The protobuf reader, on the bytes kubectl 1.32 sends for `auth can-i get pods`."""

from __future__ import annotations

import pytest

from kube_pmix.local import protowire
from kube_pmix.local.api_authz import _spec_from_protobuf

# `kubectl auth can-i get pods -v=9` against a cluster whose context namespace is kube-pmix
KUBECTL_CAN_I_GET_PODS = bytes.fromhex("""
    6b 38 73 00 0a 32 0a 17 61 75 74 68 6f 72 69 7a 61 74 69 6f 6e 2e 6b 38 73 2e 69 6f 2f 76 31 12
    17 53 65 6c 66 53 75 62 6a 65 63 74 41 63 63 65 73 73 52 65 76 69 65 77 12 3e 0a 10 0a 00 12 00
    1a 00 22 00 2a 00 32 00 38 00 42 00 12 20 0a 1e 0a 09 6b 75 62 65 2d 70 6d 69 78 12 03 67 65 74
    1a 00 22 00 2a 04 70 6f 64 73 32 00 3a 00 1a 08 08 00 12 00 1a 00 20 00 1a 00 22 00
""")


def test_kubectls_review_reads_as_its_json_form():
    spec = _spec_from_protobuf(KUBECTL_CAN_I_GET_PODS)
    assert spec["resourceAttributes"] == {
        "namespace": "kube-pmix", "verb": "get", "group": "", "version": "",
        "resource": "pods", "subresource": "", "name": ""}


def test_the_envelope_names_the_type():
    envelope = protowire.message(KUBECTL_CAN_I_GET_PODS[len(protowire.MAGIC):])
    type_meta = protowire.message(envelope[1])  # type: ignore[arg-type]
    assert protowire.text(type_meta, 1) == "authorization.k8s.io/v1"
    assert protowire.text(type_meta, 2) == "SelfSubjectAccessReview"


@pytest.mark.parametrize("body", [b"", b"{}", b"k8s\x00\x0a\xff", b"k8s\x00\x0d\x01\x02"])
def test_what_is_not_a_message_is_refused(body):
    with pytest.raises(protowire.WireError):
        protowire.unwrap(body)
