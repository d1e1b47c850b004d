"""``modelport convert SRC --to onnx``: convert a served model to ONNX and prove it answers the
same, or refuse.

The source is loaded with the runtime that would serve it, the framework's converter writes
ONNX (``converters.py``), and both run on the same sample inputs (``--sample`` rows, or
generated ones). Every output is compared: max absolute and relative error for scores, exact
equality for labels. Above tolerance nothing is written; within it the model and the report
(``conversion.json``) are published together as a new version directory.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import orjson

from modelport import runtimes
from modelport.config import ModelConfig, load_model_config
from modelport.conversion.converters import conform, converter_for, rename
from modelport.repository.staging import new_version
from modelport.runtimes import RuntimeOptions
from modelport.tensor import TensorSpec, datatype

Arrays = Mapping[str, np.ndarray]


@dataclass
class Report:
    source: str
    runtime: str
    samples: int
    atol: float
    rtol: float
    outputs: dict[str, dict[str, float]] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        return not self.failures

    def as_json(self) -> bytes:
        body = {**vars(self), "passed": self.passed}
        return orjson.dumps(body, option=orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY)


class ParityError(Exception):
    """The converted model does not answer like the source; nothing was written."""

    def __init__(self, report: Report) -> None:
        super().__init__("; ".join(report.failures))
        self.report = report


def convert(
    source: Path,
    out: Path,
    sample: Arrays | None = None,
    atol: float = 1e-4,
    rtol: float = 1e-3,
    opset: int = 17,
) -> Report:
    """Convert ``source`` to ONNX, check parity, publish ``out`` (``REPO/model/N``)."""
    started = time.perf_counter()
    if not out.name.isdigit():
        raise ValueError(f"--out must be a version directory REPO/MODEL/N, got {out}")
    if out.exists():
        raise ValueError(f"{out} already exists; converting never overwrites a version")
    kind, artifact = runtimes.detect(source.parent, source.name)
    if not artifact.exists():
        raise FileNotFoundError(f"{artifact} does not exist")
    converter = converter_for(kind, artifact)
    config = _config_near(source)
    runtime = runtimes.load(kind, artifact, RuntimeOptions().for_model(config))
    feeds = dict(sample) if sample is not None else generated(runtime.inputs)
    expected = runtime.infer(feeds, [spec.name for spec in runtime.outputs])
    model = converter(artifact, runtime, runtime.inputs, opset)
    _name_tensors(model, runtime.inputs, runtime.outputs)
    conform(model, runtime.outputs)
    report = Report(str(source), kind, len(next(iter(feeds.values()))), atol, rtol)
    compare(expected, model, feeds, report)
    report.seconds = time.perf_counter() - started
    if not report.passed:
        raise ParityError(report)
    _publish(out, model, report)
    return report


def compare(expected: Arrays, model: onnx.ModelProto, feeds: Arrays, report: Report) -> None:
    """Run the converted model on ``feeds``; record each output's error against the source's
    answers (``expected``) and every output that fails."""
    names = list(expected)
    converted = _run_onnx(model, feeds, names, report)
    for name in names if not report.failures else []:
        _compare_one(name, np.asarray(expected[name]), np.asarray(converted[name]), report)


def generated(inputs: tuple[TensorSpec, ...], rows: int = 32, seed: int = 0) -> dict[str, Any]:
    """Sample inputs for each spec. Floats: half the rows in [0, 1) (pixels, probabilities),
    half spread over magnitudes up to 1,000 (amounts, counts), so tree models take many
    branches; integers: small ids. Real data (``--sample``) is better still."""
    rng = np.random.default_rng(seed)
    feeds: dict[str, Any] = {}
    for spec in inputs:
        shape = tuple(
            rows if i == 0 else (dim if dim > 0 else 4) for i, dim in enumerate(spec.shape)
        )
        dtype = datatype(spec.datatype).numpy
        feeds[spec.name] = (
            _floats(rng, shape) if dtype.kind == "f" else rng.integers(0, 10, shape)
        ).astype(dtype)
    return feeds


def _floats(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    values = rng.random(shape)
    half = shape[0] // 2
    values[half:] = rng.standard_normal(values[half:].shape) * 10.0 ** rng.integers(
        0, 4, values[half:].shape
    )
    return values


def _compare_one(name: str, expected: np.ndarray, got: np.ndarray, report: Report) -> None:
    if expected.shape != got.shape:
        report.failures.append(f"{name}: shape {got.shape}, expected {expected.shape}")
        return
    if expected.dtype.kind in "iub":
        mismatched = int(np.sum(expected != got.astype(expected.dtype)))
        report.outputs[name] = {"mismatched": mismatched}
        if mismatched:
            report.failures.append(f"{name}: {mismatched} of {expected.size} labels differ")
        return
    diff = np.abs(got.astype(np.float64) - expected)
    rel = diff / np.maximum(np.abs(expected), np.finfo(np.float32).tiny)
    report.outputs[name] = {"max_abs_error": float(diff.max()), "max_rel_error": float(rel.max())}
    if not np.allclose(got, expected, rtol=report.rtol, atol=report.atol):
        report.failures.append(
            f"{name}: max abs error {diff.max():.3g} beyond atol {report.atol}, rtol {report.rtol}"
        )


def _run_onnx(model: onnx.ModelProto, feeds: Arrays, names: list[str], report: Report) -> Arrays:
    from modelport.runtimes.onnx import OnnxRuntime

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.onnx"
        onnx.save(model, path)
        session = OnnxRuntime(path, RuntimeOptions())
        missing = sorted(set(names) - {spec.name for spec in session.outputs})
        if missing:
            report.failures.append(f"the converted model has no output(s) {missing}")
            return {}
        return session.infer(feeds, names)


def _name_tensors(
    model: onnx.ModelProto, inputs: tuple[TensorSpec, ...], outputs: tuple[TensorSpec, ...]
) -> None:
    """Tensors a converter named its own way (skl2onnx's ``X``, Keras' ``output_0``) get the
    source's names, in order, so the converted model answers the same requests."""
    initializers = {init.name for init in model.graph.initializer}
    found_in = [v.name for v in model.graph.input if v.name not in initializers]
    found_out = [v.name for v in model.graph.output]
    for found, specs in ((found_in, inputs), (found_out, outputs)):
        names = [spec.name for spec in specs]
        if len(found) == len(names) and set(found) != set(names):
            rename(model, dict(zip(found, names, strict=True)))


def next_version(source: Path) -> Path | None:
    """``REPO/model/<highest + 1>`` when the source sits in a repository, else None."""
    version_dir = source.parent
    if not version_dir.name.isdigit():
        return None
    versions = [int(p.name) for p in version_dir.parent.iterdir() if p.name.isdigit()]
    return version_dir.parent / str(max(versions) + 1)


def _config_near(source: Path) -> ModelConfig:
    """The model's config when the source sits in a repository (``model/N/file``)."""
    version_dir = source.parent
    return load_model_config(version_dir.parent) if version_dir.name.isdigit() else ModelConfig()


def _publish(out: Path, model: onnx.ModelProto, report: Report) -> None:
    with new_version(out.parent.parent, out.parent.name, int(out.name)) as version:
        onnx.save(model, version / "model.onnx")
        (version / "conversion.json").write_bytes(report.as_json())
