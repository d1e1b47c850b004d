"""Weights shared between worker processes: an ONNX model rewritten so its weights sit in
one external-data file, which onnxruntime maps into memory instead of copying.

Every worker that loads the same artifact maps the same file, so the weights are in memory
once, however many workers serve them. Prepacking is turned off for such sessions (a
prepacked copy would be private to each process); measured on the wide benchmark model it
costs about a third of the throughput, which is why this is only used with ``--workers``.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import onnx


WEIGHTS = "weights.bin"
MIN_SHARED_BYTES = 1024


def shared_copy(artifact: Path, cache: Path) -> Path:
    """The path of ``artifact``'s external-data twin in ``cache``, made once (atomically)."""
    stat = artifact.stat()
    key = hashlib.sha256(f"{artifact.resolve()}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    target = cache / key.hexdigest()[:32]
    if (target / "model.onnx").exists():
        return target / "model.onnx"
    cache.mkdir(parents=True, exist_ok=True, mode=0o700)
    import onnx  # 12 MiB, needed only to write the copy: never imported by a serving process
    from onnx import external_data_helper

    staging = Path(tempfile.mkdtemp(dir=cache, prefix=".staging-"))
    try:
        model = onnx.load(str(artifact), load_external_data=False)
        if _has_external_data(model):
            return artifact  # already external: onnxruntime maps it where it lies
        external_data_helper.convert_model_to_external_data(
            model, all_tensors_to_one_file=True, location=WEIGHTS, size_threshold=MIN_SHARED_BYTES
        )
        onnx.save(model, str(staging / "model.onnx"))
        _publish(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target / "model.onnx"


def _has_external_data(model: onnx.ModelProto) -> bool:
    import onnx

    return any(t.data_location == onnx.TensorProto.EXTERNAL for t in model.graph.initializer)


def _publish(staging: Path, target: Path) -> None:
    """Rename the finished copy into place; a worker that got there first wins."""
    try:
        os.rename(staging, target)
    except OSError:
        if not (target / "model.onnx").exists():
            raise


def shared_weights_dir(configured: str) -> Path:
    """``--shared-weights-dir``, or ``$XDG_CACHE_HOME/modelport/shared-weights``."""
    if configured:
        return Path(configured)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "modelport" / "shared-weights"
