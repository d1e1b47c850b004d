from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from modelport.errors import InvalidInput
from modelport.tensor import (
    DATATYPES,
    array_from_buffer,
    array_from_list,
    array_to_bytes,
    checked_shape,
    datatype,
    datatype_of,
    datatype_of_onnx,
    element_count,
    pack_bytes,
    unpack_bytes,
)


def test_table_covers_every_v2_datatype() -> None:
    assert set(DATATYPES) == {
        "BOOL",
        "UINT8",
        "UINT16",
        "UINT32",
        "UINT64",
        "INT8",
        "INT16",
        "INT32",
        "INT64",
        "FP16",
        "FP32",
        "FP64",
        "BF16",
        "BYTES",
    }
    assert DATATYPES["FP16"].itemsize == 2 and DATATYPES["BF16"].itemsize == 2
    assert DATATYPES["BOOL"].itemsize == 1 and DATATYPES["BYTES"].itemsize == 0
    assert DATATYPES["FP32"].tf_name == "DT_FLOAT"
    assert DATATYPES["INT16"].contents_field == "int_contents"


def test_lookups() -> None:
    assert datatype_of(np.zeros(1, np.uint16)).name == "UINT16"
    assert datatype_of(np.array(["a"])).name == "BYTES"
    assert datatype_of_onnx("tensor(float)") is DATATYPES["FP32"]
    assert datatype_of_onnx("tensor(string)") is DATATYPES["BYTES"]
    assert datatype_of_onnx("seq(tensor(float))") is None
    with pytest.raises(InvalidInput, match="unsupported datatype 'FP33'"):
        datatype("FP33")


def test_element_count_uses_python_ints() -> None:
    # numpy's int64 product wraps this to 32; a Python product does not.
    assert int(np.prod(np.array([16, 2**60 + 2], dtype=np.int64))) == 32
    with pytest.raises(InvalidInput, match="elements; the maximum is"):
        element_count([16, 2**60 + 2], "x")


@pytest.mark.parametrize("shape", [[-1], [1.5], ["3"], [True], "12", [0] * 33])
def test_checked_shape_refuses(shape: object) -> None:
    with pytest.raises(InvalidInput):
        checked_shape(shape, "x")


def test_array_from_list_flat_and_nested() -> None:
    row = DATATYPES["INT32"]
    flat = array_from_list([1, 2, 3, 4], row, (2, 2), "x")
    nested = array_from_list([[1, 2], [3, 4]], row, (2, 2), "x")
    assert flat.dtype == np.int32 and np.array_equal(flat, nested)


def test_uint64_top_half_from_json() -> None:
    array = array_from_list([0, 2**64 - 1], DATATYPES["UINT64"], (2,), "x")
    assert array.tolist() == [0, 2**64 - 1]
    with pytest.raises(InvalidInput, match="out of range"):
        array_from_list([-1, 2**64 - 1], DATATYPES["UINT64"], (2,), "x")


def test_fp16_overflow_is_refused() -> None:
    with pytest.raises(InvalidInput, match="out of range for FP16"):
        array_from_list([1e6], DATATYPES["FP16"], (1,), "x")


@given(st.lists(st.binary(max_size=20), max_size=10))
def test_bytes_pack_round_trip(items: list[bytes]) -> None:
    array = np.array([*items, b""], dtype=object)[: len(items)]
    packed = pack_bytes(array)
    assert unpack_bytes(packed, (len(items),), "x").tolist() == items


def test_unpack_bytes_refuses_bad_prefixes() -> None:
    with pytest.raises(InvalidInput, match="ends after 0 of 1"):
        unpack_bytes(b"\x01\x00", (1,), "x")
    with pytest.raises(InvalidInput, match="bytes left over"):
        unpack_bytes(b"\x00\x00\x00\x00zz", (1,), "x")


@pytest.mark.parametrize("name", [n for n in DATATYPES if n != "BYTES"])
def test_buffer_round_trip_every_fixed_size_type(name: str) -> None:
    row = DATATYPES[name]
    array = np.arange(6).astype(row.numpy).reshape(2, 3)
    assert np.array_equal(array_from_buffer(array_to_bytes(array), row, (2, 3), "x"), array)


def test_buffer_size_must_match() -> None:
    with pytest.raises(InvalidInput, match="expected 8 bytes of FP32"):
        array_from_buffer(b"\0" * 7, DATATYPES["FP32"], (2,), "x")
