"""One small model per runtime, written in the framework's own format, with the framework's
own answer beside it: what the conformance suite serves and compares against.

Every model takes 4 FP32 features per row (iris) so one set of requests fits them all. A builder
imports its framework; a missing framework raises ImportError and the case is skipped.
"""

from __future__ import annotations

import os
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's start-up chatter

Answer = Callable[[np.ndarray], dict[str, np.ndarray]]


@dataclass(frozen=True)
class Case:
    name: str
    framework: str  # the module that must import, else the case skips
    build: Callable[[Path], Answer]  # writes <model_dir>/1/<artifact> (+ config); returns answer
    input_name: str
    output_names: tuple[str, ...]


def iris() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_iris

    x, y = load_iris(return_X_y=True)
    return x.astype(np.float32), y


def _version(model_dir: Path) -> Path:
    path = model_dir / "1"
    path.mkdir(parents=True, exist_ok=True)
    return path


def build_onnx(model_dir: Path) -> Answer:
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    w, b = rng.normal(size=(4, 3)).astype(np.float32), rng.normal(size=3).astype(np.float32)
    graph = helper.make_graph(
        [
            helper.make_node("Gemm", ["input", "w", "b"], ["logits"]),
            helper.make_node("Softmax", ["logits"], ["probabilities"], axis=-1),
        ],
        "conformance",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 4])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["batch", 3])],
        [numpy_helper.from_array(w, "w"), numpy_helper.from_array(b, "b")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, _version(model_dir) / "model.onnx")

    def answer(x: np.ndarray) -> dict[str, np.ndarray]:
        logits = x @ w + b
        e = np.exp(logits - logits.max(axis=1, keepdims=True))
        return {"probabilities": e / e.sum(axis=1, keepdims=True)}

    return answer


def build_python(model_dir: Path) -> Answer:
    (_version(model_dir) / "model.py").write_text(
        textwrap.dedent(
            """
            import numpy as np

            class Model:
                inputs = [{"name": "features", "datatype": "FP32", "shape": [-1, 4]}]
                outputs = [{"name": "total", "datatype": "FP32", "shape": [-1]}]

                def infer(self, inputs):
                    return {"total": inputs["features"].sum(axis=1)}
            """
        )
    )
    return lambda x: {"total": x.sum(axis=1)}


def build_sklearn(model_dir: Path) -> Answer:
    import skops.io
    from sklearn.linear_model import LogisticRegression

    x, y = iris()
    model = LogisticRegression(max_iter=500).fit(x, y)
    skops.io.dump(model, _version(model_dir) / "model.skops")
    return lambda rows: {"predict_proba": model.predict_proba(rows), "predict": model.predict(rows)}


def _torch_net() -> Any:
    import torch

    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3)).eval()


def _torch_answer(net: Any, name: str) -> Answer:
    import torch

    def answer(x: np.ndarray) -> dict[str, np.ndarray]:
        with torch.no_grad():
            return {name: net(torch.from_numpy(x)).numpy()}

    return answer


def build_torch_export(model_dir: Path) -> Answer:
    import torch

    net = _torch_net()
    batch = torch.export.Dim("batch")
    program = torch.export.export(net, (torch.zeros(2, 4),), dynamic_shapes=({0: batch},))
    torch.export.save(program, str(_version(model_dir) / "model.pt2"))
    return _torch_answer(net, "output__0")


def build_torchscript(model_dir: Path) -> Answer:
    import warnings

    import torch

    net = _torch_net()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.jit.save(
            torch.jit.trace(net, torch.zeros(2, 4)), str(_version(model_dir) / "model.pt")
        )
    (model_dir / "config.yaml").write_text(
        "inputs: [{name: INPUT__0, datatype: FP32, shape: [-1, 4]}]\n"
        "outputs: [{name: logits, datatype: FP32, shape: [-1, 3]}]\n"
    )
    return _torch_answer(net, "logits")


def _keras_net() -> Any:
    import keras

    keras.utils.set_random_seed(0)
    return keras.Sequential(
        [
            keras.Input((4,), name="features"),
            keras.layers.Dense(8, activation="relu"),
            keras.layers.Dense(3, activation="softmax", name="probabilities"),
        ]
    )


def build_keras(model_dir: Path) -> Answer:
    net = _keras_net()
    net.save(_version(model_dir) / "model.keras")
    return lambda x: {"probabilities": np.asarray(net(x, training=False))}


def build_savedmodel(model_dir: Path) -> Answer:
    net = _keras_net()
    net.export(
        str(_version(model_dir) / "model.savedmodel"), format="tf_saved_model", verbose=False
    )
    return lambda x: {"output_0": np.asarray(net(x, training=False))}


def build_xgboost(model_dir: Path) -> Answer:
    import xgboost

    x, y = iris()
    model = xgboost.XGBClassifier(n_estimators=10, max_depth=3).fit(x, y)
    model.save_model(_version(model_dir) / "model.json")
    return lambda rows: {"predict_proba": model.predict_proba(rows), "predict": model.predict(rows)}


def build_lightgbm(model_dir: Path) -> Answer:
    import lightgbm

    x, y = iris()
    model = lightgbm.LGBMClassifier(n_estimators=10, verbose=-1).fit(x, y)
    model.booster_.save_model(_version(model_dir) / "model.txt")
    return lambda rows: {"predict_proba": model.predict_proba(rows), "predict": model.predict(rows)}


PROBA = ("predict_proba", "predict")
CASES = (
    Case("onnx", "onnxruntime", build_onnx, "input", ("probabilities",)),
    Case("python", "numpy", build_python, "features", ("total",)),
    Case("sklearn", "skops", build_sklearn, "input", PROBA),
    Case("torch_export", "torch", build_torch_export, "input", ("output__0",)),
    Case("torchscript", "torch", build_torchscript, "INPUT__0", ("logits",)),
    Case("keras", "keras", build_keras, "features", ("probabilities",)),
    Case("savedmodel", "tensorflow", build_savedmodel, "features", ("output_0",)),
    Case("xgboost", "xgboost", build_xgboost, "input", PROBA),
    Case("lightgbm", "lightgbm", build_lightgbm, "input", PROBA),
)
