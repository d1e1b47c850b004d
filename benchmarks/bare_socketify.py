"""The bare-ASGI limit's work behind socketify (uWebSockets, C++): ``/predict`` and ``/raw``.

Run: ``python benchmarks/bare_socketify.py MODEL.onnx PORT_FILE`` (socketify installed).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks import bare_asgi  # its session, from sys.argv[1]
from benchmarks.granian_embed import free_port


def answer(res: Any, x: np.ndarray) -> None:
    y = bare_asgi.session.run(None, {"input": x})[0]
    res.write_header("content-type", "application/json")
    res.end(orjson.dumps({"output": y}, option=bare_asgi.NUMPY))


async def predict(res: Any, req: Any) -> None:
    body = await res.get_data()
    answer(res, np.asarray(orjson.loads(body.getvalue())["input"], np.float32))


async def raw(res: Any, req: Any) -> None:
    body = await res.get_data()
    answer(res, np.frombuffer(body.getvalue(), np.float32).reshape(1, 784))


def main(port_file: str) -> None:
    # imported after onnxruntime (bare_asgi): the other way round, importing onnxruntime
    # crashes the process (a segmentation fault; socketify 0.0.31, onnxruntime 1.32)
    from socketify import App  # type: ignore[import-untyped]

    port = free_port()
    app = App()
    app.post("/predict", predict)
    app.post("/raw", raw)
    app.get("/*", lambda res, req: res.end("ok"))
    app.listen(port, lambda config: Path(port_file).write_text(json.dumps({"http": port})))
    app.run()


if __name__ == "__main__":
    main(sys.argv[2])
