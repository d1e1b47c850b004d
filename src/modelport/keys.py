"""The API keys file (``--api-keys FILE``): parsed, checked, and re-read when it changes.

    - name: ci-pipeline              # shown in metrics and logs; the key never is
      sha256: 9f86d081884c7d65...    # sha256 of the key (echo -n KEY | sha256sum)
      scopes: [infer]                # read, infer (implies read), admin
      models: ["fraud", "digits*"]   # globs; default every model
      rate: 50                       # requests/s (token bucket); default the server's
      concurrency: 8                 # requests in flight; default the server's

``key: <the key in clear>`` is accepted instead of ``sha256`` (for tests; it logs a warning).
A file that fails to parse keeps the keys already loaded, and says why in the log.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from modelport.auth import SCOPES, AccessPolicy, ApiKey, Keyring, digest

logger = logging.getLogger(__name__)

_HEX64 = re.compile(r"^[0-9a-fA-F]{64}$")
_FIELDS = {"name", "sha256", "key", "scopes", "models", "rate", "concurrency"}


class KeysFileError(ValueError):
    """The keys file is malformed; the message names the entry and the field."""


def read_keyring(path: Path) -> Keyring:
    try:
        loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise KeysFileError(f"{path.name}: cannot read: {type(exc).__name__}") from exc
    entries = loaded.get("keys") if isinstance(loaded, dict) else loaded
    if not isinstance(entries, list) or not entries:
        raise KeysFileError(f"{path.name}: expected a list of key entries")
    keys = tuple(_entry(item, i) for i, item in enumerate(entries))
    names = [key.name for key in keys]
    if len(set(names)) != len(names):
        raise KeysFileError(f"{path.name}: key names must be unique")
    return Keyring(keys)


def _entry(item: Any, index: int) -> ApiKey:
    where = f"entry {index}"
    if not isinstance(item, dict):
        raise KeysFileError(f"{where}: expected a mapping")
    unknown = sorted(set(item) - _FIELDS)
    if unknown:
        raise KeysFileError(f"{where}: unknown field(s) {unknown}")
    name = item.get("name")
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9_.@-]{1,64}", name):
        raise KeysFileError(f"{where}: 'name' must be 1-64 letters, digits or _.@-")
    return ApiKey(
        name,
        _digest(item, f"key {name!r}"),
        _scopes(item.get("scopes"), f"key {name!r}"),
        _models(item.get("models", ["*"]), f"key {name!r}"),
        _number(item.get("rate", 0), f"key {name!r}: rate", float),
        int(_number(item.get("concurrency", 0), f"key {name!r}: concurrency", int)),
    )


def _digest(item: dict[str, Any], where: str) -> bytes:
    if "sha256" in item and "key" in item:
        raise KeysFileError(f"{where}: give 'sha256' or 'key', not both")
    if "key" in item:
        if not isinstance(item["key"], str) or len(item["key"]) < 16:
            raise KeysFileError(f"{where}: 'key' must be a string of at least 16 characters")
        logger.warning("%s is stored in clear in the keys file; store its sha256", where)
        return digest(item["key"])
    value = item.get("sha256")
    if not isinstance(value, str) or not _HEX64.match(value):
        raise KeysFileError(f"{where}: 'sha256' must be 64 hex digits")
    return bytes.fromhex(value)


def _scopes(value: Any, where: str) -> frozenset[str]:
    if not isinstance(value, list) or not value or not set(value) <= set(SCOPES):
        raise KeysFileError(f"{where}: 'scopes' must be a list of {list(SCOPES)}")
    return frozenset(value)


def _models(value: Any, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not value or not all(isinstance(g, str) for g in value):
        raise KeysFileError(f"{where}: 'models' must be a list of names or globs")
    return tuple(value)


def _number(value: Any, where: str, kind: Callable[[Any], float]) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise KeysFileError(f"{where} must be a non-negative number")
    return kind(value)


class KeysFile:
    """Keeps ``policy.keyring`` equal to the file: ``refresh`` re-reads it when its size or
    modification time changed (a server calls it on a timer)."""

    def __init__(self, path: Path, policy: AccessPolicy) -> None:
        self.path = path
        self.policy = policy
        self._seen: tuple[int, int] | None = None

    def load(self) -> None:
        """The first read: a bad file here stops the server (raises KeysFileError)."""
        self._seen = self._stamp()
        self.policy.keyring = read_keyring(self.path)
        logger.info("API keys: %d loaded from %s", len(self.policy.keyring.keys), self.path.name)

    def refresh(self) -> bool:
        """Re-read a changed file; True when new keys took effect."""
        stamp = self._stamp()
        if stamp == self._seen:
            return False
        self._seen = stamp
        try:
            self.policy.keyring = read_keyring(self.path)
        except KeysFileError as exc:
            logger.error("API keys file not reloaded, the previous keys stay: %s", exc)
            return False
        logger.info("API keys reloaded: %d keys", len(self.policy.keyring.keys))
        return True

    def _stamp(self) -> tuple[int, int] | None:
        try:
            info = self.path.stat()
        except OSError:
            return None
        return info.st_mtime_ns, info.st_size
