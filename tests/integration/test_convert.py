"""``modelport convert``: each framework's model becomes ONNX that answers the same requests
(names included), with the parity report beside it; a conversion that changes the answers is
refused and writes nothing."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import onnx
import orjson
import pytest
from onnx import numpy_helper

from modelport import conversion, runtimes
from modelport.cli import main
from modelport.config import load_model_config
from modelport.conversion import converters
from modelport.repository import checksums
from modelport.runtimes import RuntimeOptions
from tests.runtimes import frameworks

pytestmark = pytest.mark.slow

SOURCES = {  # case in frameworks.py → the artifact it writes
    "sklearn": "model.skops",
    "xgboost": "model.json",
    "lightgbm": "model.txt",
    "torch_export": "model.pt2",
    "torchscript": "model.pt",
    "keras": "model.keras",
    "savedmodel": "model.savedmodel",
}
NEEDS = {"skl2onnx": ("sklearn",), "onnxmltools": ("xgboost", "lightgbm"), "tf2onnx": ("keras",)}


def _case(name: str) -> frameworks.Case:
    case = next(c for c in frameworks.CASES if c.name == name)
    missing = [m for m, users in NEEDS.items() if name in users or case.framework in users]
    for module in (case.framework, *missing):
        if importlib.util.find_spec(module) is None:
            pytest.skip(f"{module} is not installed")
    return case


@pytest.mark.parametrize("name", sorted(SOURCES))
def test_conversion_answers_like_the_source(tmp_path: Path, name: str) -> None:
    case = _case(name)
    answer = case.build(tmp_path / name)
    source = tmp_path / name / "1" / SOURCES[name]
    assert conversion.next_version(source) == tmp_path / name / "2"
    report = conversion.convert(source, tmp_path / name / "2")
    assert report.passed and report.samples == 32
    assert checksums.verify(tmp_path / name / "2", tmp_path, required=True)  # listed, matching
    saved = orjson.loads((tmp_path / name / "2" / "conversion.json").read_bytes())
    assert saved["passed"] and set(saved["outputs"]) == set(case.output_names)
    from modelport.runtimes.onnx import OnnxRuntime

    served = OnnxRuntime(tmp_path / name / "2" / "model.onnx", RuntimeOptions())
    kind, artifact = runtimes.detect(source.parent, source.name)
    config = load_model_config(source.parent.parent)
    original = runtimes.load(kind, artifact, RuntimeOptions().for_model(config))
    # the same signature: names, order, datatypes and shapes of every input and output
    assert (served.inputs, served.outputs) == (original.inputs, original.outputs)
    assert [s.name for s in served.inputs] == [case.input_name]
    x = frameworks.iris()[0][::10]
    got = served.infer({case.input_name: x}, list(case.output_names))
    for output, expected in answer(x).items():
        np.testing.assert_allclose(got[output], expected, rtol=1e-3, atol=1e-4)


def test_a_conversion_that_changes_the_answers_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _case("sklearn")
    frameworks.build_sklearn(tmp_path / "iris")
    real = converters.converter_for("sklearn", Path("model.skops"))

    def broken(*args: object) -> onnx.ModelProto:
        """The real conversion, then every probability scaled by 1.01: a subtle bug."""
        model = real(*args)  # type: ignore[arg-type]
        converters.rename(model, {"predict_proba": "unscaled"})
        model.graph.output[-1].name = "predict_proba"
        model.graph.initializer.append(numpy_helper.from_array(np.float32([1.01]), "k"))
        model.graph.node.append(onnx.helper.make_node("Mul", ["unscaled", "k"], ["predict_proba"]))
        return model

    monkeypatch.setattr(conversion, "converter_for", lambda kind, artifact: broken)
    with pytest.raises(conversion.ParityError) as caught:
        conversion.convert(tmp_path / "iris" / "1" / "model.skops", tmp_path / "iris" / "2")
    assert caught.value.report.failures
    assert not (tmp_path / "iris" / "2").exists()
    assert not any(p.name.startswith(".") for p in (tmp_path / "iris").iterdir())


def test_the_command_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _case("sklearn")
    frameworks.build_sklearn(tmp_path / "iris")
    source = str(tmp_path / "iris" / "1" / "model.skops")
    x = frameworks.iris()[0][:40]
    np.savez(tmp_path / "sample.npz", input=x)
    assert main(["convert", source, "--sample", str(tmp_path / "sample.npz")]) == 0
    out = capsys.readouterr().out
    assert "sklearn → ONNX, parity on 40 samples" in out and "predict_proba: max_abs_error" in out
    assert (tmp_path / "iris" / "2" / "model.onnx").exists()
    # never overwrites a version; a file outside a repository needs --out
    assert main(["convert", source, "--out", str(tmp_path / "iris" / "1")]) == 1
    assert "already exists" in capsys.readouterr().err
    loose = tmp_path / "model.skops"
    loose.write_bytes((tmp_path / "iris" / "1" / "model.skops").read_bytes())
    assert main(["convert", str(loose)]) == 2
    assert "give --out" in capsys.readouterr().err
    assert (
        main(["convert", str(tmp_path / "nothing.onnx"), "--out", str(tmp_path / "m" / "1")]) == 1
    )
