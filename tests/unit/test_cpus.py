"""Threads follow the CPUs a process may use (affinity, cgroup quota), not the machine's count;
onnxruntime's pool does not spin between requests unless a model asks."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from modelport.cpus import cgroup_quota, threads_per_process, usable_cpus
from modelport.runtimes import RuntimeOptions


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


@pytest.fixture
def proc_cgroup(tmp_path: Path) -> Path:
    path = tmp_path / "proc-self-cgroup"
    path.write_text("0::/\n")
    return path


def test_cgroup_v2_quota(tmp_path: Path, proc_cgroup: Path) -> None:
    write(tmp_path / "cpu.max", "150000 100000\n")  # limits.cpu: 1.5
    assert cgroup_quota(tmp_path, proc_cgroup) == 1.5
    write(tmp_path / "cpu.max", "max 100000\n")
    assert cgroup_quota(tmp_path, proc_cgroup) is None


def test_cgroup_v2_quota_of_the_process_own_group(tmp_path: Path) -> None:
    write(tmp_path / "kubepods" / "pod1" / "cpu.max", "100000 100000\n")
    proc = tmp_path / "proc-self-cgroup"
    proc.write_text("0::/kubepods/pod1\n")
    assert cgroup_quota(tmp_path, proc) == 1.0


def test_cgroup_v1_quota(tmp_path: Path) -> None:
    write(tmp_path / "cpu,cpuacct" / "docker" / "abc" / "cpu.cfs_quota_us", "50000\n")
    write(tmp_path / "cpu,cpuacct" / "docker" / "abc" / "cpu.cfs_period_us", "100000\n")
    proc = tmp_path / "proc-self-cgroup"
    proc.write_text("4:memory:/docker/abc\n3:cpu,cpuacct:/docker/abc\n")
    assert cgroup_quota(tmp_path, proc) == 0.5
    write(tmp_path / "cpu,cpuacct" / "docker" / "abc" / "cpu.cfs_quota_us", "-1\n")
    assert cgroup_quota(tmp_path, proc) is None


def test_usable_cpus_is_the_affinity_capped_by_the_quota(tmp_path: Path, proc_cgroup: Path) -> None:
    affinity = len(os.sched_getaffinity(0))
    assert usable_cpus(tmp_path, proc_cgroup) == affinity  # no quota files at all
    write(tmp_path / "cpu.max", "50000 100000\n")  # half a CPU still gets one thread
    assert usable_cpus(tmp_path, proc_cgroup) == 1
    write(tmp_path / "cpu.max", f"{(affinity + 4) * 100000} 100000\n")
    assert usable_cpus(tmp_path, proc_cgroup) == affinity


def test_usable_cpus_follow_taskset() -> None:
    before = os.sched_getaffinity(0)
    try:
        os.sched_setaffinity(0, {min(before)})
        assert usable_cpus() == 1
    finally:
        os.sched_setaffinity(0, before)


def test_workers_share_the_cpus() -> None:
    assert threads_per_process(1, cpus=4) == 4
    assert threads_per_process(2, cpus=4) == 2
    assert threads_per_process(8, cpus=4) == 1


def test_onnxruntime_pool_does_not_spin_unless_asked() -> None:
    from modelport.runtimes.onnx import _session_options

    quiet = _session_options(RuntimeOptions(2, 1))
    assert quiet.intra_op_num_threads == 2
    assert quiet.get_session_config_entry("session.intra_op.allow_spinning") == "0"
    assert quiet.get_session_config_entry("session.inter_op.allow_spinning") == "0"
    spinning = _session_options(RuntimeOptions(2, 1, parameters={"allow_spinning": "true"}))
    assert spinning.get_session_config_entry("session.intra_op.allow_spinning") == "1"
