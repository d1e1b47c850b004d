"""Labelled data for the examples and for evaluation: data sets scikit-learn ships (never a
download), and the user's own ``.npz``/``.csv`` files."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np


def load_digits_28x28() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's 1,797 digits as float32 rows of 784 values in [0, 1], and labels."""
    from scipy.ndimage import zoom
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = zoom(digits.images / 16.0, (1, 3.5, 3.5), order=1)
    return np.clip(images, 0, 1).reshape(len(images), 784).astype(np.float32), digits.target


DATASETS = ("digits", "iris", "breast_cancer", "diabetes")


@dataclass(frozen=True)
class Dataset:
    name: str
    x: np.ndarray
    y: np.ndarray
    task: str  # classification | regression


def load_dataset(name: str) -> Dataset:
    """A data set scikit-learn ships, or a file: ``.npz`` with ``x`` and ``y``, or ``.csv``
    whose last column is the label (a header row is skipped)."""
    if name == "digits":
        x, y = load_digits_28x28()
        return Dataset(name, x, y, "classification")
    if name in DATASETS:
        import sklearn.datasets

        bunch = getattr(sklearn.datasets, f"load_{name}")()
        task = "regression" if name == "diabetes" else "classification"
        return Dataset(name, bunch.data.astype(np.float32), bunch.target, task)
    return _load_file(Path(name))


def _load_file(path: Path) -> Dataset:
    if path.suffix == ".npz":
        with np.load(path, allow_pickle=False) as data:
            x, y = data["x"], data["y"]
    elif path.suffix == ".csv":
        table = np.genfromtxt(path, delimiter=",", skip_header=_has_header(path))
        x, y = table[:, :-1].astype(np.float32), table[:, -1]
    else:
        raise ValueError(f"unknown data set {str(path)!r}: use {DATASETS}, a .npz or a .csv")
    integral = bool(np.all(np.mod(y, 1) == 0)) and len(np.unique(y)) <= max(20, len(y) // 10)
    return Dataset(path.stem, x, y.astype(int) if integral else y, _task(integral))


def _has_header(path: Path) -> int:
    first = path.read_text().splitlines()[0].split(",")
    try:
        [float(cell) for cell in first]
    except ValueError:
        return 1
    return 0


def _task(integral: bool) -> str:
    return "classification" if integral else "regression"
