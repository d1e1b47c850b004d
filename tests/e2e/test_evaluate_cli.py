"""``modelport evaluate`` against a running server: the report equals scikit-learn's figures."""

from __future__ import annotations

import datetime
import subprocess
import sys
from pathlib import Path

import orjson
import pytest
from sklearn.metrics import accuracy_score, f1_score

from modelport import evaluate
from modelport.client import Client
from modelport.datasets import load_dataset
from tests.e2e.conftest import RunningServer

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("protocol", ["rest", "grpc"])
def test_evaluate_digits(digits_server: RunningServer, tmp_path: Path, protocol: str) -> None:
    url = digits_server.grpc_url if protocol == "grpc" else digits_server.url
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "modelport",
            "evaluate",
            "digits",
            "--url",
            url,
            "--protocol",
            protocol,
            "--out",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    assert "accuracy" in run.stdout
    report = orjson.loads((tmp_path / "report.json").read_bytes())
    # it says what it describes: model, version, server, protocol, data set and time
    assert (report["model"], report["version"], report["dataset"]) == ("digits", "1", "digits")
    assert (report["server"], report["protocol"]) == (url, protocol)
    assert datetime.datetime.fromisoformat(report["evaluated_at"]).tzinfo is not None
    assert "digits version 1" in (tmp_path / "report.html").read_text()
    data = load_dataset("digits")
    with Client(digits_server.url) as client:
        outputs, _ = evaluate.run(client, "digits", data, batch_size=500)
    predicted = outputs.argmax(axis=1)
    assert report["accuracy"] == accuracy_score(data.y, predicted) >= 0.95
    assert report["macro"]["f1"] == f1_score(data.y, predicted, average="macro")
    assert report["samples"] == 1797
