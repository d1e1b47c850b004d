from __future__ import annotations

import base64

import numpy as np
import orjson

from modelport.protocol import tfserving
from modelport.types import InferOutput, InferResponse


def test_outputs_named_bytes_are_b64_and_undecodable_text_too() -> None:
    response = InferResponse(
        "m",
        "1",
        (
            InferOutput("image_bytes", "BYTES", np.array([b"abc"], dtype=object)),
            InferOutput("label", "BYTES", np.array([b"\xff"], dtype=object)),
        ),
    )
    body = orjson.loads(
        orjson.dumps(
            tfserving.encode_predict(response, row=False), option=orjson.OPT_SERIALIZE_NUMPY
        )
    )
    assert body == {
        "outputs": {
            "image_bytes": [{"b64": base64.b64encode(b"abc").decode()}],
            "label": [{"b64": base64.b64encode(b"\xff").decode()}],
        }
    }
