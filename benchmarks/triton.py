"""Triton Inference Server as a baseline in the same run: ``tritonserver`` 2.51 from the
nvidia-pytriton 0.7.0 wheel (the one Triton build on PyPI), CPU only.

That build ships Triton's Python backend and no ONNX backend, so each benchmark model is a
``model.py`` that runs the same ONNX file with onnxruntime (one thread), the way PyTriton
serves Python callables: Triton's own HTTP and gRPC frontends, its scheduler and dynamic
batcher, and a Python process for the model. The backend's stub needs numpy 1.x, so the
model imports numpy and onnxruntime from a directory of their own. The wheel and that
directory are fetched once with pip into ``benchmarks/.cache``; nothing of it is committed.
Linux x86_64, glibc 2.35 or newer.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import time
import urllib.request
import zipfile
from pathlib import Path

CACHE = Path(__file__).parent / ".cache"
WHEEL = "nvidia-pytriton==0.7.0"
ROOT = CACHE / "tritonserver"
SITE = CACHE / "triton-site"
MODEL_PACKAGES = ["numpy<2", "onnxruntime"]

MODEL_PY = """import sys

sys.path.insert(0, {site!r})

import numpy as np
import onnxruntime as ort
import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    def initialize(self, args):
        options = ort.SessionOptions()
        options.intra_op_num_threads = options.inter_op_num_threads = 1
        self.session = ort.InferenceSession({onnx!r}, options, providers=["CPUExecutionProvider"])

    def execute(self, requests):
        # Triton's dynamic batcher hands several requests at once: run them as one batch.
        parts = [pb_utils.get_input_tensor_by_name(r, "input").as_numpy() for r in requests]
        out = self.session.run(["probabilities"], {{"input": np.concatenate(parts)}})[0]
        responses, start = [], 0
        for part in parts:
            rows = np.ascontiguousarray(out[start : start + len(part)])
            responses.append(pb_utils.InferenceResponse([pb_utils.Tensor("probabilities", rows)]))
            start += len(part)
        return responses
"""

CONFIG = """name: "{name}"
backend: "python"
max_batch_size: {max_batch}
input [{{ name: "input" data_type: TYPE_FP32 dims: [784] }}]
output [{{ name: "probabilities" data_type: TYPE_FP32 dims: [10] }}]
instance_group [{{ kind: KIND_CPU count: 1 }}]
{batching}"""
BATCHING = "dynamic_batching {{ max_queue_delay_microseconds: {delay} }}\n"


def install() -> Path | None:
    """The extracted server (``bin/tritonserver``), fetched once; None where pip cannot."""
    server = ROOT / "pytriton" / "tritonserver" / "bin" / "tritonserver"
    if server.exists() and SITE.exists():
        return ROOT
    CACHE.mkdir(exist_ok=True)
    pip = [sys.executable, "-m", "pip"]
    fetch = [*pip, "download", "--no-deps", "-q", WHEEL, "-d", str(CACHE)]
    packages = [*pip, "install", "-q", "--target", str(SITE), *MODEL_PACKAGES]
    for command in (fetch, packages):
        if subprocess.run(command, capture_output=True).returncode != 0:
            return None
    with zipfile.ZipFile(next(CACHE.glob("nvidia_pytriton-0.7.0-*.whl"))) as wheel:
        members = [
            m
            for m in wheel.namelist()
            if m.startswith(("pytriton/tritonserver/", "nvidia_pytriton.libs/"))
        ]
        wheel.extractall(ROOT, members)
    base = ROOT / "pytriton" / "tritonserver"
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    stub = base / "python_backend_stubs" / version / "triton_python_backend_stub"
    shutil.copy(stub, base / "backends" / "python" / "triton_python_backend_stub")
    for binary in (server, base / "backends" / "python" / "triton_python_backend_stub"):
        binary.chmod(0o755)
    return ROOT


def repository(models: Path, target: Path, batched: dict[str, tuple[int, int]]) -> Path:
    """A Triton repository serving ``models/<name>/1/model.onnx`` for every benchmark model;
    ``batched`` names those with dynamic batching: name → (max batch, delay in µs)."""
    site = str(SITE.resolve())
    for onnx in sorted(models.glob("*/1/model.onnx")):
        name = onnx.parent.parent.name
        version = target / name / "1"
        version.mkdir(parents=True, exist_ok=True)
        (version / "model.py").write_text(MODEL_PY.format(site=site, onnx=str(onnx.resolve())))
        max_batch, delay = batched.get(name, (1024, 0))
        batching = BATCHING.format(delay=delay) if name in batched else ""
        config = CONFIG.format(name=name, max_batch=max_batch, batching=batching)
        (target / name / "config.pbtxt").write_text(config)
    return target


def start(
    root: Path, repo: Path, pin: list[str], ports: tuple[int, int, int]
) -> tuple[subprocess.Popen[bytes], int, int]:
    """Start tritonserver (pinned as ``pin`` says) on ``ports`` (HTTP, gRPC, metrics);
    returns it and its HTTP and gRPC ports."""
    http, grpc, metrics = ports
    base = root / "pytriton" / "tritonserver"
    libs = [str(root / "nvidia_pytriton.libs"), sysconfig.get_config_var("LIBDIR") or ""]
    env = {**os.environ, "LD_LIBRARY_PATH": ":".join(libs)}
    command = [
        *pin, str(base / "bin" / "tritonserver"), f"--model-repository={repo}",
        f"--backend-directory={base / 'backends'}", f"--http-port={http}",
        f"--grpc-port={grpc}", f"--metrics-port={metrics}", "--log-verbose=0",
    ]  # fmt: skip
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{http}/v2/health/ready", timeout=1)
            return process, http, grpc
        except OSError:
            time.sleep(0.5)
    process.kill()
    raise RuntimeError("tritonserver did not become ready")
