"""The one table of datatypes, tensor specs and the helpers every codec shares.

Every fact about a datatype (V2 name, numpy dtype, item size, TensorFlow name, the
protobuf contents field) lives in :data:`DATATYPES`. Codecs look things up here and
nowhere else.
"""

from __future__ import annotations

import struct
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import ml_dtypes
import numpy as np

from modelport.errors import InvalidInput, shown

MAX_ELEMENTS = 2**32
"""No tensor may claim more elements than this, whatever its byte size."""

MAX_RANK = 32


@dataclass(frozen=True, slots=True)
class DataType:
    name: str
    numpy: np.dtype[Any]
    itemsize: int  # 0 for variable-size BYTES
    tf_name: str
    contents_field: str | None  # InferTensorContents field; None where only raw bytes travel
    onnx_name: str  # element type in onnxruntime's "tensor(<name>)" strings
    json_kinds: str  # numpy kinds accepted from a JSON list without a lossy cast


def _row(name: str, dtype: Any, tf: str, field: str | None, onnx: str, kinds: str) -> DataType:
    np_dtype = np.dtype(dtype)
    size = 0 if np_dtype == np.dtype(object) else np_dtype.itemsize
    return DataType(name, np_dtype, size, tf, field, onnx, kinds)


_INTS = "iu"
_LITTLE_ENDIAN = sys.byteorder == "little"
_NUMBERS = "fiu"

DATATYPES: dict[str, DataType] = {
    row.name: row
    for row in (
        _row("BOOL", np.bool_, "DT_BOOL", "bool_contents", "bool", "b"),
        _row("UINT8", np.uint8, "DT_UINT8", "uint_contents", "uint8", _INTS),
        _row("UINT16", np.uint16, "DT_UINT16", "uint_contents", "uint16", _INTS),
        _row("UINT32", np.uint32, "DT_UINT32", "uint_contents", "uint32", _INTS),
        _row("UINT64", np.uint64, "DT_UINT64", "uint64_contents", "uint64", _INTS),
        _row("INT8", np.int8, "DT_INT8", "int_contents", "int8", _INTS),
        _row("INT16", np.int16, "DT_INT16", "int_contents", "int16", _INTS),
        _row("INT32", np.int32, "DT_INT32", "int_contents", "int32", _INTS),
        _row("INT64", np.int64, "DT_INT64", "int64_contents", "int64", _INTS),
        _row("FP16", np.float16, "DT_HALF", None, "float16", _NUMBERS),
        _row("FP32", np.float32, "DT_FLOAT", "fp32_contents", "float", _NUMBERS),
        _row("FP64", np.float64, "DT_DOUBLE", "fp64_contents", "double", _NUMBERS),
        _row("BF16", ml_dtypes.bfloat16, "DT_BFLOAT16", None, "bfloat16", _NUMBERS),
        _row("BYTES", object, "DT_STRING", "bytes_contents", "string", "OUS"),
    )
}

_BY_NUMPY: dict[np.dtype[Any], DataType] = {row.numpy: row for row in DATATYPES.values()}
_BY_ONNX: dict[str, DataType] = {f"tensor({row.onnx_name})": row for row in DATATYPES.values()}


def datatype(name: str) -> DataType:
    """The row for a V2 datatype name; a clear error for anything else."""
    row = DATATYPES.get(name) if isinstance(name, str) else None
    if row is None:
        raise InvalidInput(
            f"unsupported datatype {shown(name)}; expected one of {', '.join(DATATYPES)}"
        )
    return row


def datatype_of(array: np.ndarray[Any, Any]) -> DataType:
    """The row for a numpy array's dtype (strings and bytes map to BYTES)."""
    if array.dtype.kind in "OSU":
        return DATATYPES["BYTES"]
    row = _BY_NUMPY.get(array.dtype)
    if row is None:
        raise InvalidInput(f"numpy dtype {array.dtype} has no V2 datatype")
    return row


def datatype_of_onnx(type_string: str) -> DataType | None:
    """The row for an onnxruntime type string such as ``tensor(float)``; None if it has none."""
    return _BY_ONNX.get(type_string)


@dataclass(frozen=True, slots=True)
class TensorSpec:
    """A model's declared input or output: -1 marks a variable dimension."""

    name: str
    datatype: str
    shape: tuple[int, ...]


def checked_shape(shape: object, what: str) -> tuple[int, ...]:
    """Validate a shape from the wire: a list of non-negative ints, exact in Python ints."""
    if not isinstance(shape, list | tuple):
        raise InvalidInput(f"{what}: shape must be a list of integers, got {type(shape).__name__}")
    if len(shape) > MAX_RANK:
        raise InvalidInput(f"{what}: shape has {len(shape)} dimensions; the maximum is {MAX_RANK}")
    for dim in shape:
        if type(dim) is not int:
            raise InvalidInput(f"{what}: shape dimensions must be integers, got {shown(dim)}")
        if dim < 0:
            raise InvalidInput(f"{what}: shape dimensions must be non-negative, got {dim}")
    element_count(shape, what)
    return tuple(shape)


def element_count(shape: Sequence[int], what: str) -> int:
    """Product of dims in Python ints (numpy's int64 product wraps), capped."""
    count = 1
    for dim in shape:
        count *= dim
    if count > MAX_ELEMENTS:
        raise InvalidInput(
            f"{what}: shape {list(shape)} has {count} elements; the maximum is {MAX_ELEMENTS}"
        )
    return count


def array_from_list(values: Any, row: DataType, shape: tuple[int, ...], what: str) -> np.ndarray:
    """A JSON list (flat or nested, row-major) as an array of ``row``'s dtype and ``shape``."""
    array = _bytes_array(values, what) if row.name == "BYTES" else _numeric_array(values, row, what)
    expected = element_count(shape, what)
    if array.size != expected:
        raise InvalidInput(
            f"{what}: expected {expected} elements for shape {list(shape)}, got {array.size}"
        )
    return array.reshape(shape)


def array_from_nested(values: Any, row: DataType, what: str) -> np.ndarray:
    """A nested JSON list as an array whose shape is its nesting."""
    if row.name != "BYTES":
        array = _numeric_array(values, row, what)
    else:
        try:
            shaped = np.array(values, dtype=object)
        except ValueError as exc:
            raise InvalidInput(f"{what}: data is ragged or malformed: {exc}") from exc
        array = _bytes_array(shaped.reshape(-1).tolist(), what).reshape(shaped.shape)
    element_count(array.shape, what)
    return array


def _numeric_array(values: Any, row: DataType, what: str) -> np.ndarray:
    try:
        raw = np.asarray(values)
    except (ValueError, TypeError) as exc:
        raise InvalidInput(f"{what}: data is ragged or malformed: {exc}") from exc
    if raw.size and raw.dtype.kind in "fO" and row.json_kinds == _INTS:
        raw = _big_integers(values, raw, what)
    if raw.size and raw.dtype.kind not in row.json_kinds:
        found = "booleans" if raw.dtype.kind == "b" else f"{raw.dtype.kind!r}-kind values"
        if raw.dtype.kind in "OUS":
            found = "non-numeric values"
        raise InvalidInput(f"{what}: expected {row.name} data, got {found}")
    if raw.size and row.numpy.kind in _INTS and raw.dtype != row.numpy:
        _check_range(raw, row, what)
    try:
        with np.errstate(over="raise", invalid="raise"):
            return raw.astype(row.numpy, copy=False)
    except (OverflowError, FloatingPointError, ValueError) as exc:
        raise InvalidInput(f"{what}: value out of range for {row.name}: {exc}") from exc


def _check_range(raw: np.ndarray, row: DataType, what: str) -> None:
    """numpy's integer casts wrap silently (300 → 44 as INT8); refuse instead."""
    info = np.iinfo(row.numpy)
    low, high = int(raw.min()), int(raw.max())
    if low < info.min or high > info.max:
        bad = low if low < info.min else high
        raise InvalidInput(f"{what}: value {bad} out of range for {row.name}")


def _big_integers(values: Any, raw: np.ndarray, what: str) -> np.ndarray:
    """Integers beyond int64 (UINT64's top half) make numpy infer float or object; keep them."""
    items = np.asarray(values, dtype=object).reshape(-1) if raw.dtype.kind == "f" else raw.flat
    if not all(type(item) is int for item in items):
        return raw
    try:
        return np.asarray(values, dtype=np.uint64)
    except (OverflowError, ValueError) as exc:
        raise InvalidInput(f"{what}: integer out of range: {exc}") from exc


def _bytes_array(values: Any, what: str) -> np.ndarray:
    flat = _flatten(values, what)
    out = np.empty(len(flat), dtype=object)
    for i, item in enumerate(flat):
        if isinstance(item, str):
            out[i] = item.encode()
        elif isinstance(item, bytes):
            out[i] = item
        else:
            raise InvalidInput(f"{what}: BYTES elements must be strings, got {shown(item)}")
    return out


def _flatten(values: Any, what: str) -> list[Any]:
    """Row-major flattening of a nested list, without recursion."""
    if not isinstance(values, list):
        return [values]
    out: list[Any] = []
    stack: list[Any] = [iter(values)]
    while stack:
        item = next(stack[-1], _END)
        if item is _END:
            stack.pop()
        elif isinstance(item, list):
            if len(stack) >= MAX_RANK:
                raise InvalidInput(f"{what}: data is nested deeper than {MAX_RANK} levels")
            stack.append(iter(item))
        else:
            out.append(item)
    return out


_END = object()

_LENGTH = struct.Struct("<I")


def pack_bytes(array: np.ndarray) -> bytes:
    """BYTES wire form: each element as a 4-byte little-endian length, then its bytes."""
    parts: list[bytes] = []
    for item in array.reshape(-1):
        data = item.encode() if isinstance(item, str) else bytes(item)
        parts.append(_LENGTH.pack(len(data)))
        parts.append(data)
    return b"".join(parts)


def unpack_bytes(buffer: bytes | memoryview, shape: tuple[int, ...], what: str) -> np.ndarray:
    """Inverse of :func:`pack_bytes`; every length prefix is checked against the buffer."""
    count = element_count(shape, what)
    view = memoryview(buffer)
    out = np.empty(count, dtype=object)
    offset = 0
    for i in range(count):
        if offset + 4 > len(view):
            raise InvalidInput(f"{what}: BYTES data ends after {i} of {count} elements")
        (length,) = _LENGTH.unpack_from(view, offset)
        offset += 4
        if offset + length > len(view):
            raise InvalidInput(
                f"{what}: BYTES element {i} claims {length} bytes but only "
                f"{len(view) - offset} remain"
            )
        out[i] = bytes(view[offset : offset + length])
        offset += length
    if offset != len(view):
        raise InvalidInput(f"{what}: {len(view) - offset} bytes left over after {count} elements")
    return out.reshape(shape)


def array_from_buffer(
    buffer: bytes | memoryview, row: DataType, shape: tuple[int, ...], what: str
) -> np.ndarray:
    """A zero-copy view of raw little-endian bytes as an array (BYTES is unpacked)."""
    if row.name == "BYTES":
        return unpack_bytes(buffer, shape, what)
    expected = element_count(shape, what) * row.itemsize
    if len(buffer) != expected:
        raise InvalidInput(
            f"{what}: expected {expected} bytes of {row.name} data for shape {list(shape)}, "
            f"got {len(buffer)}"
        )
    return np.frombuffer(buffer, dtype=row.numpy.newbyteorder("<")).reshape(shape)


def array_to_bytes(array: np.ndarray) -> bytes:
    """Raw wire bytes of an array: little-endian, row-major; BYTES packed."""
    if array.dtype.kind in "OSU":
        return pack_bytes(array)
    if _LITTLE_ENDIAN and array.dtype.byteorder != ">":
        return array.tobytes()  # already little-endian; tobytes writes row-major
    return np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<")).tobytes()
