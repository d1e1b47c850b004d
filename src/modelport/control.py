"""Model control with Triton's modes: ``none`` loads everything once, ``poll`` follows the
repository, ``explicit`` loads and unloads on request (``--load-model`` at start).

A polled change is applied only once a model looks the same on two consecutive scans, so
a version directory still being written is never loaded.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path

from modelport.errors import (
    AlreadyLoaded,
    InvalidInput,
    LoadFailed,
    ManagementDisabled,
    ModelNotFound,
    shown,
)
from modelport.registry import ModelRegistry
from modelport.repository.layout import (
    ModelProblem,
    ModelSource,
    contained,
    is_model_dir,
    is_valid_name,
    scan,
    scan_model,
    single_file,
)
from modelport.repository.remote import RemoteRepository, is_remote, repositories_cache
from modelport.runtimes import ARTIFACTS
from modelport.settings import Settings
from modelport.types import ModelIndexEntry

logger = logging.getLogger(__name__)

MODES = ("none", "poll", "explicit")
Found = list[ModelSource | ModelProblem]
Summary = dict[str, tuple[object, ...]]


def discover(settings: Settings, roots: Sequence[Path] | None = None) -> Found:
    """Every model in every repository root (``roots``: local folders, remote ones' caches;
    default the settings' local roots) and single file; duplicate names are problems."""
    found: Found = []
    for root in roots if roots is not None else map(Path, settings.model_repositories):
        found += scan(root)
    for directory in map(Path, settings.model_dirs):
        found += scan_model(directory.parent, directory)
    for path in settings.model_files:
        file = Path(path)
        found.append(single_file(file) if file.is_file() else ModelProblem(file.stem, "no file"))
    places: dict[str, set[Path]] = {}
    for item in found:
        if isinstance(item, ModelSource):
            artifact = item.model_dir / item.config.default_model_filename
            places.setdefault(item.name, set()).add(artifact)
    if settings.model_name and len({item.name for item in found}) == 1:  # KServe names it
        found = [dataclasses.replace(item, name=settings.model_name) for item in found]
        places = {settings.model_name: set().union(*places.values())}
    clashes = {name for name, dirs in places.items() if len(dirs) > 1}
    kept = [item for item in found if item.name not in clashes]
    return kept + [ModelProblem(name, "model found in several repositories") for name in clashes]


def model_at(name: str, path: Path) -> Found:
    """The model in a folder, served as ``name``: version folders, or one model file."""
    if is_model_dir(path):
        return [dataclasses.replace(item, name=name) for item in scan_model(path.parent, path)]
    artifact = single_artifact(path)
    if artifact is None:
        return [ModelProblem(name, "no model file or version folders at the given url")]
    return [dataclasses.replace(single_file(artifact), name=name)]


def single_artifact(path: Path) -> Path | None:
    """The model file a folder holds directly (``model.onnx``...), if it holds one."""
    if not path.is_dir():
        return None
    found = [path / name for name in ARTIFACTS if (path / name).exists()]
    return found[0] if len(found) == 1 else None


def summarize(found: Sequence[ModelSource | ModelProblem]) -> Summary:
    """Per model, what a scan saw: versions with fingerprints, and problems."""
    summary: dict[str, list[object]] = {}
    for item in found:
        key = (item.version, item.fingerprint) if isinstance(item, ModelSource) else item.reason
        summary.setdefault(item.name, []).append(key)
    return {name: tuple(map(str, keys)) for name, keys in summary.items()}


def settled(previous: Summary, current: Summary, known: Sequence[str]) -> set[str]:
    """Models that look the same on both scans (absent twice counts: it was removed)."""
    names = set(previous) | set(current) | set(known)
    return {name for name in names if previous.get(name) == current.get(name)}


def refuse_uploads(parameters: Mapping[str, object]) -> None:
    """Triton lets a load upload a config and files; modelport loads only from its repository."""
    uploads = sorted(k for k in parameters if k == "config" or k.startswith("file:"))
    if uploads:
        raise InvalidInput(
            f"loading with uploaded {uploads} is not supported; put the model in the repository"
        )


class ModelControl:
    def __init__(self, settings: Settings, registry: ModelRegistry) -> None:
        if settings.model_control_mode not in MODES:
            raise ValueError(f"model control mode must be one of {MODES}")
        self.settings = settings
        self.mode = settings.model_control_mode
        self._registry = registry
        self._previous: Summary = {}
        self.multi_models: dict[str, str] = {}
        """Models loaded through SageMaker's multi-model API: name → the url it gave."""
        cache = repositories_cache(settings.cache_dir)
        self._remotes = {
            url: RemoteRepository(url, cache)
            for url in settings.model_repositories
            if is_remote(url)
        }

    def scan(self, settle: bool | None) -> Found:
        """``discover`` over every root, remote ones synced as ``roots`` says (in a thread:
        listing a bucket blocks)."""
        return discover(self.settings, self.roots(settle))

    def roots(self, settle: bool | None) -> list[Path]:
        """The repository roots to scan: remote ones synced first (``settle``: only what two
        listings agree on; None: as cached, no listing)."""
        found = []
        for root in self.settings.model_repositories:
            remote = self._remotes.get(root)
            if remote is None:
                found.append(Path(root))
            elif settle is None:
                found.append(remote.cache)
            else:
                found.append(remote.sync(settle))
        return found

    async def start(self) -> None:
        """The initial load for the mode."""
        found = await asyncio.to_thread(self.scan, False)
        self._previous = summarize(found)
        if self.mode != "explicit" or "*" in self.settings.load_models:
            await self._registry.load(found)
        else:
            wanted = set(self.settings.load_models)
            chosen = [i for i in found if i.name in wanted]
            missing = wanted - {i.name for i in chosen}
            chosen += [ModelProblem(n, "not found in the model repository") for n in missing]
            await self._registry.apply(chosen, names=wanted)

    def index(self) -> list[ModelIndexEntry]:
        """The registry's models; in explicit mode also those on storage not loaded yet."""
        entries = self._registry.index()
        if self.mode != "explicit":
            return entries
        known = {entry.name for entry in entries}
        found = {item.name for item in self.scan(None)} - known
        return sorted(
            [*entries, *(ModelIndexEntry(n, "", "UNAVAILABLE", "not loaded") for n in found)],
            key=lambda e: (e.name, e.version),
        )

    async def load(self, name: str, parameters: Mapping[str, object]) -> None:
        self._require_explicit("load")
        self._check_name(name)
        refuse_uploads(parameters)
        found = [item for item in await asyncio.to_thread(self.scan, False) if item.name == name]
        if not found:
            raise ModelNotFound(f"no model named {shown(name)} in the model repository")
        await self._registry.apply(found, names=[name], retry_failed=True)
        failed = [e for e in self._registry.index() if e.name == name and e.state != "READY"]
        if failed or not self._registry.is_ready(name):
            reasons = [
                f"version {e.version}: {e.reason}" if e.version else e.reason for e in failed
            ]
            serving = [m.version for m in self._registry.ready_models(name)]
            kept = f"; version(s) {serving} keep serving" if serving else ""
            raise LoadFailed(f"failed to load '{name}': {'; '.join(reasons) or 'not ready'}{kept}")

    async def load_from(self, name: str, location: str) -> None:
        """SageMaker's multi-model load: the model unpacked at ``location`` (inside
        ``--multi-model-root`` only), served as ``name``."""
        root = self.settings.multi_model_root
        if not root:
            raise ManagementDisabled("the multi-model API is off; start with --multi-model-root")
        self._check_name(name)
        if name in self.multi_models:
            raise AlreadyLoaded(f"model {shown(name)} is already loaded")
        try:
            path = contained(Path(location), Path(root))
        except ValueError as exc:
            raise InvalidInput("'url' must be a folder inside the multi-model root") from exc
        await self._registry.apply(await asyncio.to_thread(model_at, name, path), names=[name])
        if not self._registry.is_ready(name):
            reasons = [e.reason for e in self._registry.index() if e.name == name and e.reason]
            await self._registry.unload(name)
            raise LoadFailed(f"failed to load {shown(name)}: {'; '.join(reasons) or 'not ready'}")
        self.multi_models[name] = location

    async def unload_multi(self, name: str) -> None:
        if self.multi_models.pop(name, None) is None:
            raise ModelNotFound(f"model {shown(name)} is not loaded")
        await self._registry.unload(name)

    async def unload(self, name: str) -> None:
        self._require_explicit("unload")
        self._check_name(name)
        await self._registry.unload(name)

    def _require_explicit(self, action: str) -> None:
        if self.mode != "explicit":
            raise ManagementDisabled(
                f"model {action} is not allowed: the server runs with model control mode "
                f"'{self.mode}'; start it with --model-control-mode explicit"
            )

    def _check_name(self, name: str) -> None:
        if not is_valid_name(name):
            raise InvalidInput(f"invalid model name {shown(name)}")

    async def poll_once(self) -> None:
        """One poll: scan, and apply the models that have settled since the last scan."""
        found = await asyncio.to_thread(self.scan, True)
        current = summarize(found)
        # Models SageMaker loaded are on no repository: a scan must not read them as removed.
        known = [n for n in self._registry.names() if n not in self.multi_models]
        ready = settled(self._previous, current, known)
        self._previous = current
        # Applying is idempotent: versions whose fingerprint did not change are left alone.
        await self._registry.apply([i for i in found if i.name in ready], names=ready)

    async def run_poller(self) -> None:
        """Poll until cancelled; a failing scan is logged and retried next interval."""
        while True:
            await asyncio.sleep(self.settings.repository_poll_secs)
            try:
                await self.poll_once()
            except Exception:
                logger.exception("repository poll failed; retrying in %ss",
                                 self.settings.repository_poll_secs)  # fmt: skip
