"""Pod names are DNS-1123 before they reach a path (defect 9)."""

from __future__ import annotations

import pytest

from kube_pmix.local import pause
from kube_pmix.local.validation import label_error, pod_errors, subdomain_error


@pytest.mark.parametrize("name", ["hpc-cn-0", "a", "a.b-c.d", "0abc", "x" * 253])
def test_good_pod_names(name):
    assert subdomain_error(name) is None


@pytest.mark.parametrize("name", ["", "../etc", "a/b", "Upper", "-a", "a-", "a..b", ".a",
                                  "a_b", "x" * 254, "a\nb", "pod "])
def test_bad_pod_names(name):
    assert subdomain_error(name) is not None


def test_labels_allow_no_dots_and_63_characters():
    assert label_error("hpc-cn-0") is None and label_error("x" * 63) is None
    assert label_error("a.b") is not None and label_error("x" * 64) is not None


def test_field_errors_read_as_the_apiserver_s():
    errors = pod_errors("../x", "Bad", None)
    assert errors[0].startswith('metadata.name: Invalid value: "../x": a lowercase RFC 1123 '
                                'subdomain must consist of')
    assert errors[1].startswith('spec.hostname: Invalid value: "Bad": a lowercase RFC 1123 label')


def test_the_pause_process_refuses_a_bad_name_before_any_mount(tmp_path, capsys, monkeypatch):
    def no_prepare(*args):
        raise AssertionError("prepare must not run for a bad name")

    monkeypatch.setattr(pause, "prepare", no_prepare)
    assert pause.main(["--cluster", "c", "--pod", "../../etc", "--state-dir", str(tmp_path)]) == 2
    assert "metadata.name" in capsys.readouterr().err
