"""How many CPUs this process may really use: its affinity mask and its cgroup's CPU quota.

``os.cpu_count()`` is the machine's count. A process pinned with ``taskset``, or a container
with a CPU limit (a Kubernetes pod with ``limits.cpu: 1``), may use far fewer; a runtime
that starts a thread per machine core there oversubscribes and collapses under load.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")
PROC_CGROUP = Path("/proc/self/cgroup")


def usable_cpus(root: Path = CGROUP_ROOT, proc_cgroup: Path = PROC_CGROUP) -> int:
    """The CPUs the affinity mask allows, capped by the cgroup quota (rounded up), at least 1."""
    allowed = len(os.sched_getaffinity(0))
    quota = cgroup_quota(root, proc_cgroup)
    if quota is not None:
        allowed = min(allowed, math.ceil(quota))
    return max(allowed, 1)


def threads_per_process(workers: int, cpus: int | None = None) -> int:
    """Intra-op threads for each of ``workers`` processes sharing the usable CPUs."""
    return max((cpus or usable_cpus()) // max(workers, 1), 1)


def cgroup_quota(root: Path = CGROUP_ROOT, proc_cgroup: Path = PROC_CGROUP) -> float | None:
    """The tightest CPU quota (in CPUs) of cgroup v2 ``cpu.max`` or v1 ``cpu.cfs_quota_us``
    files that apply to this process; None without a limit."""
    found = [q for q in map(_read_quota, _quota_files(root, proc_cgroup)) if q is not None]
    return min(found, default=None)


def _quota_files(root: Path, proc_cgroup: Path) -> list[Path]:
    """Where the quota may be: the namespace root (a container sees its own cgroup there)
    and this process's own cgroup path, for each hierarchy."""
    places = [root / "cpu.max", root / "cpu" / "cpu.cfs_quota_us"]
    places.append(root / "cpu,cpuacct" / "cpu.cfs_quota_us")
    for line in _lines(proc_cgroup):
        _, controllers, path = line.split(":", 2)
        relative = path.lstrip("/")
        if not relative:
            continue
        if controllers == "":
            places.append(root / relative / "cpu.max")
        elif "cpu" in controllers.split(","):
            places.append(root / controllers / relative / "cpu.cfs_quota_us")
    return places


def _read_quota(path: Path) -> float | None:
    """CPUs allowed by one quota file, or None (no file, no limit, unreadable)."""
    text = _text(path)
    if text is None:
        return None
    if path.name == "cpu.max":  # v2: "<quota> <period>" or "max <period>"
        quota, _, period = text.partition(" ")
    else:  # v1: the quota here, the period beside it; -1 is no limit
        quota, period = text, _text(path.with_name("cpu.cfs_period_us")) or ""
    try:
        value, every = int(quota), int(period)
    except ValueError:
        return None
    return value / every if value > 0 and every > 0 else None


def _text(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def _lines(path: Path) -> list[str]:
    text = _text(path)
    return [line for line in (text or "").splitlines() if line.count(":") >= 2]
