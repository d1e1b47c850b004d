"""Sizes in bytes: what people write on a command line (``2GiB``, ``512M``, ``1e9``), how a
size reads back, and this process's resident memory (Linux ``/proc``; glibc's
``malloc_trim`` to hand freed memory back to the system)."""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import re

_UNITS = {
    "": 1,
    "b": 1,
    "k": 10**3,
    "kb": 10**3,
    "m": 10**6,
    "mb": 10**6,
    "g": 10**9,
    "gb": 10**9,
    "t": 10**12,
    "tb": 10**12,
    "ki": 2**10,
    "kib": 2**10,
    "mi": 2**20,
    "mib": 2**20,
    "gi": 2**30,
    "gib": 2**30,
    "ti": 2**40,
    "tib": 2**40,
}
_SIZE = re.compile(r"\s*([0-9]+(?:\.[0-9]*)?(?:e[0-9]+)?)\s*([a-z]*)\s*", re.IGNORECASE)


def parse_bytes(text: str) -> int:
    """``"2GiB"`` → 2147483648; decimal (k, M, G, T) and binary (Ki, Mi, Gi, Ti) units, with
    or without a trailing B; a plain number is bytes."""
    found = _SIZE.fullmatch(text)
    unit = found.group(2).lower() if found else ""
    if found is None or unit not in _UNITS:
        raise ValueError(f"expected a size such as 512MiB, 2GB or 1000000, got {text!r}")
    return int(float(found.group(1)) * _UNITS[unit])


def shown_bytes(size: int) -> str:
    """A size as people read it: ``1.5 GiB``."""
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(value) < 1024:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TiB"


def resident_bytes() -> int:
    """This process's resident set size; 0 where ``/proc`` is not available."""
    try:
        with open("/proc/self/statm", "rb") as statm:
            pages = int(statm.read().split()[1])
    except (OSError, IndexError, ValueError):
        return 0
    return pages * os.sysconf("SC_PAGE_SIZE")


def release_freed() -> None:
    """Ask glibc to return freed heap memory to the system (after a model is unloaded), so
    that the next measurement sees it gone; a no-op elsewhere."""
    name = ctypes.util.find_library("c")
    trim = getattr(ctypes.CDLL(name), "malloc_trim", None) if name else None
    if trim is not None:
        trim(0)
