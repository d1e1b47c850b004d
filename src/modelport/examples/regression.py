"""The seed's worked example of training: linear regression fitted by gradient descent on the
squared-error loss, on scikit-learn's diabetes data (10 features → disease progression).

Training is plain numpy, so every step is visible: standardise the features, then repeat
``w -= lr * dL/dw`` with ``L = mean((x·w + b - y)²)``. The fitted line is written as a tiny
ONNX graph (standardise, MatMul, Add) to ``regression/1/model.onnx``.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from modelport.repository.staging import new_version, write_model_files

MODEL_NAME = "regression"


def build(
    repository: Path, seed: int = 0, steps: int = 2000, learning_rate: float = 0.05
) -> dict[str, Any]:
    from sklearn.datasets import load_diabetes
    from sklearn.model_selection import train_test_split

    x, y = load_diabetes(return_X_y=True)
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.2, random_state=seed)
    mean, std = x_train.mean(axis=0), x_train.std(axis=0)
    started = time.perf_counter()
    weights, bias, losses = gradient_descent((x_train - mean) / std, y_train, steps, learning_rate)
    seconds = time.perf_counter() - started
    model = to_onnx(mean, std, weights, bias)
    with new_version(repository, MODEL_NAME) as version:
        onnx.save(model, version / "model.onnx")
    write_model_files(repository / MODEL_NAME, "# Linear regression by gradient descent.\n")
    scores = _scores(y_test, ((x_test - mean) / std) @ weights + bias)
    scores["r2_closed_form"] = _closed_form_r2(x_train, y_train, x_test, y_test)
    return {
        "path": str(repository / MODEL_NAME),
        "scores": scores | {"final_training_mse": losses[-1]},
        "train_seconds": seconds,
        "test_samples": len(y_test),
    }


def gradient_descent(
    x: np.ndarray, y: np.ndarray, steps: int, learning_rate: float
) -> tuple[np.ndarray, float, list[float]]:
    """Minimise the mean squared error of ``x·w + b`` by full-batch gradient descent."""
    weights, bias, losses = np.zeros(x.shape[1]), float(y.mean()), []
    for _ in range(steps):
        error = x @ weights + bias - y
        losses.append(float(np.mean(error**2)))
        weights -= learning_rate * 2 * x.T @ error / len(y)
        bias -= learning_rate * 2 * float(error.mean())
    return weights, bias, losses


def to_onnx(mean: np.ndarray, std: np.ndarray, weights: np.ndarray, bias: float) -> onnx.ModelProto:
    named = {"mean": mean, "std": std, "w": weights, "b": np.array([bias])}
    init = [numpy_helper.from_array(np.asarray(v, np.float32), k) for k, v in named.items()]
    nodes = [
        helper.make_node("Sub", ["input", "mean"], ["centred"]),
        helper.make_node("Div", ["centred", "std"], ["scaled"]),
        helper.make_node("MatMul", ["scaled", "w"], ["dot"]),
        helper.make_node("Add", ["dot", "b"], ["predict"]),
    ]
    graph = helper.make_graph(
        nodes,
        "linear_regression",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", len(weights)])],
        [helper.make_tensor_value_info("predict", TensorProto.FLOAT, ["batch"])],
        init,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def _closed_form_r2(
    x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, y_test: np.ndarray
) -> float:
    """scikit-learn's least-squares solution, to show gradient descent reached it."""
    from sklearn.linear_model import LinearRegression

    return float(LinearRegression().fit(x_train, y_train).score(x_test, y_test))


def _scores(y: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    from sklearn import metrics

    return {
        "r2": float(metrics.r2_score(y, predicted)),
        "mse": float(metrics.mean_squared_error(y, predicted)),
        "mae": float(metrics.mean_absolute_error(y, predicted)),
    }
