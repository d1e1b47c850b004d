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
        table = read_csv(path)
        x, y = table[:, :-1].astype(np.float32), table[:, -1]
    else:
        raise ValueError(f"unknown data set {str(path)!r}: use {DATASETS}, a .npz or a .csv")
    integral = bool(np.all(np.mod(y, 1) == 0)) and len(np.unique(y)) <= max(20, len(y) // 10)
    return Dataset(path.stem, x, y.astype(int) if integral else y, _task(integral))


def read_csv(path: Path) -> np.ndarray:
    """A numeric CSV as a 2-D array; a first row that is not numbers is taken as a header."""
    return np.atleast_2d(np.genfromtxt(path, delimiter=",", skip_header=_has_header(path)))


def _has_header(path: Path) -> int:
    first = path.read_text().splitlines()[0].split(",")
    try:
        [float(cell) for cell in first]
    except ValueError:
        return 1
    return 0


def read_image(path: Path, side: int) -> np.ndarray:
    """A PNG/JPEG as ``side`` x ``side`` grey values in [0, 1], ink bright (as the digits are):
    a dark-on-light image is inverted."""
    from PIL import Image

    with Image.open(path) as image:
        grey = image.convert("L").resize((side, side), Image.Resampling.BILINEAR)
    values = np.asarray(grey, dtype=np.float32) / 255.0
    return 1.0 - values if values.mean() > 0.5 else values


def _task(integral: bool) -> str:
    return "classification" if integral else "regression"
