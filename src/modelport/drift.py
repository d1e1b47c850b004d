"""Drift: how far a model's recent inputs and outputs have moved from a reference.

A reference profile holds, for each tensor and each of its features (the values of one row),
the edges of ``BINS`` quantile bins of the reference data, the share of reference rows in each
bin, and the reference's minimum and maximum. A window holds the bin of each of the newest
rows. Per feature, the two give the population stability index (``PSI = Σ (q - p) * ln(q /
p)``: under 0.1 is stable, over 0.25 a shift), the Kolmogorov-Smirnov statistic read at the
reference's bin edges (``max |F_ref - F_window|``: a lower bound of the exact statistic), and
the share of values outside the reference's range. A tensor's figures are its worst feature's.

The same code scores a live window (``requestlog.py``, on the log's writer thread: adding a row
is O(features * BINS) numpy work) and a request log read back (``modelport evaluate
--from-log``). ``modelport profile-data`` writes a profile from a training file; without one,
a model's first requests are its reference.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import orjson

BINS = 10
SMOOTHING = 1e-4
"""Added to every bin's share so that an empty bin gives a large PSI, not an infinite one."""
MAX_FEATURES = 16_384
"""Tensors with more values per row (images) are not profiled."""
FORMAT = "modelport-profile/1"


@dataclass(frozen=True)
class TensorProfile:
    """One tensor's reference: per feature, bin edges, bin shares and range."""

    edges: np.ndarray
    """(features, BINS - 1): a value goes to the first bin whose upper edge is not below it."""
    shares: np.ndarray
    """(features, BINS): the share of reference rows in each bin."""
    low: np.ndarray
    high: np.ndarray

    @property
    def features(self) -> int:
        return int(self.edges.shape[0])

    @classmethod
    def of(cls, rows: np.ndarray) -> TensorProfile:
        """The profile of reference rows, shape (rows, features)."""
        rows = _as_floats(rows)
        inner = np.linspace(0.0, 1.0, BINS + 1)[1:-1]
        edges = np.nanquantile(rows, inner, axis=0).T.copy()  # NaN (missing) values ignored
        shares = _counts(_bins(rows, edges), BINS) / len(rows)
        return cls(edges, shares, np.nanmin(rows, axis=0), np.nanmax(rows, axis=0))

    def bins(self, rows: np.ndarray) -> np.ndarray:
        """Each value's bin, shape (rows, features)."""
        return _bins(rows, self.edges)

    def outside(self, rows: np.ndarray) -> np.ndarray:
        """Whether each value lies outside the reference's range, shape (rows, features)."""
        return (rows < self.low) | (rows > self.high)

    def to_json(self) -> dict[str, Any]:
        return {
            "features": self.features,
            "edges": self.edges.tolist(),
            "shares": self.shares.tolist(),
            "min": self.low.tolist(),
            "max": self.high.tolist(),
        }

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> TensorProfile:
        edges, shares, low, high = (
            np.asarray(obj[key], dtype=np.float64) for key in ("edges", "shares", "min", "max")
        )
        profile = cls(edges, shares, low, high)
        if profile.edges.shape != (len(profile.low), BINS - 1) or profile.shares.shape != (
            len(profile.low),
            BINS,
        ):
            raise ValueError(f"a tensor profile needs {BINS - 1} edges and {BINS} shares a feature")
        return profile


@dataclass(frozen=True)
class Profile:
    """A model's reference: one profile per tensor (inputs and outputs by name)."""

    tensors: Mapping[str, TensorProfile]
    rows: int

    def save(self, path: Path) -> None:
        tensors = {name: t.to_json() for name, t in self.tensors.items()}
        body = {"format": FORMAT, "bins": BINS, "rows": self.rows, "tensors": tensors}
        path.write_bytes(orjson.dumps(body, option=orjson.OPT_SERIALIZE_NUMPY))

    @classmethod
    def load(cls, path: Path) -> Profile:
        try:
            obj = orjson.loads(path.read_bytes())
            if obj.get("format") != FORMAT or obj.get("bins") != BINS:
                raise ValueError(f"not a {FORMAT} file with {BINS} bins")
            tensors = {n: TensorProfile.from_json(t) for n, t in obj["tensors"].items()}
            return cls(tensors, int(obj["rows"]))
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"{path.name}: not a drift profile ({exc})") from exc

    @classmethod
    def of(cls, tensors: Mapping[str, np.ndarray]) -> Profile:
        """Profile reference data: name → rows (first axis) of values."""
        rows = {name: as_rows(data, batched=True) for name, data in tensors.items()}
        kept = {name: TensorProfile.of(r) for name, r in rows.items() if r is not None}
        return cls(kept, min((len(r) for r in rows.values() if r is not None), default=0))


@dataclass(frozen=True)
class Figures:
    """A window against its reference, per feature."""

    rows: int
    psi: np.ndarray
    ks: np.ndarray
    outside: np.ndarray
    """Share of the window's rows outside the reference's range, per feature."""

    def summary(self) -> dict[str, float]:
        """The tensor's figures: its worst feature's PSI and KS, and the share of its values
        outside the reference range."""
        if not self.rows:
            return {"rows": 0.0}
        worst = int(np.argmax(self.psi))
        return {
            "rows": float(self.rows),
            "psi": float(self.psi[worst]),
            "psi_feature": float(worst),
            "ks": float(self.ks.max()),
            "out_of_range": float(self.outside.mean()),
        }

    def worst(self, count: int = 10) -> list[dict[str, float]]:
        """The ``count`` features that moved most (by PSI)."""
        order = np.argsort(-self.psi, kind="stable")[:count]
        return [
            {"feature": int(i), "psi": float(self.psi[i]), "ks": float(self.ks[i])} for i in order
        ]


def compare(profile: TensorProfile, counts: np.ndarray, outside: np.ndarray, rows: int) -> Figures:
    """PSI, KS and range figures of a window's bin counts (features, BINS) against ``profile``."""
    if not rows:
        empty = np.zeros(profile.features)
        return Figures(0, empty, empty, empty)
    p = profile.shares + SMOOTHING
    q = counts / rows + SMOOTHING
    psi = ((q - p) * np.log(q / p)).sum(axis=1)
    ks = np.abs(np.cumsum(profile.shares, axis=1) - np.cumsum(counts / rows, axis=1)).max(axis=1)
    return Figures(rows, psi, ks, outside / rows)


def score(profile: TensorProfile, rows: np.ndarray) -> Figures:
    """Figures of a whole set of rows at once (a request log read back)."""
    rows = _as_floats(rows)
    counts = _counts(profile.bins(rows), BINS)
    return compare(profile, counts, profile.outside(rows).sum(axis=0), len(rows))


class Window:
    """The newest ``size`` rows of one tensor, as running bin counts against a profile. Rows
    are binned in blocks (``BLOCK`` at a time, or when figures are asked for) into a ring of
    ``size`` rows, so that a row costs a share of a few vectorised numpy calls."""

    BLOCK = 64

    def __init__(self, profile: TensorProfile, size: int) -> None:
        self.profile = profile
        self._size = size
        self._bins = np.zeros((size, profile.features), dtype=np.uint8)
        self._out = np.zeros((size, profile.features), dtype=bool)
        self._next = self._filled = 0
        self._counts = np.zeros((profile.features, BINS), dtype=np.int64)
        self._outside = np.zeros(profile.features, dtype=np.int64)
        self._pending: list[np.ndarray] = []
        self._pending_rows = 0

    def add(self, rows: np.ndarray) -> None:
        self._pending.append(rows)
        self._pending_rows += len(rows)
        if self._pending_rows >= self.BLOCK:
            self._flush()

    def figures(self) -> Figures:
        self._flush()
        return compare(self.profile, self._counts, self._outside, self._filled)

    def _flush(self) -> None:
        if not self._pending:
            return
        rows = _as_floats(np.concatenate(self._pending))[-self._size :]
        self._pending, self._pending_rows = [], 0
        slots = (self._next + np.arange(len(rows))) % self._size
        evicted = slots[len(rows) - max(0, self._filled + len(rows) - self._size) :]
        self._counts -= _counts(self._bins[evicted], BINS)
        self._outside -= self._out[evicted].sum(axis=0)
        self._bins[slots], self._out[slots] = self.profile.bins(rows), self.profile.outside(rows)
        self._counts += _counts(self._bins[slots], BINS)
        self._outside += self._out[slots].sum(axis=0)
        self._next = int(slots[-1] + 1) % self._size
        self._filled = min(self._size, self._filled + len(rows))


class DriftMonitor:
    """One model version's windows, one per profiled tensor. Tensors the profile does not
    hold take their model's first ``reference_rows`` rows as their reference."""

    def __init__(self, profile: Profile | None, window: int, reference_rows: int) -> None:
        self._window, self._reference_rows = window, reference_rows
        given = profile.tensors if profile is not None else {}
        self._windows = {name: Window(p, window) for name, p in given.items()}
        self._pending: dict[str, list[np.ndarray]] = {}
        self._lock = threading.Lock()
        self.skipped = 0
        """Tensors seen with another number of features than their profile."""

    def observe(self, tensors: Iterable[tuple[str, np.ndarray]], batched: bool) -> None:
        """Add a request's tensors (name, data) to the windows."""
        for name, data in tensors:
            rows = as_rows(data, batched)
            if rows is not None:
                with self._lock:
                    self._add(name, rows)

    def _add(self, name: str, rows: np.ndarray) -> None:
        window = self._windows.get(name)
        if window is None:
            self._collect(name, rows)
        elif rows.shape[1] != window.profile.features:
            self.skipped += 1
        else:
            window.add(rows)

    def _collect(self, name: str, rows: np.ndarray) -> None:
        pending = self._pending.setdefault(name, [])
        if pending and pending[0].shape[1] != rows.shape[1]:
            self.skipped += 1
            return
        pending.append(rows)
        if sum(len(r) for r in pending) >= self._reference_rows:
            profile = TensorProfile.of(np.concatenate(self._pending.pop(name)))
            self._windows[name] = Window(profile, self._window)

    def figures(self) -> dict[str, dict[str, float]]:
        """Each tensor's summary (see :meth:`Figures.summary`), once it has a reference."""
        with self._lock:
            return {name: w.figures().summary() for name, w in self._windows.items()}

    def detail(self, count: int = 10) -> dict[str, list[dict[str, float]]]:
        """Each tensor's ``count`` most moved features."""
        with self._lock:
            return {name: w.figures().worst(count) for name, w in self._windows.items()}


def as_rows(data: np.ndarray, batched: bool) -> np.ndarray | None:
    """A numeric tensor as (rows, features): its first axis is the batch when ``batched``;
    None for strings and tensors too wide to profile."""
    if data.dtype.kind not in "biuf" or data.size == 0:
        return None
    if not batched:
        rows = data.reshape(1, -1)
    else:
        rows = data.reshape(len(data), -1) if data.ndim > 1 else data.reshape(-1, 1)
    return rows if rows.shape[1] <= MAX_FEATURES else None


def _as_floats(rows: np.ndarray) -> np.ndarray:
    return rows if rows.dtype == np.float64 else rows.astype(np.float64)


def _bins(rows: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Each value's bin against (features, BINS - 1) edges, shape (rows, features)."""
    bins = np.zeros(rows.shape, dtype=np.uint8)
    for edge in edges.T:  # BINS - 1 vectorised comparisons
        bins += rows > edge
    return bins


def _counts(bins: np.ndarray, width: int) -> np.ndarray:
    """(features, width) counts of each feature's bins, from (rows, features) bin numbers."""
    features = bins.shape[1]
    flat = bins.astype(np.int64) + np.arange(features) * width
    return np.bincount(flat.ravel(), minlength=features * width).reshape(features, width)
