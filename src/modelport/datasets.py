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


def fraud_transactions(
    samples: int = 20_000, seed: int = 0, shift: float = 0.0
) -> tuple[np.ndarray, np.ndarray]:
    """Generated card transactions, about 2% fraud: the same rows for the same seed.

    Columns: amount, hour of day, distance from home (km), transactions in the last 24 h,
    merchant risk score, card present (0/1), foreign (0/1), account age (days).

    ``shift`` (0 to 1) moves the world away from the one the model learned: larger amounts
    further from home, fewer cards present, more foreign ones (the inputs drift), and a new
    kind of fraud on young accounts that the old signs (night, risky merchants) miss (the
    labels drift). 0 gives the rows of before.
    """
    rng = np.random.default_rng(seed)
    amount = rng.lognormal(3.5 + 0.8 * shift, 1.1, samples)
    hour = rng.integers(0, 24, samples).astype(float)
    distance = rng.exponential(12.0 * (1 + 1.5 * shift), samples)
    recent = rng.poisson(3, samples).astype(float)
    risk = rng.beta(2, 8, samples)
    present = (rng.random(samples) < 0.7 - 0.3 * shift).astype(float)
    foreign = (rng.random(samples) < 0.08 + 0.12 * shift).astype(float)
    age = rng.exponential(900.0, samples)
    night = ((hour < 6) | (hour > 22)).astype(float)
    learned = (1.4 * night + 4.0 * risk - 1.6 * present + 1.5 * foreign) * (1 - shift)
    new = shift * (4.0 * (age < 150) - 2.0 * foreign - 4.0 * risk + 1.6 * present)
    logit = (
        -7.2 + 0.9 * np.log1p(amount) / 2 + 0.02 * distance + 0.25 * recent - 0.001 * age
        + learned + new - 1.5 * shift
    )  # fmt: skip
    fraud = rng.random(samples) < 1 / (1 + np.exp(-logit))
    x = np.stack([amount, hour, distance, recent, risk, present, foreign, age], axis=1)
    return x.astype(np.float32), fraud.astype(np.int64)


DATASETS = ("digits", "iris", "breast_cancer", "diabetes", "fraud")


@dataclass(frozen=True)
class Dataset:
    name: str
    x: np.ndarray
    y: np.ndarray
    task: str  # classification | regression
    class_names: tuple[str, ...] = ()
    """Each class's name, by class index (``fraud``: legitimate, fraud), when known."""


def load_dataset(name: str) -> Dataset:
    """A data set scikit-learn ships, or a file: ``.npz`` with ``x`` and ``y``, or ``.csv``
    whose last column is the label (a header row is skipped)."""
    if name == "digits":
        x, y = load_digits_28x28()
        return Dataset(name, x, y, "classification")
    if name == "fraud":
        return Dataset(name, *fraud_transactions(), "classification", ("legitimate", "fraud"))
    if name in DATASETS:
        import sklearn.datasets

        bunch = getattr(sklearn.datasets, f"load_{name}")()
        task = "regression" if name == "diabetes" else "classification"
        names = tuple(str(n) for n in bunch.get("target_names", ())) if task != "regression" else ()
        return Dataset(name, bunch.data.astype(np.float32), bunch.target, task, names)
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
