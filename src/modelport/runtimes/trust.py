"""The one gate for artifact formats that run code when they are loaded (pickle, joblib,
legacy Keras .h5): refused unless the server runs with ``--allow-pickle`` *and* the model's
config lists the file's SHA-256 under ``trusted_sha256``, so a swapped file is refused too."""

from __future__ import annotations

import hashlib
from pathlib import Path

from modelport.runtimes.base import RuntimeOptions


def require_trusted(artifact: Path, options: RuntimeOptions, safe_alternative: str) -> None:
    """Raise ValueError, with what to do instead, unless this exact file is trusted."""
    if not options.allow_pickle:
        raise ValueError(
            f"{artifact.name}: this format runs code when loaded and is refused; "
            f"{safe_alternative}, or start the server with --allow-pickle and list the "
            "file's SHA-256 in the model's config under trusted_sha256"
        )
    digest = sha256_of(artifact)
    if digest not in options.trusted_sha256:
        raise ValueError(
            f"{artifact.name}: SHA-256 {digest} is not listed in the model's trusted_sha256; "
            "refused"
        )


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
