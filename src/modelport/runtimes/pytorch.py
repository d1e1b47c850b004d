"""PyTorch models: ``torch.export`` programs (``model.pt2``) and TorchScript (``model.pt``).

A ``.pt2`` program carries its signature: input names are the ``forward`` arguments', shapes
and dtypes come from the example it was exported with (dynamic dimensions become -1), outputs
are ``output__0``, ``output__1``… (Triton's PyTorch names) unless the config names them.
TorchScript carries no shapes, so its config must declare ``inputs`` and ``outputs``.
Neither format unpickles code: ``torch.export.load`` and ``torch.jit.load`` read graphs.
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from modelport.errors import InferenceFailed, InvalidInput
from modelport.runtimes.base import RuntimeOptions, error_line
from modelport.runtimes.signature import named_outputs, renamed, variable_dims, writable
from modelport.tensor import TensorSpec, datatype

_DTYPES = {
    "float32": "FP32", "float64": "FP64", "float16": "FP16", "bfloat16": "BF16",
    "int64": "INT64", "int32": "INT32", "int16": "INT16", "int8": "INT8",
    "uint8": "UINT8", "bool": "BOOL",
}  # fmt: skip
"""torch dtype name → V2 datatype."""
_LOADING = threading.Lock()
"""torch.export.load keeps global state while it reads: models load one at a time."""


class PyTorchRuntime:
    platform = "pytorch_libtorch"

    def __init__(self, artifact: Path, options: RuntimeOptions) -> None:
        import torch

        if options.intra_op_threads > 0:
            torch.set_num_threads(options.intra_op_threads)
        if artifact.suffix == ".pt2":
            self._module, inputs, outputs = _load_program(artifact)
        else:
            self._module, inputs, outputs = _load_torchscript(artifact, options)
        self.inputs = renamed(inputs, options.declared_inputs, "input")
        self.outputs = renamed(outputs, options.declared_outputs, "output")
        for spec in self.inputs:
            if spec.datatype == "BYTES":
                raise ValueError(f"input {spec.name!r}: PyTorch models take no BYTES tensors")

    def infer(
        self, inputs: Mapping[str, np.ndarray], outputs: Sequence[str]
    ) -> Mapping[str, np.ndarray]:
        import torch

        args = [torch.from_numpy(writable(inputs[spec.name])) for spec in self.inputs]
        try:
            with torch.inference_mode():
                result = self._module(*args)
        except AssertionError as exc:  # torch.export's guards: a shape the program refuses
            raise InvalidInput(f"the program refused the input: {exc}") from exc
        except IndexError as exc:  # an id past the end of an embedding table
            raise InvalidInput(f"the model refused the input: {exc}") from exc
        except RuntimeError as exc:
            raise InferenceFailed(f"PyTorch failed: {error_line(exc, last=True)}") from exc
        named = named_outputs(result, [spec.name for spec in self.outputs])
        return {name: _numpy(named[name]) for name in outputs}

    @property
    def native(self) -> Any:
        """The loaded module (for ``modelport convert``)."""
        return self._module

    def unload(self) -> None:
        del self._module


def _load_program(artifact: Path) -> tuple[Any, tuple[TensorSpec, ...], tuple[TensorSpec, ...]]:
    import torch

    with _LOADING:
        program = torch.export.load(str(artifact))
    placeholders = {n.name: n for n in program.graph.nodes if n.op == "placeholder"}
    inputs = tuple(
        _spec(name, placeholders[name].meta["val"])
        for name in program.graph_signature.user_inputs
        if name in placeholders
    )
    output_node = next(n for n in program.graph.nodes if n.op == "output")
    values = [arg.meta["val"] for arg in output_node.args[0]]
    outputs = tuple(_spec(f"output__{i}", value) for i, value in enumerate(values))
    return program.module(), inputs, outputs


def _load_torchscript(
    artifact: Path, options: RuntimeOptions
) -> tuple[Any, tuple[TensorSpec, ...], tuple[TensorSpec, ...]]:
    import torch

    if not options.declared_inputs or not options.declared_outputs:
        raise ValueError(
            f"{artifact.name}: TorchScript files carry no tensor shapes; declare inputs and "
            "outputs in the model's config.yaml (or export with torch.export to model.pt2)"
        )
    with warnings.catch_warnings():  # TorchScript is deprecated, and still what many ship
        warnings.simplefilter("ignore", DeprecationWarning)
        module = torch.jit.load(str(artifact), map_location="cpu")
    module.eval()
    return module, options.declared_inputs, options.declared_outputs


def _spec(name: str, value: Any) -> TensorSpec:
    dtype = str(value.dtype).removeprefix("torch.")
    if dtype not in _DTYPES:
        raise ValueError(f"tensor {name!r}: torch dtype {dtype} has no V2 datatype")
    return TensorSpec(name, datatype(_DTYPES[dtype]).name, variable_dims(value.shape))


def _numpy(value: Any) -> np.ndarray:
    import torch

    if not isinstance(value, torch.Tensor):
        raise InferenceFailed(f"the model returned a {type(value).__name__}, not a tensor")
    tensor = value.detach().cpu()
    if tensor.dtype == torch.bfloat16:
        return np.asarray(tensor.float().numpy().astype(datatype("BF16").numpy))
    return np.asarray(tensor.numpy())
