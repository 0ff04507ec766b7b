"""The machine record: made by the first bed up, carried out by the last one down."""

from __future__ import annotations

import pytest

from kube_pmix.k8s import layout, machine, sysctls


@pytest.fixture
def fake_machine(tmp_path, monkeypatch):
    proc_sys = tmp_path / "proc-sys"
    for key in sysctls.KUBELET_SETS:
        (proc_sys / key).parent.mkdir(parents=True, exist_ok=True)
        (proc_sys / key).write_text("0\n")
    monkeypatch.setattr(sysctls, "PROC_SYS", proc_sys)
    monkeypatch.setattr(layout, "STATE_ROOT", tmp_path / "state")
    return proc_sys


def kubelet_starts(proc_sys) -> None:
    (proc_sys / "kernel/panic").write_text("10\n")


def test_the_last_bed_down_gives_the_machine_back(fake_machine, tmp_path):
    mount_point = tmp_path / "var" / "lib" / "kubelet"
    machine.claim([str(mount_point.parent), str(mount_point)])  # bed A
    assert mount_point.is_dir()
    kubelet_starts(fake_machine)
    machine.claim([])  # bed B, while A runs: the record keeps the values from before
    assert machine.release(others_running=lambda: True) == []  # A goes, B still runs
    assert (fake_machine / "kernel/panic").read_text() == "10\n" and mount_point.is_dir()
    assert machine.release(others_running=lambda: False) == []  # B, the last one
    assert (fake_machine / "kernel/panic").read_text() == "0"
    assert not mount_point.parent.exists()
    assert not (layout.STATE_ROOT / machine.RECORD).exists()


def test_a_folder_that_is_not_empty_is_reported_not_removed(fake_machine, tmp_path):
    folder = tmp_path / "run-containerd"
    machine.claim([str(folder)])
    (folder / "left").write_text("x")
    failed = machine.release(others_running=lambda: False)
    assert len(failed) == 1 and str(folder) in failed[0]
    assert (folder / "left").exists()
