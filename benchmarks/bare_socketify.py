"""The bare-ASGI limit's work behind socketify (uWebSockets, C++): ``/predict`` and ``/raw``.

Run: ``python benchmarks/bare_socketify.py MODEL.onnx PORT_FILE`` (socketify installed).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks import bare_asgi  # its session, from sys.argv[1]
from benchmarks.servers import free_port


async def infer(res: Any, req: Any) -> None:
    """``/predict`` and ``/raw``: ``bare_asgi.answer``'s work on the whole body."""
    path = req.get_url()
    body = await res.get_data()
    res.write_header("content-type", "application/json")
    res.end(bare_asgi.answer("POST", path, body.getvalue()))


def main(port_file: str) -> None:
    # imported after onnxruntime (bare_asgi): the other way round, importing onnxruntime
    # crashes the process (a segmentation fault; socketify 0.0.31, onnxruntime 1.32)
    from socketify import App  # type: ignore[import-untyped]

    port = free_port()
    app = App()
    app.post("/predict", infer)
    app.post("/raw", infer)
    app.get("/*", lambda res, req: res.end("ok"))
    app.listen(port, lambda config: Path(port_file).write_text(json.dumps({"http": port})))
    app.run()


if __name__ == "__main__":
    main(sys.argv[2])
