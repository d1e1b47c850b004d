"""Regenerate the golden codec files: ``python -m tests.data.make_golden``.

Run it only when a wire format change is intended, and review the diff.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from modelport.protocol import v2_binary
from modelport.types import InferOutput, InferResponse

HERE = Path(__file__).parent


def golden_response() -> InferResponse:
    return InferResponse(
        model_name="add_sub",
        model_version="1",
        id="golden-1",
        outputs=(
            InferOutput("sum", "FP32", np.array([[1.5, 2.0, -3.25, 0.0]], np.float32)),
            InferOutput("diff", "INT64", np.array([[1, -2], [3, 2**40]], np.int64), binary=True),
            InferOutput("names", "BYTES", np.array([b"a", b"\xc3\xa9t\xc3\xa9"], object), True),
        ),
    )


def main() -> None:
    body, headers = v2_binary.encode_response(golden_response())
    (HERE / "v2_response_mixed.bin").write_bytes(body)
    (HERE / "v2_response_mixed.header").write_text(headers[v2_binary.HEADER] + "\n")


if __name__ == "__main__":
    main()
