"""The fraud detector in production while the world moves away from its training data.

Trains the fraud example as ``fraud-monitored`` with request logging and drift watched
(``config.yaml``: ``logging: {sink, drift: true}``, ``profile.json`` from its training rows),
serves it on 127.0.0.1, and sends a phase of traffic per time window, every transaction's
label coming back (``feedback``) after its prediction: first like the training data, then
more and more shifted (``datasets.fraud_transactions(shift=...)``: the inputs drift and a new
kind of fraud appears). Afterwards it scores the request log per window (``modelport evaluate
fraud-monitored --from-log ... --window``): drift (PSI) rises and ROC AUC falls. The log and
the report go to ``<repository>/.logs`` (a hidden folder, which the repository scan skips).
"""

from __future__ import annotations

import asyncio
import time
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np

from modelport import logreport
from modelport.client import Client
from modelport.datasets import fraud_transactions
from modelport.drift import Profile
from modelport.evaluate import write_report
from modelport.examples import fraud
from modelport.server import Server
from modelport.settings import Settings

MODEL_NAME = "fraud-monitored"
STEADY = 3
"""Phases like the training data before the shift starts."""
ROWS_PER_REQUEST = 50


def build(
    repository: Path,
    seed: int = 0,
    framework: str = "",
    phases: int = 8,
    window_s: float = 3.0,
    rows: int = 5000,
) -> dict[str, Any]:
    logs = (repository / ".logs").resolve()
    config = (
        "# The fraud detector, its requests logged and its drift watched (`modelport examples"
        " fraud-drift`).\nlabel_file: labels.txt\n"
        f"logging: {{sink: {logs}, drift: {{window: {rows}}}}}\n"
    )
    trained = fraud.build(repository, seed, framework, MODEL_NAME, config)
    model_dir = repository / MODEL_NAME
    Profile.of({"input": fraud_transactions(seed=seed)[0]}).save(model_dir / "profile.json")
    shifts = [max(0.0, (k - STEADY + 1) / (phases - STEADY)) for k in range(phases)]
    live = asyncio.run(_serve(model_dir, shifts, window_s, rows, seed))
    profile = Profile.load(model_dir / "profile.json")
    report, y, outputs = logreport.from_log(logs, MODEL_NAME, window_s, profile)
    out = logs / f"{MODEL_NAME}-report"
    write_report(report, out, y, outputs)
    (out / "windows.png").write_bytes(logreport.windows_plot(report))
    windows = report["windows"]
    return {
        "path": str(model_dir),
        "also": str(out),
        "framework": trained["framework"],
        "scores": _before_after(windows),
        "windows": windows,
        "live": live,
        "shifts": shifts,
        "train_seconds": trained["train_seconds"],
        "test_samples": int(sum(w["samples"] for w in windows)),
    }


def _before_after(windows: list[dict[str, Any]]) -> dict[str, float]:
    first, last = windows[0], windows[-1]
    return {
        "roc_auc_first_window": first["roc_auc"],
        "roc_auc_last_window": last["roc_auc"],
        "psi_first_window": first["drift"]["input"]["psi"],
        "psi_last_window": last["drift"]["input"]["psi"],
    }


async def _serve(
    model_dir: Path, shifts: list[float], window_s: float, rows: int, seed: int
) -> list[dict[str, float]]:
    settings = Settings(model_dirs=(str(model_dir),), http_port=0, allow_grpc=False)
    server = Server(settings)
    await server.start()
    try:
        url = f"127.0.0.1:{server.http_port}"
        return await asyncio.to_thread(_traffic, url, shifts, window_s, rows, seed)
    finally:
        await server.stop()  # writes what the request log holds


def _traffic(
    url: str, shifts: list[float], window_s: float, rows: int, seed: int
) -> list[dict[str, float]]:
    """One phase per time window; /metrics read at the end of each."""
    live = []
    with Client(url) as client:
        for phase, shift in enumerate(shifts):
            time.sleep(window_s - time.time() % window_s + 0.01)  # the next window's start
            x, y = fraud_transactions(rows, seed=seed + 1 + phase, shift=shift)
            _phase(client, phase, x, y, time.time() + window_s * 0.8)
            live.append({"shift": shift, **_live_metrics(url)})
    return live


def _phase(client: Client, phase: int, x: np.ndarray, y: np.ndarray, deadline: float) -> None:
    for start in range(0, len(x), ROWS_PER_REQUEST):
        if time.time() > deadline:
            break  # stays inside its window
        request_id = f"phase{phase}-{start}"
        client.infer(MODEL_NAME, {"input": x[start : start + ROWS_PER_REQUEST]}, [], "", request_id)
        client.feedback(MODEL_NAME, request_id, y[start : start + ROWS_PER_REQUEST].tolist())


def _live_metrics(url: str) -> dict[str, float]:
    """The model's live ROC AUC and its inputs' PSI, as /metrics says them now."""
    from prometheus_client.parser import text_string_to_metric_families

    with urllib.request.urlopen(f"http://{url}/metrics", timeout=10) as answer:
        text = answer.read().decode()
    wanted = {"modelport_live_roc_auc": "live_roc_auc", "modelport_drift_psi": "psi"}
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = sample.labels
            ours = labels.get("model") == MODEL_NAME and labels.get("tensor", "input") == "input"
            if sample.name in wanted and ours:
                found[wanted[sample.name]] = float(sample.value)
    return found
