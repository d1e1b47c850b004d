"""Drive a server with NVIDIA's unmodified tritonclient.grpc: sync, asyncio and streaming.

Run in its own process (tritonclient's protobuf descriptors clash with modelport's in one
process): ``python tests/e2e/tritonclient_grpc_check.py HOST:PORT``. Prints a JSON report.
"""

from __future__ import annotations

import asyncio
import json
import queue
import sys
from typing import Any

import numpy as np
import tritonclient.grpc as grpcclient
import tritonclient.grpc.aio as aioclient
from tritonclient.utils import InferenceServerException

from modelport.datasets import load_digits_28x28


def request(module: Any, x: np.ndarray) -> tuple[list[Any], list[Any]]:
    tensor = module.InferInput("input", list(x.shape), "FP32")
    tensor.set_data_from_numpy(x)
    return [tensor], [module.InferRequestedOutput("probabilities")]


def sync_checks(url: str, x: np.ndarray, y: np.ndarray) -> dict[str, Any]:
    client = grpcclient.InferenceServerClient(url)
    inputs, outputs = request(grpcclient, x)
    result = client.infer("digits", inputs, outputs=outputs, request_id="s1")
    try:
        client.infer("digits", request(grpcclient, x[:, :700])[0])
        error = None
    except InferenceServerException as exc:
        error = {"status": exc.status(), "message": exc.message()}
    return {
        "live": client.is_server_live(),
        "ready": client.is_model_ready("digits"),
        "metadata_inputs": client.get_model_metadata("digits", as_json=True)["inputs"],
        "config_max_batch": client.get_model_config("digits", as_json=True)["config"].get(
            "max_batch_size"
        ),
        "sync_accuracy": float(np.mean(result.as_numpy("probabilities").argmax(1) == y)),
        "sync_id": result.get_response().id,
        "bad_shape": error,
        "stats_count": int(
            client.get_inference_statistics("digits", as_json=True)["model_stats"][0][
                "inference_stats"
            ]["success"]["count"]
        ),
        "index": [m["name"] for m in client.get_model_repository_index(as_json=True)["models"]],
    }


async def aio_checks(url: str, x: np.ndarray, y: np.ndarray) -> dict[str, Any]:
    async with aioclient.InferenceServerClient(url) as client:
        inputs, outputs = request(aioclient, x)
        results = await asyncio.gather(
            *(client.infer("digits", inputs, outputs=outputs) for _ in range(8))
        )
    accuracy = [float(np.mean(r.as_numpy("probabilities").argmax(1) == y)) for r in results]
    return {"aio_accuracy": min(accuracy), "aio_answers": len(results)}


def stream_checks(url: str, x: np.ndarray, y: np.ndarray) -> dict[str, Any]:
    client = grpcclient.InferenceServerClient(url)
    answers: queue.Queue[Any] = queue.Queue()
    client.start_stream(callback=lambda result, error: answers.put((result, error)))
    for i in range(len(x)):
        inputs, outputs = request(grpcclient, x[i : i + 1])
        client.async_stream_infer("digits", inputs, outputs=outputs, request_id=str(i))
    got = [answers.get(timeout=30) for _ in range(len(x))]
    client.stop_stream()
    errors = [str(e) for _, e in got if e is not None]
    correct = sum(
        int(r.as_numpy("probabilities").argmax() == y[int(r.get_response().id)])
        for r, e in got
        if e is None
    )
    return {"stream_answers": len(got), "stream_errors": errors, "stream_correct": correct}


def main() -> None:
    url = sys.argv[1]
    x, y = load_digits_28x28()
    x, y = x[:32], y[:32]
    report = sync_checks(url, x, y)
    report |= asyncio.run(aio_checks(url, x, y))
    report |= stream_checks(url, x, y)
    print(json.dumps(report))


if __name__ == "__main__":
    main()
