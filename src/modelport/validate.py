"""Check a request against a model's metadata before it reaches the runtime.

Every message names the model and the tensor, in Triton's wording where there is one.
"""

from __future__ import annotations

from collections.abc import Sequence

from modelport.errors import InvalidInput, shown
from modelport.tensor import TensorSpec
from modelport.types import InferInput, InferRequest, ModelMetadata


def validate_request(request: InferRequest, metadata: ModelMetadata) -> None:
    specs = input_specs(request, metadata)
    for tensor, spec in zip(request.inputs, specs, strict=True):
        check_input(tensor, spec, metadata)
    if request.outputs:
        check_outputs(request, metadata)


def input_specs(request: InferRequest, metadata: ModelMetadata) -> Sequence[TensorSpec]:
    """The model's spec of each of the request's inputs, in the request's order; an error
    when the request names an input the model lacks or leaves one out."""
    given = [tensor.name for tensor in request.inputs]
    expected = metadata.input_names
    if given == expected:
        return metadata.inputs  # the usual request: every input, in the model's order
    unknown = [name for name in given if name not in expected]
    if unknown:
        raise InvalidInput(
            f"unexpected inference input(s) {_listed(unknown)} for model '{metadata.name}'; "
            f"the model's inputs are {expected}"
        )
    missing = [name for name in expected if name not in given]
    if missing:
        raise InvalidInput(
            f"expected {len(expected)} inputs but got {len(given)} inputs for model "
            f"'{metadata.name}'; missing required input(s) {missing}"
        )
    return [metadata.require_input(name) for name in given]


def check_input(tensor: InferInput, spec: TensorSpec, metadata: ModelMetadata) -> None:
    shape = tensor.data.shape
    if tensor.datatype != spec.datatype:
        wrong = f"expected datatype {spec.datatype}, got {tensor.datatype}"
    elif not _fits(shape, spec.shape):
        wrong = f"expected shape {list(spec.shape)}, got {list(shape)}"
    elif metadata.max_batch_size and shape and shape[0] > metadata.max_batch_size:
        wrong = (
            f"batch size {shape[0]} exceeds the model's max_batch_size {metadata.max_batch_size}"
        )
    else:
        return
    raise InvalidInput(f"input '{tensor.name}' of model '{metadata.name}': {wrong}")


def _fits(shape: tuple[int, ...], wanted: tuple[int, ...]) -> bool:
    """Every dimension as the model wants it (-1: any size)."""
    if len(shape) != len(wanted):
        return False
    # A loop, not all(<generator>): this runs for every input of every request.
    for got, want in zip(shape, wanted, strict=False):  # noqa: SIM110 (lengths checked)
        if want != got and want != -1:
            return False
    return True


def check_outputs(request: InferRequest, metadata: ModelMetadata) -> None:
    known = [spec.name for spec in metadata.outputs]
    for output in request.outputs:
        if output.name not in known:
            raise InvalidInput(
                f"unexpected inference output {shown(output.name)} for model '{metadata.name}'; "
                f"the model's outputs are {known}"
            )


def _listed(names: list[str], most: int = 4) -> str:
    """Client-sent names for a message: the first few, each bounded."""
    more = f" and {len(names) - most} more" if len(names) > most else ""
    return f"[{', '.join(shown(name) for name in names[:most])}]{more}"
