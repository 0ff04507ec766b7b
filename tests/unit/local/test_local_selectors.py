from __future__ import annotations

import pytest

from kube_pmix.local.selectors import SelectorError, field_matcher, label_matcher

LABELS = {"app": "hpc-compute-nodes", "hpcnode": "compute-node"}


@pytest.mark.parametrize(("selector", "expected"), [
    ("", True),
    ("hpcnode=compute-node", True),
    ("hpcnode==compute-node", True),
    ("hpcnode!=compute-node", False),
    ("hpcnode=login-node", False),
    ("app=hpc-compute-nodes,hpcnode=compute-node", True),
    ("hpcnode in (login-node, compute-node)", True),
    ("hpcnode notin (compute-node)", False),
    ("tier notin (x)", True),
    ("hpcnode", True),
    ("!hpcnode", False),
    ("missing!=x", True),
])
def test_label_selectors(selector, expected):
    assert label_matcher(selector)(LABELS) is expected


def test_bad_selector_raises():
    with pytest.raises(SelectorError):
        label_matcher("a in b in c")


def test_field_selectors():
    obj = {"metadata": {"name": "p1", "namespace": "kube-pmix"}, "status": {"phase": "Running"},
           "spec": {}}
    assert field_matcher("metadata.name=p1")(obj)
    assert not field_matcher("metadata.name!=p1")(obj)
    assert field_matcher("status.phase=Running,metadata.namespace=kube-pmix")(obj)
    with pytest.raises(SelectorError):
        field_matcher("spec.unknown=x")
