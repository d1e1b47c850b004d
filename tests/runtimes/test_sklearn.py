"""scikit-learn models from .skops files: the server answers what the estimator answers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx2
import numpy as np
import pytest

from modelport.runtimes import RuntimeOptions
from modelport.server import Server
from modelport.settings import Settings

skops_io = pytest.importorskip("skops.io", reason="the sklearn extra (skops) is not installed")
datasets = pytest.importorskip("sklearn.datasets")
ensemble = pytest.importorskip("sklearn.ensemble")
linear = pytest.importorskip("sklearn.linear_model")
preprocessing = pytest.importorskip("sklearn.preprocessing")


class Doubler:  # a custom type: skops must refuse to load it by default
    def __call__(self, x: np.ndarray) -> np.ndarray:
        return x * 2


def dump(model: object, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    skops_io.dump(model, path)
    return path


@pytest.fixture(scope="module")
def fitted() -> dict[str, object]:
    iris = datasets.load_iris()
    diabetes = datasets.load_diabetes()
    return {
        "forest": ensemble.RandomForestClassifier(n_estimators=20, random_state=0).fit(
            iris.data, iris.target
        ),
        "linear": linear.LinearRegression().fit(diabetes.data, diabetes.target),
        "x_iris": iris.data.astype(np.float32),
        "x_diabetes": diabetes.data.astype(np.float32),
    }


@pytest.fixture
async def client(tmp_path: Path, fitted: dict[str, object]) -> AsyncIterator[httpx2.AsyncClient]:
    dump(fitted["forest"], tmp_path / "forest" / "1" / "model.skops")
    dump(fitted["linear"], tmp_path / "linear" / "1" / "model.skops")
    server = Server(Settings(model_repositories=(str(tmp_path),)))
    await server.load_models()
    transport = httpx2.ASGITransport(app=server.build_app())
    async with httpx2.AsyncClient(transport=transport, base_url="http://modelport") as c:
        yield c
    await server.stop()


async def test_classifier_answers_as_the_estimator(
    client: httpx2.AsyncClient, fitted: dict[str, object]
) -> None:
    meta = (await client.get("/v2/models/forest")).json()
    assert meta["inputs"] == [{"name": "input", "datatype": "FP32", "shape": [-1, 4]}]
    assert [o["name"] for o in meta["outputs"]] == ["predict_proba", "predict"]
    x = fitted["x_iris"][::10]  # type: ignore[index]
    body = {
        "inputs": [
            {
                "name": "input",
                "datatype": "FP32",
                "shape": list(x.shape),
                "data": x.ravel().tolist(),
            }
        ]
    }
    outputs = {
        o["name"]: o
        for o in (await client.post("/v2/models/forest/infer", json=body)).json()["outputs"]
    }
    forest = fitted["forest"]
    assert outputs["predict"]["data"] == forest.predict(x).tolist()  # type: ignore[attr-defined]
    proba = np.array(outputs["predict_proba"]["data"], np.float32).reshape(-1, 3)
    assert np.array_equal(proba, forest.predict_proba(x).astype(np.float32))  # type: ignore[attr-defined]


async def test_regressor_and_bad_input(
    client: httpx2.AsyncClient, fitted: dict[str, object]
) -> None:
    x = fitted["x_diabetes"][:5]  # type: ignore[index]
    response = await client.post("/models/linear/predict", json={"input": x.tolist()})
    assert np.allclose(response.json()["output"], fitted["linear"].predict(x))  # type: ignore[attr-defined]
    nan = await client.post("/models/linear/predict", json={"input": [[None] * 10]})
    assert nan.status_code == 400


def test_pickles_and_untrusted_types_are_refused(tmp_path: Path) -> None:
    from modelport.runtimes.sklearn import SklearnRuntime

    (tmp_path / "model.joblib").write_bytes(b"\x80\x04 not even read")
    with pytest.raises(ValueError, match="runs code when loaded and is refused"):
        SklearnRuntime(tmp_path / "model.joblib", RuntimeOptions())
    custom = preprocessing.FunctionTransformer(func=Doubler()).fit(np.ones((2, 2)))
    path = dump(custom, tmp_path / "custom" / "model.skops")
    with pytest.raises(ValueError, match="needs types that are not trusted"):
        SklearnRuntime(path, RuntimeOptions())


def test_a_pickle_loads_only_when_allowed_and_its_digest_is_listed(
    tmp_path: Path, fitted: dict[str, object]
) -> None:
    import hashlib

    import joblib

    from modelport.runtimes.sklearn import SklearnRuntime

    path = tmp_path / "model.joblib"
    joblib.dump(fitted["forest"], path)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    with pytest.raises(ValueError, match="--allow-pickle"):
        SklearnRuntime(path, RuntimeOptions(trusted_sha256=(digest,)))
    with pytest.raises(ValueError, match=f"SHA-256 {digest} is not listed"):
        SklearnRuntime(path, RuntimeOptions(allow_pickle=True, trusted_sha256=("0" * 64,)))
    runtime = SklearnRuntime(path, RuntimeOptions(allow_pickle=True, trusted_sha256=(digest,)))
    x = fitted["x_iris"][:4]  # type: ignore[index]
    expected = fitted["forest"].predict_proba(x)  # type: ignore[attr-defined]
    assert np.allclose(runtime.infer({"input": x}, ["predict_proba"])["predict_proba"], expected)


async def test_the_allow_list_is_read_from_the_model_config(
    tmp_path: Path, fitted: dict[str, object]
) -> None:
    import hashlib

    import joblib

    path = tmp_path / "forest" / "1" / "model.joblib"
    path.parent.mkdir(parents=True)
    joblib.dump(fitted["forest"], path)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    (tmp_path / "forest" / "config.yaml").write_text(f"trusted_sha256: [{digest}]\n")
    for allow, ready in ((False, False), (True, True)):
        settings = Settings(model_repositories=(str(tmp_path),), allow_pickle=allow)
        server = Server(settings)
        await server.load_models()
        transport = httpx2.ASGITransport(app=server.build_app())
        async with httpx2.AsyncClient(transport=transport, base_url="http://m") as c:
            status = (await c.get("/v2/models/forest/ready")).status_code
        await server.stop()
        assert (status == 200) is ready
