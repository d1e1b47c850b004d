"""Evaluate a served model: send a labelled data set through a running server in batches,
then score the answers with scikit-learn's own metrics and time every batch.

Classification (the model's first output holds one score per class, or a class index):
accuracy, precision/recall/F1 (macro and weighted), the confusion matrix, and ROC AUC when
there are two classes. Regression: MSE, MAE and R². Always: latency p50/p95/p99 per batch
and throughput. The report is JSON; with matplotlib installed, also a PNG (the confusion
matrix, or predicted against true) and a self-contained HTML page.
"""

from __future__ import annotations

import base64
import datetime
import html
import io
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from modelport.client import Client
from modelport.datasets import Dataset
from modelport.version import __version__


def run(
    client: Client,
    model: str,
    data: Dataset,
    batch_size: int = 64,
    progress: Callable[[int], None] | None = None,
) -> tuple[np.ndarray, list[float]]:
    """The model's first output for every sample, and each batch's latency in seconds."""
    outputs, latencies = [], []
    for start in range(0, len(data.x), batch_size):
        batch = data.x[start : start + batch_size]
        began = time.perf_counter()
        outputs.append(np.asarray(client.predict(model, batch)))
        latencies.append(time.perf_counter() - began)
        if progress is not None:
            progress(len(batch))
    return np.concatenate(outputs), latencies


def score(data: Dataset, outputs: np.ndarray, latencies: list[float]) -> dict[str, Any]:
    """The report: quality metrics from scikit-learn, and latency figures."""
    report: dict[str, Any] = {"dataset": data.name, "samples": len(data.y), "task": data.task}
    if data.task == "classification":
        report |= classification(data.y, outputs)
        if data.class_names:
            report["class_names"] = {str(i): n for i, n in enumerate(data.class_names)}
    else:
        report |= regression(data.y, outputs.reshape(len(data.y), -1)[:, 0])
    lat_ms = np.array(latencies) * 1000
    report["latency_ms"] = {f"p{p}": float(np.percentile(lat_ms, p)) for p in (50, 95, 99)}
    report["throughput_samples_per_s"] = len(data.y) / float(sum(latencies))
    return report


def provenance(client: Client, model: str, server: str, protocol: str) -> dict[str, Any]:
    """What a report describes: the model and the version that answered (the newest ready
    one, which unversioned requests reach), the server, and when."""
    versions = client.metadata(model).versions
    return {
        "model": model,
        "version": max(versions, key=int) if versions else "",
        "server": server,
        "protocol": protocol,
        "evaluated_at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "modelport_version": __version__,
    }


def predicted_labels(outputs: np.ndarray) -> np.ndarray:
    """Class per sample: the arg-max of per-class scores, or the output itself if it is one."""
    flat = outputs.reshape(len(outputs), -1)
    return flat.argmax(axis=1) if flat.shape[1] > 1 else flat[:, 0].round().astype(int)


def classification(y: np.ndarray, outputs: np.ndarray) -> dict[str, Any]:
    from sklearn import metrics

    predicted = predicted_labels(outputs)
    labels = sorted(set(np.unique(y)) | set(np.unique(predicted)))
    found: dict[str, Any] = {"accuracy": metrics.accuracy_score(y, predicted)}
    for average in ("macro", "weighted"):
        p, r, f, _ = metrics.precision_recall_fscore_support(
            y, predicted, average=average, zero_division=0
        )
        found[average] = {"precision": p, "recall": r, "f1": f}
    found["labels"] = [int(v) for v in labels]
    found["confusion_matrix"] = metrics.confusion_matrix(y, predicted, labels=labels).tolist()
    scores = outputs.reshape(len(outputs), -1)
    if len(labels) == 2 and scores.shape[1] == 2 and len(np.unique(y)) == 2:
        found["roc_auc"] = metrics.roc_auc_score(y, scores[:, 1])
    return found


def regression(y: np.ndarray, predicted: np.ndarray) -> dict[str, Any]:
    from sklearn import metrics

    return {
        "mse": metrics.mean_squared_error(y, predicted),
        "mae": metrics.mean_absolute_error(y, predicted),
        "r2": metrics.r2_score(y, predicted),
    }


def write_report(
    report: dict[str, Any], out: Path, y: np.ndarray, outputs: np.ndarray
) -> list[Path]:
    """``report.json`` always; ``report.png`` and ``report.html`` when matplotlib is there."""
    out.mkdir(parents=True, exist_ok=True)
    written = [out / "report.json"]
    written[0].write_bytes(
        orjson.dumps(report, option=orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY)
    )
    try:
        png = _figure(report, y, outputs)
    except ImportError:
        return written
    (out / "report.png").write_bytes(png)
    (out / "report.html").write_text(_html(report, png))
    return [*written, out / "report.png", out / "report.html"]


def _figure(report: dict[str, Any], y: np.ndarray, outputs: np.ndarray) -> bytes:
    from matplotlib import pyplot as plt

    figure = plot(report, y, outputs)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    plt.close(figure)
    return buffer.getvalue()


def plot(report: dict[str, Any], y: np.ndarray, outputs: np.ndarray) -> Any:
    """The report's figure: the confusion matrix with the classes' names, or predicted
    against true; titled with the model, version and data set."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt
    from sklearn.metrics import ConfusionMatrixDisplay

    if report["task"] == "classification":
        names, labels = report.get("class_names", {}), report["labels"]
        display = ConfusionMatrixDisplay.from_predictions(
            y,
            predicted_labels(outputs),
            labels=labels,
            display_labels=[names.get(str(label), str(label)) for label in labels],
        )
        figure, axes = display.figure_, display.ax_
    else:
        figure, axes = plt.subplots()
        axes.scatter(y, outputs.reshape(len(y), -1)[:, 0], s=8)
        axes.set_xlabel("true")
        axes.set_ylabel("predicted")
    axes.set_title(_title(report))
    return figure


def _html(report: dict[str, Any], png: bytes) -> str:
    rows = "".join(
        f"<tr><th>{html.escape(k)}</th><td>{html.escape(_text(v))}</td></tr>"
        for k, v in report.items()
        if k != "confusion_matrix"
    )
    image = base64.b64encode(png).decode()
    return (
        "<!doctype html><meta charset='utf-8'><title>modelport evaluation</title>"
        f"<h1>Evaluation: {html.escape(_title(report))}</h1><table>{rows}</table>"
        f"<img alt='plot' src='data:image/png;base64,{image}'>"
    )


def _title(report: dict[str, Any]) -> str:
    model = report.get("model")
    served = f"{model} version {report.get('version')} on " if model else ""
    return f"{served}{report['dataset']}"


def _text(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4f}"
    if isinstance(value, dict):
        return ", ".join(f"{k}: {_text(v)}" for k, v in value.items())
    return str(value)
