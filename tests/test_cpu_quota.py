"""The cgroup CPU quota parser (fusedloss._cpu_quota) on fake cgroup trees: v2 and v1 layouts,
no limit, nested cgroups (a parent's limit binds), a container whose path is not mounted."""

from __future__ import annotations

import pytest

from fusedloss._cpu_quota import cgroup_cpu_limit


def _write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def _v2_tree(root, proc_path, files):
    _write(root / "proc" / "self" / "cgroup", f"0::{proc_path}\n")
    mount = root / "sys" / "fs" / "cgroup"
    _write(mount / "cgroup.controllers", "cpuset cpu io memory pids\n")
    for relative, text in files.items():
        _write(mount / relative / "cpu.max", text)


def _v1_tree(root, proc_path, files, controllers="cpu,cpuacct"):
    _write(root / "proc" / "self" / "cgroup",
           f"12:memory:/other\n4:{controllers}:{proc_path}\n1:name=systemd:/x\n")
    mount = root / "sys" / "fs" / "cgroup" / controllers
    mount.mkdir(parents=True, exist_ok=True)
    for relative, (quota, period) in files.items():
        _write(mount / relative / "cpu.cfs_quota_us", f"{quota}\n")
        _write(mount / relative / "cpu.cfs_period_us", f"{period}\n")


@pytest.mark.parametrize("text, expected", [
    ("200000 100000\n", 2),
    ("150000 100000\n", 2),  # ceil, as loky
    ("50000 100000\n", 1),  # at least one
    ("max 100000\n", None),
    ("400000\n", 4),  # period omitted: the default 100000
    ("garbage\n", None),
])
def test_v2_cpu_max(tmp_path, text, expected):
    _v2_tree(tmp_path, "/", {".": text})
    assert cgroup_cpu_limit(str(tmp_path)) == expected


def test_v2_nested_path_and_the_tightest_ancestor(tmp_path):
    _v2_tree(tmp_path, "/kubepods/pod1/container", {
        "kubepods": "max 100000\n",
        "kubepods/pod1": "300000 100000\n",
        "kubepods/pod1/container": "max 100000\n",
    })
    assert cgroup_cpu_limit(str(tmp_path)) == 3
    (tmp_path / "sys/fs/cgroup/kubepods/pod1/container/cpu.max").write_text("100000 50000\n")
    assert cgroup_cpu_limit(str(tmp_path)) == 2


def test_v2_container_path_not_mounted_reads_the_mount_itself(tmp_path):
    # In a container /proc/self/cgroup may name the host's path; the mount is the container's.
    _v2_tree(tmp_path, "/system.slice/docker-abc.scope", {".": "200000 100000\n"})
    assert cgroup_cpu_limit(str(tmp_path)) == 2


@pytest.mark.parametrize("quota, period, expected", [
    (400000, 100000, 4), (250000, 100000, 3), (-1, 100000, None), (0, 100000, None),
])
def test_v1_cfs_quota(tmp_path, quota, period, expected):
    _v1_tree(tmp_path, "/", {".": (quota, period)})
    assert cgroup_cpu_limit(str(tmp_path)) == expected


def test_v1_nested_path(tmp_path):
    _v1_tree(tmp_path, "/docker/abc", {".": (-1, 100000), "docker": (-1, 100000),
                                       "docker/abc": (200000, 100000)})
    assert cgroup_cpu_limit(str(tmp_path)) == 2


def test_v1_controller_mounted_as_cpu_only(tmp_path):
    _v1_tree(tmp_path, "/job", {"job": (300000, 100000)}, controllers="cpu")
    assert cgroup_cpu_limit(str(tmp_path)) == 3


def test_hybrid_host_takes_v1_cpu_and_v2_under_unified(tmp_path):
    _v1_tree(tmp_path, "/", {".": (-1, 100000)})
    with open(tmp_path / "proc" / "self" / "cgroup", "a") as handle:
        handle.write("0::/user.slice\n")
    _write(tmp_path / "sys/fs/cgroup/unified/user.slice/cpu.max", "100000 100000\n")
    assert cgroup_cpu_limit(str(tmp_path)) == 1


def test_no_cgroup_files_means_no_limit(tmp_path):
    assert cgroup_cpu_limit(str(tmp_path)) is None
    assert cgroup_cpu_limit(str(tmp_path / "missing")) is None


def test_environment_variable_sets_the_root(tmp_path, monkeypatch):
    _v2_tree(tmp_path, "/", {".": "300000 100000\n"})
    monkeypatch.setenv("FUSEDLOSS_CGROUP_ROOT", str(tmp_path))
    assert cgroup_cpu_limit() == 3
