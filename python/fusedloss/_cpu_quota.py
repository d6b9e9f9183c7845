"""The CPU quota of the process's cgroup: how many CPUs a container may really use.

A container limited to 2 CPUs on a 64-core host sees 64 CPUs (``os.cpu_count()``, the
affinity mask, OpenMP's default) but gets 2 CPUs' worth of time: 64 threads would each run a
fraction of the time. ``threads=None`` therefore also respects the quota, as joblib/loky's
``cpu_count`` does: ``ceil(quota / period)`` (at least 1), the smallest over the process's
cgroup and its ancestors (a parent's limit binds its children), cgroup v2 (``cpu.max``) and v1
(``cpu.cfs_quota_us`` / ``cpu.cfs_period_us``) alike.

The files are read below a filesystem root, ``/`` unless the environment variable
``FUSEDLOSS_CGROUP_ROOT`` names another (the tests point it at a fake tree):
``<root>/proc/self/cgroup`` says where the process sits, ``<root>/sys/fs/cgroup`` holds the
hierarchies.
"""

from __future__ import annotations

import math
import os
from typing import Iterator, List, Optional, Tuple

ROOT_VARIABLE = "FUSEDLOSS_CGROUP_ROOT"


def _read(path: str) -> Optional[str]:
    try:
        with open(path) as handle:
            return handle.read().strip()
    except (OSError, UnicodeDecodeError):
        return None


def _limit(quota: float, period: float) -> Optional[int]:
    if quota <= 0 or period <= 0:  # -1 (v1) means no limit
        return None
    return max(1, math.ceil(quota / period))


def _v2_limit(directory: str) -> Optional[int]:
    text = _read(os.path.join(directory, "cpu.max"))
    if not text:
        return None
    fields = text.split()
    if fields[0] == "max":
        return None
    try:
        return _limit(float(fields[0]), float(fields[1]) if len(fields) > 1 else 100000.0)
    except ValueError:
        return None


def _v1_limit(directory: str) -> Optional[int]:
    quota = _read(os.path.join(directory, "cpu.cfs_quota_us"))
    period = _read(os.path.join(directory, "cpu.cfs_period_us"))
    if quota is None or period is None:
        return None
    try:
        return _limit(float(quota), float(period))
    except ValueError:
        return None


def _ancestors(mount: str, path: str) -> Iterator[str]:
    """The cgroup's directory and each parent up to the mount point. In a container the
    path is often the host's and absent under the container's mount: then the mount itself
    (the container's own cgroup) is all there is."""
    parts = [part for part in path.split("/") if part and part not in (".", "..")]
    for depth in range(len(parts), -1, -1):
        directory = os.path.join(mount, *parts[:depth])
        if os.path.isdir(directory):
            yield directory


def _memberships(root: str) -> List[Tuple[str, str]]:
    """``(controllers, path)`` per line of /proc/self/cgroup (controllers '' for cgroup v2)."""
    text = _read(os.path.join(root, "proc", "self", "cgroup"))
    memberships = []
    for line in (text or "").splitlines():
        fields = line.split(":", 2)
        if len(fields) == 3:
            memberships.append((fields[1], fields[2]))
    return memberships


def cgroup_cpu_limit(root: Optional[str] = None) -> Optional[int]:
    """CPUs the cgroup CPU quota allows this process (``ceil(quota / period)``, at least 1),
    or ``None`` with no quota (``max`` / ``-1``), no cgroup files, or anything unreadable.

    ``root``: the filesystem root the files are read below (default: ``$FUSEDLOSS_CGROUP_ROOT``
    or ``/``).

    >>> cgroup_cpu_limit("/nonexistent") is None
    True
    """
    if root is None:
        root = os.environ.get(ROOT_VARIABLE) or "/"
    hierarchies = os.path.join(root, "sys", "fs", "cgroup")
    limits: List[int] = []
    memberships = _memberships(root)
    if not memberships:  # no /proc/self/cgroup: the mount's own files, as loky reads them
        memberships = [("", "/"), ("cpu", "/")]
    for controllers, path in memberships:
        if controllers == "":  # cgroup v2: one tree (under unified/ on a hybrid v1/v2 host)
            unified = os.path.join(hierarchies, "unified")
            v2_mount = unified if os.path.isdir(unified) and not os.path.exists(
                os.path.join(hierarchies, "cgroup.controllers")) else hierarchies
            candidates = [(_v2_limit, v2_mount)]
        elif "cpu" in controllers.split(","):
            names = [controllers, "cpu", "cpu,cpuacct", "cpuacct,cpu"]
            candidates = [(_v1_limit, os.path.join(hierarchies, name)) for name in dict.fromkeys(names)]
        else:
            continue
        for read_limit, mount in candidates:
            if not os.path.isdir(mount):
                continue
            for directory in _ancestors(mount, path):
                limit = read_limit(directory)
                if limit is not None:
                    limits.append(limit)
            break
    return min(limits) if limits else None
