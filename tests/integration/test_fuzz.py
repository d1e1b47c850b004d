"""Structured fuzz (RELIABILITY A15): random V2 requests never get a 5xx, and serving goes on."""

from __future__ import annotations

import json
from typing import Any

import httpx2
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from modelport.tensor import DATATYPES

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=5),
)
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4), max_leaves=24)
shapes = st.one_of(
    st.lists(st.integers(min_value=-3, max_value=2**62), max_size=4),
    st.lists(st.integers(min_value=0, max_value=4), max_size=4),
    values,
)
parameters = st.one_of(
    st.none(),
    st.dictionaries(
        st.sampled_from(["binary_data_size", "binary_data", "classification", "x"]),
        scalars | st.lists(scalars, max_size=2),
        max_size=3,
    ),
)
tensors = st.fixed_dictionaries(
    {},
    optional={
        "name": st.sampled_from(["a", "b", "input", "", "zz"]) | st.integers(),
        "datatype": st.sampled_from([*DATATYPES, "FP33", ""]) | st.integers(),
        "shape": shapes,
        "data": values,
        "parameters": parameters,
    },
)
requests = st.fixed_dictionaries(
    {"inputs": st.lists(tensors, max_size=3) | values},
    optional={
        "id": scalars,
        "outputs": st.lists(
            st.fixed_dictionaries(
                {"name": st.sampled_from(["sum", "diff", "q"])}, optional={"parameters": parameters}
            ),
            max_size=3,
        )
        | scalars,
        "parameters": parameters,
    },
)
SUPPRESSED = [HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
MODELS = ["add_sub", "identity_int8", "identity_bytes", "identity_fp16", "identity_bool", "nope"]


# The client is stateless between requests, so sharing it across examples is safe.
@settings(max_examples=400, deadline=None, suppress_health_check=SUPPRESSED)
@given(body=requests, model=st.sampled_from(MODELS), tail=st.binary(max_size=24))
async def test_random_v2_requests_never_5xx(
    client: httpx2.AsyncClient, body: dict[str, Any], model: str, tail: bytes
) -> None:
    head = json.dumps(body).encode()  # stdlib: it writes integers beyond 64 bits
    for content, headers in (
        (head, {}),
        (head + tail, {"Inference-Header-Content-Length": str(len(head))}),
    ):
        response = await client.post(f"/v2/models/{model}/infer", content=content, headers=headers)
        assert response.status_code < 500, (body, response.text)
        assert "error" in response.json() or response.status_code == 200


# The client is stateless between requests, so sharing it across examples is safe.
@settings(max_examples=200, deadline=None, suppress_health_check=SUPPRESSED)
@given(
    body=st.dictionaries(
        st.sampled_from(["input", "inputs"]),
        values | st.dictionaries(st.sampled_from(["a", "b", "c"]), values),
    )
)
async def test_random_predict_requests_never_5xx(
    client: httpx2.AsyncClient, body: dict[str, Any]
) -> None:
    response = await client.post("/models/add_sub/predict", content=json.dumps(body))
    assert response.status_code < 500, (body, response.text)
