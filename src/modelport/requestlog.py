"""A sample of a model's requests, with their inputs and outputs, written off the request path.

Configured per model in ``config.yaml`` (``logging: {sink: DIR-or-URL, sample: 0.1, inputs:
true, outputs: true}``); a model without it is never recorded. On the request path a record
costs a coin flip and, when sampled, a non-blocking put into a bounded queue: when the queue
is full the record is dropped and counted, and the request never waits. A thread per model
version writes records in files of about ``FILE_BYTES`` at most, one every ``FLUSH_S`` at
most, named ``<sink>/<model>/<version>/requests-<UTC time>-<n>.jsonl`` (or ``.parquet``,
``logfiles.py``): each file is written whole, once, so an object store (any fsspec URL) works
like a folder. A record: ``time``, ``request_id`` (the one the client got in
``x-request-id``), ``model``, ``version``, and ``inputs`` / ``outputs`` by name (datatype,
shape, data). With ``drift`` configured, the same thread adds each sampled request to the
model's drift windows (``drift.py``).
"""

from __future__ import annotations

import logging
import queue
import random
import threading
import time
from collections import OrderedDict, deque
from pathlib import Path
from typing import Any

import numpy as np

from modelport import logfiles
from modelport.accesslog import utc_stamp
from modelport.config import RequestLogging
from modelport.drift import DriftMonitor, Profile
from modelport.types import InferInput, InferOutput, InferRequest, InferResponse

logger = logging.getLogger(__name__)

CAPACITY = 4096
FILE_BYTES = 8 * 1024 * 1024
FLUSH_S = 10.0
RECENT = 10_000
"""Sampled predictions kept in memory to join labels to as they arrive."""
WINDOW = 1_000
"""Labelled rows the live metrics are computed over (the newest)."""
_STOP = None
Label = str | int | float | bool
Labelled = tuple[Label, Label, float | None]
RequestEntry = tuple[float, str, InferRequest, InferResponse]
Entry = RequestEntry | tuple[float, str, list[Label]]


class RequestLog:
    """One model version's sampled records: taken on the loop, written by a thread."""

    def __init__(
        self,
        config: RequestLogging,
        model: str,
        version: str,
        capacity: int = CAPACITY,
        flush_s: float = FLUSH_S,
        batched: bool = True,
        profile: Profile | None = None,
    ) -> None:
        logfiles.require(config.format)
        self.config = config
        watch = config.drift
        self.drift = DriftMonitor(profile, watch.window, watch.reference_rows) if watch else None
        """Drift of the sampled requests from the reference, when the config asks for it."""
        self._batched = batched
        self.folder = f"{config.sink.rstrip('/')}/{model}/{version}"
        self.model, self.version = model, version
        self.recorded = 0
        """Sampled and queued."""
        self.dropped = 0
        """Sampled but dropped: the queue was full."""
        self.lost = 0
        """Queued but not written: the sink failed (counted by the writer thread)."""
        self._flush_s = flush_s
        self._queue: queue.Queue[Entry | None] = queue.Queue(capacity)
        self._files = 0
        self._thread: threading.Thread | None = None
        self._recent: OrderedDict[str, np.ndarray] = OrderedDict()
        self.window: deque[Labelled] = deque(maxlen=WINDOW)
        """(predicted, actual, score of class 1) for the newest labelled rows."""
        self.labels = 0

    def offer(self, request_id: str, request: InferRequest, response: InferResponse) -> None:
        """Sample this request; a full queue drops it (counted), never waits."""
        if self.config.sample < 1.0 and random.random() >= self.config.sample:
            return
        if not self._put((time.time(), request_id, request, response)):
            return
        self.recorded += 1
        if request_id and response.outputs:
            self._recent[request_id] = response.outputs[0].data
            if len(self._recent) > RECENT:
                self._recent.popitem(last=False)

    def knows(self, request_id: str) -> bool:
        return request_id in self._recent

    def label(self, request_id: str, labels: list[Label]) -> bool:
        """Record the true labels of a request's rows (late, maybe); True when its
        prediction is still in memory and the live metrics now include them."""
        self._put((time.time(), request_id, labels))
        predicted = self._recent.pop(request_id, None)
        if predicted is None:
            return False
        rows = _predictions(predicted)
        scores = _positive_scores(predicted) or [None] * len(rows)
        self.window.extend(zip(rows, labels, scores, strict=False))
        self.labels += min(len(rows), len(labels))
        return True

    def _put(self, entry: Entry) -> bool:
        try:
            self._queue.put_nowait(entry)
        except queue.Full:
            self.dropped += 1
            return False
        self._start()
        return True

    def _start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._write, name="modelport-requestlog")
            self._thread.daemon = True
            self._thread.start()

    def close(self, timeout: float = 10.0) -> None:
        """Write what is queued, then stop the thread."""
        if self._thread is None:
            return
        try:
            self._queue.put(_STOP, timeout=timeout)
        except queue.Full:
            logger.warning("request log of %s: queue still full at shutdown", self.folder)
        self._thread.join(timeout)
        self._thread = None

    def _write(self) -> None:
        records: list[dict[str, Any]] = []
        size, deadline, stopping = 0, time.monotonic() + self._flush_s, False
        while not stopping:
            try:
                entry = self._queue.get(timeout=max(deadline - time.monotonic(), 0.01))
                stopping = entry is _STOP
            except queue.Empty:
                entry = None  # nothing arrived: only the deadline may flush
            if entry is not None:
                self._observe(entry)
                records.append(self._record(entry))
                size += _size(entry)
            expired = time.monotonic() >= deadline
            if records and (stopping or expired or size >= FILE_BYTES):
                self._flush(records)
                records, size = [], 0
            if expired:
                deadline = time.monotonic() + self._flush_s

    def _observe(self, entry: Entry) -> None:
        if self.drift is not None and len(entry) == 4:
            tensors = _tensors(entry)
            self.drift.observe(((t.name, t.data) for t in tensors), self._batched)

    def _record(self, entry: Entry) -> dict[str, Any]:
        if len(entry) == 3:
            at, request_id, labels = entry
            label: dict[str, Any] = {"time": utc_stamp(at), "kind": "label", "model": self.model}
            return label | {"request_id": request_id, "labels": labels}
        at, request_id, request, response = entry
        record: dict[str, Any] = {
            "time": utc_stamp(at),
            "kind": "request",
            "request_id": request_id,
            "model": response.model_name,
            "version": response.model_version,
        }
        if self.config.inputs:
            record["inputs"] = {t.name: _tensor(t.datatype, t.data) for t in request.inputs}
        if self.config.outputs:
            record["outputs"] = {o.name: _tensor(o.datatype, o.data) for o in response.outputs}
        return record

    def _flush(self, records: list[dict[str, Any]]) -> None:
        self._files += 1
        stamp = f"{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}-{self._files:06d}"
        try:
            for pattern, content in logfiles.encode(records, self.config.format):
                _write_file(f"{self.folder}/{pattern.format(stamp)}", content)
        except Exception as exc:  # a sink that fails loses these records, not the server
            self.lost += len(records)
            logger.error("request log: cannot write to %s: %s", self.folder, exc)


def _size(entry: Entry) -> int:
    """About what the entry takes in a file."""
    if len(entry) == 4:
        return 200 + sum(3 * int(t.data.nbytes) for t in _tensors(entry))
    return 100 + 10 * len(entry[2])


def _tensors(entry: RequestEntry) -> list[InferInput | InferOutput]:
    return [*entry[2].inputs, *entry[3].outputs]


def _write_file(path: str, content: bytes) -> None:
    if "://" not in path:
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(target.name + ".partial")
        partial.write_bytes(content)
        partial.replace(target)  # a reader never sees half a file
        return
    import fsspec

    with fsspec.open(path, "wb") as out:
        out.write(content)


def _tensor(datatype: str, data: np.ndarray) -> dict[str, Any]:
    values: Any = data
    if data.dtype == object:
        values = [v.decode("utf-8", "replace") if isinstance(v, bytes) else v for v in data.ravel()]
    elif data.dtype.kind == "f" and data.dtype.itemsize == 2:
        values = data.astype(np.float32)  # orjson writes float32/64, not float16
    return {"datatype": datatype, "shape": list(data.shape), "data": values}


def _predictions(output: np.ndarray) -> list[Label]:
    """Each row's prediction: the class with the highest score when the output holds one
    score per class, else the value itself."""
    rows = output.reshape(output.shape[0], -1) if output.ndim > 1 else output.reshape(-1, 1)
    if rows.shape[1] > 1 and rows.dtype.kind == "f":
        return [int(i) for i in np.argmax(rows, axis=1)]
    return [v.item() if hasattr(v, "item") else v for v in rows[:, 0]]


def _positive_scores(output: np.ndarray) -> list[float | None]:
    """Each row's score of class 1 when the output holds two class scores (for ROC AUC)."""
    if output.ndim != 2 or output.shape[1] != 2 or output.dtype.kind != "f":
        return []
    return [float(v) for v in output[:, 1]]


def live_figures(window: deque[Labelled]) -> dict[str, float]:
    """Accuracy over the window when its labels are classes (and ROC AUC when they are 0/1
    with a score for each), else the mean squared error."""
    if not window:
        return {}
    rows = list(window)
    if all(isinstance(actual, float) for _, actual, _ in rows):
        errors = [(float(p) - float(a)) ** 2 for p, a, _ in rows if isinstance(p, int | float)]
        return {"mse": sum(errors) / len(errors)} if errors else {}
    found = {"accuracy": sum(1 for p, a, _ in rows if p == a) / len(rows)}
    scored = [
        (s, a) for _, a, s in rows if s is not None and type(a) in (int, bool) and a in (0, 1)
    ]
    if len(scored) == len(rows) and len({a for _, a in scored}) == 2:
        found["roc_auc"] = roc_auc(
            np.array([s for s, _ in scored]), np.array([a for _, a in scored])
        )
    return found


def roc_auc(scores: np.ndarray, positive: np.ndarray) -> float:
    """The area under the ROC curve: the chance a positive outscores a negative (ties
    count half), from average ranks (Mann-Whitney)."""
    _, inverse, counts = np.unique(scores, return_inverse=True, return_counts=True)
    average_rank = (np.cumsum(counts) - (counts - 1) / 2.0)[inverse]
    hits = positive.astype(bool)
    n_pos, n_neg = int(hits.sum()), int((~hits).sum())
    return float((average_rank[hits].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))
