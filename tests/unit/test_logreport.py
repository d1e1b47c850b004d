"""`modelport evaluate MODEL --from-log SINK --window W`: per time window, the joined labels
are scored as scikit-learn scores them and the drift of that window's requests is measured
against the log's first rows (or a profile); JSONL and Parquet logs read the same."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from modelport import logfiles
from modelport.accesslog import utc_stamp
from modelport.cli import main
from modelport.drift import Profile

START = 1_790_000_000.0  # whole hours from here are windows of 1h
RNG = np.random.default_rng(5)


def _log(folder: Path, form: str) -> dict[int, tuple[list[int], list[int]]]:
    """Three hours of a two-class model's traffic: the first two like its reference, the
    third shifted (and the model wrong more often); every request labelled. Returns, per
    hour, (true, predicted) for scikit-learn to score."""
    records, truth = [], {}
    for hour in range(3):
        for i in range(40):
            x = RNG.normal(2.0 if hour == 2 else 0.0, 1.0, size=(10, 3))
            scores = RNG.random((10, 2))
            labels = [int(v) for v in RNG.integers(0, 2, 10)]
            if hour < 2:  # right most of the time while the data looks as it used to
                scores[np.arange(10), labels] += 1.0
            rid = f"h{hour}-{i}"
            at = START + hour * 3600 + i * 60
            records.append(_request(rid, at, x, scores))
            records.append({"time": utc_stamp(at + 5), "kind": "label", "model": "m",
                            "request_id": rid, "labels": labels})  # fmt: skip
            true, predicted = truth.setdefault(hour, ([], []))
            true.extend(labels)
            predicted.extend(int(v) for v in scores.argmax(axis=1))
    for pattern, content in logfiles.encode(records, form):
        (folder / pattern.format("20260101T000000Z-000001")).write_bytes(content)
    return truth


def _request(rid: str, at: float, x: np.ndarray, scores: np.ndarray) -> dict:
    tensor = {"datatype": "FP64", "shape": list(x.shape), "data": x}
    output = {"datatype": "FP64", "shape": list(scores.shape), "data": scores}
    return {"time": utc_stamp(at), "kind": "request", "request_id": rid, "model": "m",
            "version": "1", "inputs": {"x": tensor}, "outputs": {"p": output}}  # fmt: skip


@pytest.mark.parametrize("form", logfiles.FORMATS)
def test_windows_score_like_sklearn_and_show_the_shift(tmp_path: Path, form: str) -> None:
    from sklearn.metrics import accuracy_score

    sink, out = tmp_path / "sink", tmp_path / "out"
    sink.mkdir()
    truth = _log(sink, form)
    argv = ["evaluate", "m", "--from-log", str(sink), "--out", str(out), "--window", "1h"]
    assert main([*argv, "--reference-rows", "400"]) == 0
    report = json.loads((out / "report.json").read_text())
    windows = report["windows"]
    assert [w["requests"] for w in windows] == [40, 40]  # hour 0 was the reference
    assert windows[0]["accuracy"] == pytest.approx(accuracy_score(*truth[1]))
    assert windows[1]["accuracy"] == pytest.approx(accuracy_score(*truth[2]))
    assert windows[1]["accuracy"] < windows[0]["accuracy"]
    assert windows[0]["drift"]["x"]["psi"] < 0.25 < windows[1]["drift"]["x"]["psi"]
    assert "roc_auc" in windows[1]
    assert report["drift"]["x"]["worst"][0]["psi"] == report["drift"]["x"]["psi"]
    assert (out / "windows.png").stat().st_size > 10_000


def test_a_profile_is_the_reference_when_given(tmp_path: Path) -> None:
    sink, out = tmp_path / "sink", tmp_path / "out"
    sink.mkdir()
    _log(sink, "jsonl")
    profile = tmp_path / "profile.json"
    Profile.of({"x": RNG.normal(size=(2000, 3))}).save(profile)
    argv = ["evaluate", "m", "--from-log", str(sink), "--out", str(out), "--window", "60m"]
    assert main([*argv, "--profile", str(profile)]) == 0
    report = json.loads((out / "report.json").read_text())
    assert [w["requests"] for w in report["windows"]] == [40, 40, 40]
    assert set(report["drift"]) == {"x"}  # the profile holds no output: none compared
    assert report["windows"][0]["drift"]["x"]["psi"] < 0.25


@pytest.mark.parametrize("window", ["0", "-5m", "soon", "1y"])
def test_a_bad_window_is_refused(window: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["evaluate", "m", "--from-log", ".", f"--window={window}"])
    assert "duration" in capsys.readouterr().err
