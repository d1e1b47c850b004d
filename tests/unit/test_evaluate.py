"""Evaluation numbers equal scikit-learn's on the same predictions; reports are written."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import orjson
import pytest
from sklearn import metrics

from modelport import evaluate
from modelport.datasets import Dataset, load_dataset

RNG = np.random.default_rng(3)


def test_multiclass_scores_match_sklearn() -> None:
    y = RNG.integers(0, 4, 200)
    scores = RNG.random((200, 4)).astype(np.float32)
    scores[np.arange(150), y[:150]] += 1  # mostly right
    report = evaluate.score(Dataset("t", np.zeros((200, 1)), y, "classification"), scores, [0.01])
    predicted = scores.argmax(axis=1)
    assert report["accuracy"] == metrics.accuracy_score(y, predicted)
    p, r, f, _ = metrics.precision_recall_fscore_support(y, predicted, average="macro")
    assert (report["macro"]["precision"], report["macro"]["recall"], report["macro"]["f1"]) == (
        p,
        r,
        f,
    )
    f_weighted = metrics.f1_score(y, predicted, average="weighted")
    assert report["weighted"]["f1"] == f_weighted
    assert report["confusion_matrix"] == metrics.confusion_matrix(y, predicted).tolist()
    assert "roc_auc" not in report


def test_binary_has_roc_auc() -> None:
    y = RNG.integers(0, 2, 100)
    positive = np.clip(y * 0.6 + RNG.random(100) * 0.5, 0, 1)
    scores = np.stack([1 - positive, positive], axis=1)
    report = evaluate.score(Dataset("b", np.zeros((100, 1)), y, "classification"), scores, [0.01])
    assert report["roc_auc"] == metrics.roc_auc_score(y, positive)


def test_regression_scores_match_sklearn() -> None:
    y = RNG.random(50) * 10
    predicted = y + RNG.normal(0, 1, 50)
    report = evaluate.score(
        Dataset("r", np.zeros((50, 1)), y, "regression"), predicted[:, None], [0.02, 0.04]
    )
    assert report["mse"] == metrics.mean_squared_error(y, predicted)
    assert report["mae"] == metrics.mean_absolute_error(y, predicted)
    assert report["r2"] == metrics.r2_score(y, predicted)
    assert report["latency_ms"]["p50"] == pytest.approx(30.0)
    assert report["throughput_samples_per_s"] == pytest.approx(50 / 0.06)


def test_datasets_from_packages_and_files(tmp_path: Path) -> None:
    assert load_dataset("digits").x.shape == (1797, 784)
    assert load_dataset("iris").task == "classification"
    assert load_dataset("diabetes").task == "regression"
    csv = tmp_path / "data.csv"
    csv.write_text("a,b,label\n1,2,0\n3,4,1\n5,6,1\n")
    table = load_dataset(str(csv))
    assert table.x.tolist() == [[1, 2], [3, 4], [5, 6]] and table.y.tolist() == [0, 1, 1]
    npz = tmp_path / "data.npz"
    np.savez(npz, x=np.ones((3, 2)), y=np.array([0.5, 1.5, 2.25]))
    assert load_dataset(str(npz)).task == "regression"
    with pytest.raises(ValueError, match="unknown data set"):
        load_dataset(str(tmp_path / "data.parquet"))


def test_reports_are_written(tmp_path: Path) -> None:
    y = np.array([0, 1, 1, 0])
    scores = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.7, 0.3]])
    report = evaluate.score(Dataset("w", np.zeros((4, 1)), y, "classification"), scores, [0.01])
    paths = evaluate.write_report(report, tmp_path, y, scores)
    assert orjson.loads((tmp_path / "report.json").read_bytes())["accuracy"] == 0.75
    assert (tmp_path / "report.png").read_bytes().startswith(b"\x89PNG")
    assert "Evaluation: w" in (tmp_path / "report.html").read_text()
    assert len(paths) == 3


def test_the_plot_names_the_classes_and_the_model() -> None:
    from matplotlib import pyplot as plt

    y = np.array([0, 0, 1, 1])
    scores = np.array([[0.9, 0.1], [0.4, 0.6], [0.2, 0.8], [0.7, 0.3]])
    data = Dataset("fraud", np.zeros((4, 1)), y, "classification", ("legitimate", "fraud"))
    report = {"model": "fraud", "version": "3"} | evaluate.score(data, scores, [0.01])
    assert report["class_names"] == {"0": "legitimate", "1": "fraud"}
    figure = evaluate.plot(report, y, scores)
    axes = figure.axes[0]
    assert [t.get_text() for t in axes.get_xticklabels()] == ["legitimate", "fraud"]
    assert axes.get_title() == "fraud version 3 on fraud"
    plt.close(figure)


def test_datasets_with_named_classes() -> None:
    assert load_dataset("fraud").class_names == ("legitimate", "fraud")
    assert load_dataset("iris").class_names == ("setosa", "versicolor", "virginica")
    assert load_dataset("diabetes").class_names == ()
