"""TensorFlow models: SavedModel directories and Keras 3 ``.keras`` files.

A SavedModel is served through one signature (``serving_default`` unless the config sets
``parameters: {signature_name: ...}``); its ``signature_def`` gives the input and output names,
dtypes and shapes, as TF Serving reports them. A ``.keras`` file is loaded with Keras' safe mode
on (no Lambda layers' Python code) and without its training state; outputs are named after the
layers that produce them. Legacy ``.h5`` files can hold code and go through the pickle gate.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from modelport.errors import InferenceFailed, InvalidInput
from modelport.runtimes.base import RuntimeOptions, error_line
from modelport.runtimes.signature import named_outputs, variable_dims
from modelport.runtimes.trust import require_trusted
from modelport.tensor import TensorSpec, datatype_of

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow is imported


class TensorFlowRuntime:
    platform = "tensorflow_savedmodel"

    def __init__(self, artifact: Path, options: RuntimeOptions) -> None:
        _set_threads(options)
        self._call: _SavedModel | _Keras
        if artifact.is_dir() or artifact.name == "saved_model.pb":
            self._call = _SavedModel(artifact, options)
        else:
            self.platform = "tensorflow_keras"
            self._call = _Keras(artifact, options)
        self.inputs = self._call.inputs
        self.outputs = self._call.outputs

    def infer(
        self, inputs: Mapping[str, np.ndarray], outputs: Sequence[str]
    ) -> Mapping[str, np.ndarray]:
        import tensorflow as tf

        try:
            result = self._call(inputs)
        except (tf.errors.InvalidArgumentError, ValueError) as exc:
            raise InvalidInput(
                f"TensorFlow rejected the input: {error_line(exc, last=True)}"
            ) from exc
        except tf.errors.OpError as exc:
            raise InferenceFailed(f"TensorFlow failed: {error_line(exc, last=True)}") from exc
        named = named_outputs(result, [spec.name for spec in self.outputs])
        return {name: _numpy(named[name]) for name in outputs}

    @property
    def native(self) -> Any:
        """The Keras model or the loaded SavedModel (for ``modelport convert``)."""
        return self._call.native

    def unload(self) -> None:
        del self._call


class _SavedModel:
    def __init__(self, artifact: Path, options: RuntimeOptions) -> None:
        import tensorflow as tf

        directory = artifact if artifact.is_dir() else artifact.parent
        self._loaded = tf.saved_model.load(str(directory))
        name = str(options.parameters.get("signature_name", "serving_default"))
        if name not in self._loaded.signatures:
            known = sorted(self._loaded.signatures)
            raise ValueError(f"the SavedModel has no signature {name!r}; it has {known}")
        self.native = self._loaded
        self._function = self._loaded.signatures[name]
        _, named_inputs = self._function.structured_input_signature
        self.inputs = tuple(
            _spec(key, spec.dtype.name, spec.shape) for key, spec in sorted(named_inputs.items())
        )
        self.outputs = tuple(
            _spec(key, spec.dtype.name, spec.shape)
            for key, spec in sorted(self._function.structured_outputs.items())
        )

    def __call__(self, inputs: Mapping[str, np.ndarray]) -> Any:
        import tensorflow as tf

        return self._function(**{spec.name: tf.constant(inputs[spec.name]) for spec in self.inputs})


class _Keras:
    def __init__(self, artifact: Path, options: RuntimeOptions) -> None:
        import keras

        if artifact.suffix in (".h5", ".hdf5"):
            require_trusted(artifact, options, "save it as model.keras (Keras 3)")
        self._model = keras.saving.load_model(str(artifact), compile=False, safe_mode=True)
        self.native = self._model
        self.inputs = tuple(_spec(t.name, str(t.dtype), t.shape) for t in self._model.inputs)
        self.outputs = tuple(
            _spec(_producer(t), str(t.dtype), t.shape) for t in self._model.outputs
        )

    def __call__(self, inputs: Mapping[str, np.ndarray]) -> Any:
        if len(self.inputs) == 1:
            return self._model(inputs[self.inputs[0].name], training=False)
        return self._model([inputs[spec.name] for spec in self.inputs], training=False)


def _set_threads(options: RuntimeOptions) -> None:
    import tensorflow as tf

    try:
        if options.intra_op_threads > 0:
            tf.config.threading.set_intra_op_parallelism_threads(options.intra_op_threads)
        if options.inter_op_threads > 0:
            tf.config.threading.set_inter_op_parallelism_threads(options.inter_op_threads)
    except RuntimeError:  # TensorFlow is already running; threads are set once per process
        pass


def _spec(name: str, dtype_name: str, shape: Any) -> TensorSpec:
    """A TensorFlow or Keras tensor by its dtype's name (``float32``, ``string``, ...)."""
    dtype = np.dtype(object) if dtype_name == "string" else np.dtype(dtype_name)
    return TensorSpec(name, datatype_of(np.empty(0, dtype)).name, variable_dims(shape))


def _producer(tensor: Any) -> str:
    """A Keras output's name: the layer that makes it (its tensor name is generated)."""
    history = getattr(tensor, "_keras_history", None)
    return str(history[0].name) if history else str(tensor.name)


def _numpy(value: Any) -> np.ndarray:
    return np.asarray(value.numpy() if hasattr(value, "numpy") else value)
