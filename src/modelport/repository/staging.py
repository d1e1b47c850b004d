"""Writing a model version the way a server polling the repository can rely on: the files go
into a hidden staging directory, which is renamed into place once complete."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from modelport.repository import checksums


@contextmanager
def new_version(repository: Path, model: str, version: int = 1) -> Iterator[Path]:
    """A directory to write version ``version`` of ``model`` into; published on success."""
    final = repository / model / str(version)
    staging = final.with_name(f".{version}.staging")  # not a version name: scans skip it
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        yield staging
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    checksums.write(staging)  # what the files were when written: verified at every load
    if final.exists():
        shutil.rmtree(final)
    staging.rename(final)


def write_model_files(model_dir: Path, config: str, labels: list[str] | None = None) -> None:
    """The model-level files beside the versions: ``config.yaml`` and an optional labels file."""
    model_dir.mkdir(parents=True, exist_ok=True)
    if labels is not None:
        (model_dir / "labels.txt").write_text("".join(f"{label}\n" for label in labels))
    (model_dir / "config.yaml").write_text(config)
