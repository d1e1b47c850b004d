"""``modelport predict`` with every file type it reads, against a running server."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from modelport.datasets import load_digits_28x28
from tests.e2e.conftest import RunningServer

pytestmark = pytest.mark.e2e


def predict(server: RunningServer, path: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "modelport",
            "predict",
            "digits",
            "--url",
            server.url,
            "--input",
            str(path),
            *extra,
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_every_file_type(digits_server: RunningServer, tmp_path: Path) -> None:
    x, y = load_digits_28x28()
    np.save(tmp_path / "rows.npy", x[:3])
    (tmp_path / "one.json").write_text(json.dumps({"input": x[0].tolist()}))
    np.savetxt(tmp_path / "rows.csv", x[:2], delimiter=",")
    dark_on_light = Image.fromarray(((1 - x[1].reshape(28, 28)) * 255).astype(np.uint8))
    dark_on_light.resize((112, 112)).save(tmp_path / "digit.png")
    expected = {"rows.npy": y[:3], "one.json": y[:1], "rows.csv": y[:2], "digit.png": y[1:2]}
    for name, labels in expected.items():
        run = predict(digits_server, tmp_path / name)
        assert run.returncode == 0, run.stderr
        answer = json.loads(run.stdout)
        assert answer["class"] == labels.tolist(), name
        assert np.array(answer["outputs"]["probabilities"]).shape == (len(labels), 10)


def test_bad_files_get_a_clear_message(digits_server: RunningServer, tmp_path: Path) -> None:
    (tmp_path / "short.json").write_text("[1, 2, 3]")
    run = predict(digits_server, tmp_path / "short.json")
    assert run.returncode == 1
    assert "takes rows of [784]" in run.stderr and "Traceback" not in run.stderr
    run = predict(digits_server, tmp_path / "missing.npy")
    assert run.returncode == 1 and "No such file" in run.stderr
