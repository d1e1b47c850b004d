"""What each framework runtime does beyond the shared suite: the formats it refuses, the
layouts it finds, and the outputs it derives from a booster's objective."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from modelport import runtimes
from modelport.runtimes import RuntimeOptions
from tests.runtimes import frameworks


def load(artifact: Path, **options: object) -> runtimes.Runtime:
    kind, path = runtimes.detect(artifact.parent, artifact.name)
    return runtimes.load(kind, path, RuntimeOptions(**options))  # type: ignore[arg-type]


def test_torchscript_without_a_declared_signature_is_refused(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    frameworks.build_torchscript(tmp_path)
    with pytest.raises(ValueError, match="declare inputs and outputs in the model's config"):
        load(tmp_path / "1" / "model.pt")


def test_a_torch_program_refuses_a_config_with_the_wrong_number_of_outputs(
    tmp_path: Path,
) -> None:
    pytest.importorskip("torch")
    from modelport.tensor import TensorSpec

    frameworks.build_torch_export(tmp_path)
    two = (TensorSpec("a", "FP32", (-1, 3)), TensorSpec("b", "FP32", (-1, 3)))
    with pytest.raises(ValueError, match="declares 2 output"):
        load(tmp_path / "1" / "model.pt2", declared_outputs=two)


def test_keras_safe_mode_refuses_a_lambda_layer(tmp_path: Path) -> None:
    keras = pytest.importorskip("keras")
    net = keras.Sequential([keras.Input((4,)), keras.layers.Lambda(lambda x: x * 2)])
    net.save(tmp_path / "model.keras")
    with pytest.raises(ValueError, match=r"(?i)lambda"):
        load(tmp_path / "model.keras")


def test_legacy_h5_goes_through_the_pickle_gate(tmp_path: Path) -> None:
    keras = pytest.importorskip("keras")
    net = frameworks._keras_net()
    path = tmp_path / "model.h5"
    net.save(path)
    with pytest.raises(ValueError, match="--allow-pickle"):
        load(path)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    runtime = load(path, allow_pickle=True, trusted_sha256=(digest,))
    x = frameworks.iris()[0][:3]
    served = runtime.infer({"features": x}, ["probabilities"])["probabilities"]
    np.testing.assert_allclose(served, np.asarray(net(x)), rtol=1e-5)
    assert keras is not None


def test_a_tf_serving_layout_savedmodel_and_its_signatures(tmp_path: Path) -> None:
    pytest.importorskip("tensorflow")
    net = frameworks._keras_net()
    net.export(str(tmp_path / "1"), format="tf_saved_model", verbose=False)
    kind, artifact = runtimes.detect(tmp_path / "1")
    assert (kind, artifact.name) == ("tensorflow", "saved_model.pb")
    runtime = runtimes.load(kind, artifact, RuntimeOptions())
    assert [s.name for s in runtime.inputs] == ["features"]
    with pytest.raises(ValueError, match="no signature 'predict'; it has"):
        runtimes.load(kind, artifact, RuntimeOptions(parameters={"signature_name": "predict"}))


@pytest.mark.parametrize("framework", ["xgboost", "lightgbm"])
def test_boosters_answer_by_objective(tmp_path: Path, framework: str) -> None:
    module = pytest.importorskip(framework)
    from sklearn.datasets import load_breast_cancer, load_diabetes

    x_bin, y_bin = load_breast_cancer(return_X_y=True)
    x_reg, y_reg = load_diabetes(return_X_y=True)
    prefix, quiet = (
        ("XGB", {"verbosity": 0}) if framework == "xgboost" else ("LGBM", {"verbose": -1})
    )
    classifier = getattr(module, f"{prefix}Classifier")(n_estimators=5, **quiet)
    regressor = getattr(module, f"{prefix}Regressor")(n_estimators=5, **quiet)
    for name, model, x, y in (("bin", classifier, x_bin, y_bin), ("reg", regressor, x_reg, y_reg)):
        model.fit(x, y)
        path = tmp_path / name / ("model.json" if framework == "xgboost" else "model.txt")
        path.parent.mkdir()
        booster = model if framework == "xgboost" else model.booster_
        booster.save_model(path)
        runtime = load(path)
        rows = x[:20].astype(np.float32)
        names = [spec.name for spec in runtime.outputs]
        served = runtime.infer({"input": rows}, names)
        if name == "bin":
            assert names == ["predict_proba", "predict"]
            np.testing.assert_allclose(served["predict_proba"], model.predict_proba(rows), 1e-5)
            assert np.array_equal(served["predict"], model.predict(rows))
        else:
            assert names == ["predict"]
            np.testing.assert_allclose(served["predict"], model.predict(rows), rtol=1e-5)
