"""scikit-learn estimators from ``model.skops`` (skops' safe format; pickle only when allowed).

Loading trusts skops' defaults plus any type from scikit-learn itself; a file that needs
anything else (a custom class, a callable) is refused with the list, unless the model's
config names those types in ``parameters: {skops_trusted: "module.Type,..."}``. Pickle and
joblib files run code when loaded: refused unless the server runs with ``--allow-pickle`` and
the config lists the file's SHA-256 (``runtimes/trust.py``).

Metadata: one input ``input`` of ``n_features_in_`` values per row; outputs ``predict_proba``
(FP32, classifiers only) and ``predict``, whose datatype is whatever the estimator returns.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from modelport.errors import InvalidInput
from modelport.runtimes.base import RuntimeOptions
from modelport.runtimes.trust import require_trusted
from modelport.tensor import TensorSpec, datatype_of

PICKLES = (".pkl", ".pickle", ".joblib")


class SklearnRuntime:
    platform = "sklearn_skops"

    def __init__(self, artifact: Path, options: RuntimeOptions) -> None:
        if artifact.suffix in PICKLES:
            require_trusted(artifact, options, "save it with skops.io.dump(model, 'model.skops')")
            self._model = _load_pickle(artifact)
        else:
            self._model = _load(artifact, str(options.parameters.get("skops_trusted", "")))
        features = int(getattr(self._model, "n_features_in_", 0))
        if features <= 0:
            raise ValueError(
                f"{artifact.name}: the estimator has no n_features_in_ (is it fitted?)"
            )
        self._proba = hasattr(self._model, "predict_proba")
        self.inputs = (TensorSpec("input", "FP32", (-1, features)),)
        self.outputs = self._output_specs(features)

    def _output_specs(self, features: int) -> tuple[TensorSpec, ...]:
        sample = np.zeros((1, features), np.float32)
        predicted = np.asarray(self._model.predict(sample))
        specs = [TensorSpec("predict", datatype_of(predicted).name, (-1, *predicted.shape[1:]))]
        if self._proba:
            classes = len(self._model.classes_)
            specs.insert(0, TensorSpec("predict_proba", "FP32", (-1, classes)))
        return tuple(specs)

    def infer(
        self, inputs: Mapping[str, np.ndarray], outputs: Sequence[str]
    ) -> Mapping[str, np.ndarray]:
        x = inputs["input"]
        try:
            found: dict[str, np.ndarray] = {}
            if "predict" in outputs:
                found["predict"] = _plain(np.asarray(self._model.predict(x)))
            if "predict_proba" in outputs:
                found["predict_proba"] = np.asarray(self._model.predict_proba(x), np.float32)
        except ValueError as exc:  # scikit-learn's word for bad data (NaN, wrong width, ...)
            raise InvalidInput(f"scikit-learn rejected the input: {exc}") from exc
        return found

    @property
    def native(self) -> Any:
        """The estimator (for ``modelport convert``)."""
        return self._model

    def unload(self) -> None:
        del self._model


def _load(artifact: Path, extra_trusted: str) -> Any:
    import skops.io

    untrusted = skops.io.get_untrusted_types(file=artifact)
    allowed = {t.strip() for t in extra_trusted.split(",") if t.strip()}
    refused = [t for t in untrusted if not t.startswith("sklearn.") and t not in allowed]
    if refused:
        raise ValueError(
            f"{artifact.name} needs types that are not trusted: {refused}; trust them with "
            'parameters: {skops_trusted: "..."} in the model\'s config only if you know them'
        )
    return skops.io.load(artifact, trusted=untrusted)


def _load_pickle(artifact: Path) -> Any:
    """Only reached for a file the operator allowed and whose digest the config lists."""
    import joblib

    return joblib.load(artifact)


def _plain(array: np.ndarray) -> np.ndarray:
    """Strings become bytes (BYTES); everything else is passed as it is."""
    if array.dtype.kind == "U":
        return np.array([s.encode() for s in array.reshape(-1)], dtype=object).reshape(array.shape)
    return array
