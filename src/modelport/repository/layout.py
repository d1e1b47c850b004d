"""Scan a model repository in Triton's layout: ``<root>/<model>/<version>/<artifact>``.

Version directories are positive integers without a leading zero; anything else is
ignored. ``<root>/<model>/config.yaml`` (or ``.yml``/``.json``) is optional. Nothing is
loaded here; the scan only says what exists.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from modelport.config import ConfigError, ModelConfig, load_model_config

_NAME = re.compile(r"^[A-Za-z0-9_.\-]{1,128}$")
_VERSION = re.compile(r"^[1-9][0-9]{0,18}$")


Fingerprint = tuple[tuple[str, int, int], ...]


@dataclass(frozen=True)
class ModelSource:
    """One version of one model, as found on storage."""

    name: str
    version: int
    root: Path  # the repository root every path must stay inside
    model_dir: Path
    version_dir: Path
    config: ModelConfig = field(default_factory=ModelConfig)
    fingerprint: Fingerprint = ()
    """(path, size, mtime) of the version's files and the model's config files: a change
    here means the version must be reloaded."""


@dataclass(frozen=True)
class ModelProblem:
    """A model directory that cannot be served at all (bad config, no versions)."""

    name: str
    reason: str


def is_valid_name(name: str) -> bool:
    """Model names: letters, digits, ``_ . -``; never a path, never ``.`` or ``..``."""
    return bool(_NAME.fullmatch(name)) and name not in (".", "..")


def scan(root: Path) -> list[ModelSource | ModelProblem]:
    """Every model directory under ``root`` as sources (one per selected version) or a problem."""
    if not root.is_dir():
        return [ModelProblem(root.name, f"model repository {root} is not a directory")]
    found: list[ModelSource | ModelProblem] = []
    for model_dir in sorted(root.iterdir()):
        if model_dir.name.startswith(".") or not model_dir.is_dir():
            continue
        found.extend(scan_model(root, model_dir))
    return found


def is_model_dir(path: Path) -> bool:
    """A directory holding version directories (``1/``, ``2/``...): one model, not a
    repository of them."""
    return path.is_dir() and any(_VERSION.match(p.name) and p.is_dir() for p in path.iterdir())


def scan_model(root: Path, model_dir: Path) -> list[ModelSource | ModelProblem]:
    try:
        config = load_model_config(model_dir)
    except ConfigError as exc:
        return [ModelProblem(model_dir.name, str(exc))]
    name = config.name or model_dir.name
    if not is_valid_name(name):
        return [ModelProblem(model_dir.name, f"invalid model name {name!r}")]
    versions = [int(p.name) for p in model_dir.iterdir() if _VERSION.match(p.name) and p.is_dir()]
    selected = config.version_policy.select(versions)
    if not selected:
        return [ModelProblem(name, f"no version directories in {model_dir.name}/ match its policy")]
    shared = fingerprint([p for p in model_dir.iterdir() if p.is_file()])
    return [_source(name, v, root, model_dir, config, shared) for v in selected]


def _source(
    name: str, version: int, root: Path, model_dir: Path, config: ModelConfig, shared: Fingerprint
) -> ModelSource:
    version_dir = model_dir / str(version)
    files = fingerprint(sorted(version_dir.rglob("*")))
    return ModelSource(name, version, root, model_dir, version_dir, config, shared + files)


def fingerprint(paths: list[Path]) -> Fingerprint:
    """Name, size and modification time of each file: cheap, and enough to see a change."""
    found = []
    for path in paths:
        try:
            info = path.stat()
        except OSError:  # vanished between listing and stat: the next scan sees it
            continue
        if path.is_file():
            found.append((str(path), info.st_size, info.st_mtime_ns))
    return tuple(found)


def single_file(path: Path) -> ModelSource:
    """``modelport serve model.onnx``: one file served as version 1 of a model named by its stem."""
    name = path.stem if is_valid_name(path.stem) else "model"
    config = ModelConfig(default_model_filename=path.name)
    return ModelSource(name, 1, path.parent, path.parent, path.parent, config, fingerprint([path]))


def contained(path: Path, root: Path) -> Path:
    """``path`` with symlinks resolved, refused if it leaves ``root``."""
    resolved = path.resolve()
    if not resolved.is_relative_to(root.resolve()):
        raise ValueError(f"{path.name}: path escapes the model repository")
    return resolved
