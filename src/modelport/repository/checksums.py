"""``checksums.sha256`` in a version directory, in ``sha256sum``'s format: what a version's
files must hash to before any of them is loaded.

When present, every file of the version must be listed and match (a file added beside a
listed model is refused too: it might be what loads). ``modelport examples`` and
``convert`` write it; ``--require-checksums`` refuses versions without one. Check a copy
by hand with ``sha256sum -c checksums.sha256`` in the version directory.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from modelport.repository.layout import contained

FILENAME = "checksums.sha256"
_LINE = re.compile(r"^([0-9a-fA-F]{64}) [ *](.+)$")
_CHUNK = 1 << 20


class ChecksumError(ValueError):
    """A version's files do not match its checksums; the message names the file."""


def write(version_dir: Path) -> Path:
    """List every file of ``version_dir`` (recursively) with its SHA-256."""
    lines = [f"{file_digest(path)}  {name}\n" for name, path in _files(version_dir).items()]
    target = version_dir / FILENAME
    target.write_text("".join(lines), encoding="utf-8")
    return target


def verify(version_dir: Path, root: Path, required: bool = False) -> bool:
    """Check ``version_dir`` against its listing; False when it has none (and none is
    required). Raises ChecksumError naming the first file that differs."""
    listing = version_dir / FILENAME
    if not listing.is_file():
        if required:
            raise ChecksumError(f"version {version_dir.name} has no {FILENAME} (required)")
        return False
    expected = _parse(listing)
    present = _files(version_dir)
    unlisted = sorted(set(present) - set(expected))
    if unlisted:
        raise ChecksumError(f"{unlisted[0]} is not listed in {FILENAME}")
    for name, digest in expected.items():
        path = contained(version_dir / name, root)
        if not path.is_file():
            raise ChecksumError(f"{name} is listed in {FILENAME} but missing")
        if file_digest(path) != digest:
            raise ChecksumError(f"{name} does not match its checksum in {FILENAME}")
    return True


def file_digest(path: Path) -> str:
    sha = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            sha.update(chunk)
    return sha.hexdigest()


def _files(version_dir: Path) -> dict[str, Path]:
    found = sorted(p for p in version_dir.rglob("*") if p.is_file() and p.name != FILENAME)
    return {path.relative_to(version_dir).as_posix(): path for path in found}


def _parse(listing: Path) -> dict[str, str]:
    expected: dict[str, str] = {}
    for number, line in enumerate(listing.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        match = _LINE.match(line)
        if match is None:
            raise ChecksumError(f"{FILENAME} line {number} is not '<sha256>  <file>'")
        expected[match[2].removeprefix("./")] = match[1].lower()
    return expected
