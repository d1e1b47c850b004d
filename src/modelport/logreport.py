"""Score what a model really answered: its request log read back (``modelport evaluate MODEL
--from-log SINK``).

Predictions are joined to the labels sent back for them (``POST .../feedback`` or gRPC
``modelport.v1.Feedback``) and scored with the data-set run's metrics (``evaluate.py``),
overall, per version and per time window. Every logged request, labelled or not, is compared
with a drift reference (``drift.py``): a profile file, or the log's first rows.
"""

from __future__ import annotations

import datetime
import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from modelport import drift, evaluate, logfiles
from modelport.version import __version__

REFERENCE_ROWS = 1000
WORST = 10
"""Features listed per tensor in the drift section."""
QUALITY_KEYS = ("accuracy", "roc_auc", "mse", "mae", "r2")
"""The figures a time window reports (besides its counts and drift)."""


@dataclass
class Logged:
    """A request log read back: requests in time order, and labels by request id."""

    requests: list[dict[str, Any]] = field(default_factory=list)
    labels: dict[str, list[Any]] = field(default_factory=dict)

    @classmethod
    def read(cls, folder: Path, model: str) -> Logged:
        if not folder.is_dir():
            raise FileNotFoundError(f"{folder} is not a folder (give the log's sink)")
        found, requests = cls(), {}
        for record in logfiles.read(folder):
            if record.get("model") != model:
                continue
            if record.get("kind") == "label":
                found.labels[record["request_id"]] = record["labels"]  # the latest word wins
            elif record.get("kind") == "request":
                requests[record["request_id"]] = record
        found.requests = sorted(requests.values(), key=lambda r: str(r["time"]))
        return found

    def joined(self, requests: Sequence[dict[str, Any]]) -> dict[str, list[tuple[Any, Any]]]:
        """Per version, (label, output row) of each labelled row of ``requests``."""
        rows: dict[str, list[tuple[Any, Any]]] = {}
        for record in requests:
            truth, outputs = self.labels.get(record["request_id"]), record.get("outputs")
            if truth is None or not outputs:
                continue
            scores = _array(next(iter(outputs.values())))
            scores = scores.reshape(len(scores), -1) if scores.ndim else scores.reshape(1, 1)
            rows.setdefault(record["version"], []).extend(zip(truth, scores, strict=False))
        return rows


def from_log(
    folder: Path,
    model: str,
    window_s: float = 0.0,
    profile: drift.Profile | None = None,
    reference_rows: int = REFERENCE_ROWS,
) -> tuple[dict[str, Any], np.ndarray, np.ndarray]:
    """The report (overall, per version; per ``window_s`` seconds when given; drift), and
    the labels and output rows it scored."""
    logged = Logged.read(folder, model)
    rows = logged.joined(logged.requests)
    if not rows:
        raise ValueError(f"no prediction of {model!r} in {folder} has a label yet")
    every = [pair for pairs in rows.values() for pair in pairs]
    report: dict[str, Any] = {"model": model, "version": ", ".join(sorted(rows))}
    report["dataset"] = f"request log {folder}"
    report |= quality(every)
    report["versions"] = {v: quality(pairs) for v, pairs in sorted(rows.items())}
    reference, scored = _reference(logged.requests, profile, reference_rows)
    report["drift"] = _drift(reference, scored, detail=True)
    if window_s > 0:
        report["windows"] = _windows(logged, scored, reference, window_s)
    report["evaluated_at"] = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    report["modelport_version"] = __version__
    return report, *_arrays(every)


def quality(pairs: list[tuple[Any, Any]]) -> dict[str, Any]:
    y, outputs = _arrays(pairs)
    task = "regression" if y.dtype.kind == "f" else "classification"
    found: dict[str, Any] = {"samples": len(y), "task": task}
    if task == "classification":
        return found | evaluate.classification(y, outputs)
    return found | evaluate.regression(y, outputs[:, 0])


def _arrays(pairs: list[tuple[Any, Any]]) -> tuple[np.ndarray, np.ndarray]:
    return np.array([label for label, _ in pairs]), np.stack([row for _, row in pairs])


def _array(tensor: dict[str, Any]) -> np.ndarray:
    return np.asarray(tensor["data"]).reshape(tensor["shape"])


def _tensors(records: Sequence[dict[str, Any]]) -> dict[str, np.ndarray]:
    """Each numeric tensor's rows over ``records``, by name."""
    found: dict[str, list[np.ndarray]] = {}
    for record in records:
        for key in ("inputs", "outputs"):
            for name, tensor in record.get(key, {}).items():
                rows = drift.as_rows(_array(tensor), batched=True)
                if rows is not None:
                    found.setdefault(name, []).append(rows)
    return {name: _stacked(parts) for name, parts in found.items() if _same_width(parts)}


def _same_width(parts: list[np.ndarray]) -> bool:
    return len({part.shape[1] for part in parts}) == 1


def _stacked(parts: list[np.ndarray]) -> np.ndarray:
    return np.concatenate(parts).astype(np.float64)


def _reference(
    requests: list[dict[str, Any]], profile: drift.Profile | None, rows: int
) -> tuple[dict[str, drift.TensorProfile], list[dict[str, Any]]]:
    """The tensors' references (the profile's, else the log's first ``rows`` rows) and the
    requests to compare with them (without those used as a reference)."""
    if profile is not None:
        return dict(profile.tensors), requests
    taken = 0
    for count, record in enumerate(requests):
        if taken >= rows:
            reference = _tensors(requests[:count])
            return {n: drift.TensorProfile.of(r) for n, r in reference.items()}, requests[count:]
        taken += _rows_of(record)
    return {}, requests  # too few requests to take a reference from


def _rows_of(record: dict[str, Any]) -> int:
    tensors = list(record.get("inputs", {}).values()) or list(record.get("outputs", {}).values())
    shape = tensors[0]["shape"] if tensors else [1]
    return int(shape[0]) if len(shape) > 1 else 1


def _drift(
    reference: dict[str, drift.TensorProfile], requests: Sequence[dict[str, Any]], detail: bool
) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for name, rows in _tensors(requests).items():
        profile = reference.get(name)
        if profile is None or rows.shape[1] != profile.features:
            continue
        figures = drift.score(profile, rows)
        found[name] = figures.summary() | ({"worst": figures.worst(WORST)} if detail else {})
    return found


def _windows(
    logged: Logged,
    requests: list[dict[str, Any]],
    reference: dict[str, drift.TensorProfile],
    window_s: float,
) -> list[dict[str, Any]]:
    """Per window of ``window_s`` seconds (by request time): counts, quality, drift."""
    buckets: dict[int, list[dict[str, Any]]] = {}
    for record in requests:
        buckets.setdefault(int(_seconds(record["time"]) // window_s), []).append(record)
    starts = sorted(buckets)
    return [_window(logged, i * window_s, buckets[i], reference) for i in starts]


def _window(
    logged: Logged,
    start: float,
    requests: list[dict[str, Any]],
    reference: dict[str, drift.TensorProfile],
) -> dict[str, Any]:
    at = datetime.datetime.fromtimestamp(start, datetime.UTC).isoformat(timespec="seconds")
    found: dict[str, Any] = {"start": at, "requests": len(requests)}
    pairs = [pair for rows in logged.joined(requests).values() for pair in rows]
    scored = quality(pairs) if pairs else {"samples": 0}
    found |= {k: v for k, v in scored.items() if k in ("samples", *QUALITY_KEYS)}
    return found | {"drift": _drift(reference, requests, detail=False)}


def _seconds(stamp: str) -> float:
    return datetime.datetime.fromisoformat(stamp).timestamp()


def windows_plot(report: dict[str, Any]) -> bytes:
    """Quality and drift per time window, one above the other (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    windows = report["windows"]
    starts = [datetime.datetime.fromisoformat(w["start"]) for w in windows]
    figure, (upper, lower) = plt.subplots(2, 1, sharex=True, figsize=(8, 5.5))
    for key in ("roc_auc", "accuracy", "mse"):
        if any(key in w for w in windows):
            upper.plot(starts, [w.get(key, np.nan) for w in windows], marker="o", label=key)
    upper.set_ylabel("live quality")
    upper.legend(loc="lower left")
    for tensor in sorted({t for w in windows for t in w["drift"]}):
        psi = [w["drift"].get(tensor, {}).get("psi", np.nan) for w in windows]
        lower.plot(starts, psi, marker="o", label=f"PSI {tensor}")
    lower.axhline(0.25, color="grey", linestyle="--", linewidth=1, label="shift (0.25)")
    lower.set_ylabel("drift (PSI, worst feature)")
    lower.legend(loc="upper left")
    upper.set_title(f"{report['model']}: live quality and drift per window")
    figure.autofmt_xdate()
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    plt.close(figure)
    return buffer.getvalue()
