"""Model repositories on object storage (``s3://``, ``gs://``, ``az://``, any fsspec URL),
served from a local cache that the ordinary scan reads.

Each sync lists the bucket once: per model version, the files with their sizes and ETags.
A version whose listing matches what the cache holds is left alone; a changed one is
downloaded into a hidden staging folder and renamed into place, so the scan never sees half
a version. In poll mode a version is downloaded only once two consecutive listings agree on
it, so an upload in progress is never served (its ``checksums.sha256``, where present, is
verified at load like any version's). Object keys that would leave the cache (``..``,
absolute parts) are refused. Credentials come from each cloud's standard environment,
through the fsspec backend (``pip install 'modelport[s3]'``, ``[gcs]``, ``[azure]``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import Any

from modelport.repository.layout import contained

logger = logging.getLogger(__name__)

BACKENDS = {"s3": "s3", "s3a": "s3", "gs": "gcs", "gcs": "gcs", "az": "azure", "abfs": "azure"}
"""URL scheme → the extra that installs its fsspec backend."""
MANIFESTS = ".manifests"
"""Beside the models in the cache (the scan skips dot-folders): what each folder holds."""
Files = tuple[tuple[str, int, str], ...]
"""(path inside the version or model folder, size, ETag or checksum) of each object."""
Key = tuple[str, str]
"""(model, version); version "" holds the model-level files (config.yaml, labels)."""


def is_remote(location: str) -> bool:
    return "://" in location and not location.startswith("file://")


def filesystem(url: str) -> tuple[Any, str]:
    """The fsspec filesystem and root path for ``url``; a missing backend is named."""
    import fsspec

    try:
        fs, root = fsspec.core.url_to_fs(url, skip_instance_cache=True)  # its own client
    except ImportError as exc:
        extra = BACKENDS.get(url.partition("://")[0], "s3")
        raise ValueError(
            f"{url.partition('://')[0]}:// repositories need pip install 'modelport[{extra}]'"
        ) from exc
    return fs, str(root)


def repositories_cache(configured: str = "") -> Path:
    """Where remote repositories are cached: ``--cache-dir``, else ~/.cache/modelport."""
    return Path(configured or Path.home() / ".cache" / "modelport") / "repositories"


class RemoteRepository:
    def __init__(
        self,
        url: str,
        cache_root: Path,
        connect: Callable[[str], tuple[Any, str]] = filesystem,
    ) -> None:
        self.url = url.rstrip("/")
        self.fs, self.root = connect(self.url)
        self.root = self.root.rstrip("/")
        self.cache = cache_root / hashlib.sha256(self.url.encode()).hexdigest()[:16]
        self._seen: dict[Key, Files] = {}

    def sync(self, settle: bool) -> Path:
        """Bring the cache up to the bucket; with ``settle``, only what two listings in a
        row agree on. Returns the cache folder to scan."""
        listed = self.listing()
        for key, files in listed.items():
            if settle and self._seen.get(key) != files:
                continue  # still changing (or new): the next sync decides
            self._fetch(key, files)
        for key in self._cached() - set(listed):
            if not settle or key not in self._seen:  # gone from two listings in a row
                self._forget(key)
        self._seen = listed
        return self.cache

    def listing(self) -> dict[Key, Files]:
        found: dict[Key, list[tuple[str, int, str]]] = {}
        self.fs.invalidate_cache()  # backends cache listings; each sync must see the bucket
        for path, info in self.fs.find(self.root, detail=True).items():
            placed = _place(path.removeprefix(self.root).lstrip("/"))
            if placed is None or info.get("type", "file") != "file":
                continue
            key, inner = placed
            tag = str(info.get("ETag") or info.get("etag") or info.get("md5") or "")
            found.setdefault(key, []).append((inner, int(info.get("size") or 0), tag))
        return {key: tuple(sorted(files)) for key, files in found.items()}

    def _fetch(self, key: Key, files: Files) -> None:
        folder, manifest = self._folder(key), self._manifest(key)
        if _read(manifest) == files and folder.exists():
            return
        model, version = key
        staging = self.cache / model / f".{version or 'model'}.download"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        try:
            for inner, _, _ in files:
                target = contained(staging / inner, staging)
                target.parent.mkdir(parents=True, exist_ok=True)
                self.fs.get_file(f"{self.root}/{model}/{_remote(version, inner)}", str(target))
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        self._install(staging, folder, version)
        manifest.parent.mkdir(parents=True, exist_ok=True)
        manifest.write_text(json.dumps([list(f) for f in files]))
        logger.info("model %s %s fetched from %s", model, version or "config", self.url)

    def _install(self, staging: Path, folder: Path, version: str) -> None:
        if version:  # a version folder: replaced by one rename
            shutil.rmtree(folder, ignore_errors=True)
            staging.rename(folder)
            return
        folder.mkdir(parents=True, exist_ok=True)  # model-level files beside the versions
        for item in staging.iterdir():
            item.replace(folder / item.name)
        staging.rmdir()

    def _folder(self, key: Key) -> Path:
        model, version = key
        return self.cache / model / version if version else self.cache / model

    def _manifest(self, key: Key) -> Path:
        model, version = key
        return self.cache / MANIFESTS / f"{model}@{version}.json"

    def _cached(self) -> set[Key]:
        names = (p.stem.rpartition("@") for p in (self.cache / MANIFESTS).glob("*.json"))
        return {(model, version) for model, _, version in names}

    def _forget(self, key: Key) -> None:
        folder = self._folder(key)
        if key[1]:
            shutil.rmtree(folder, ignore_errors=True)
        else:  # model-level files only; versions are forgotten on their own
            for item in folder.iterdir() if folder.exists() else ():
                if item.is_file():
                    item.unlink()
        self._manifest(key).unlink(missing_ok=True)


def _place(relative: str) -> tuple[Key, str] | None:
    """``model/version/file`` → ((model, version), file); ``model/file`` → ((model, ""),
    file); None for anything else, or for a key that would leave its folder."""
    parts = PurePosixPath(relative).parts
    if len(parts) < 2 or any(part in ("", ".", "..") or part.startswith("/") for part in parts):
        return None
    if parts[1].isdigit() and len(parts) >= 3:
        return (parts[0], parts[1]), "/".join(parts[2:])
    if len(parts) == 2:
        return (parts[0], ""), parts[1]
    return None


def _remote(version: str, inner: str) -> str:
    return f"{version}/{inner}" if version else inner


def _read(manifest: Path) -> Files | None:
    try:
        items = json.loads(manifest.read_text())
    except (OSError, ValueError):
        return None
    return tuple((str(a), int(b), str(c)) for a, b, c in items)
