"""What XGBoost and LightGBM boosters share: one ``input`` of ``features`` values per row, and
their raw scores turned into scikit-learn's outputs. Classifiers answer ``predict_proba``
(FP32, one column per class) and ``predict`` (INT64 class index); regressors and rankers
answer ``predict`` (FP32)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from modelport.errors import InferenceFailed
from modelport.tensor import TensorSpec


@dataclass(frozen=True)
class TreeTask:
    features: int
    classes: int  # 0: regression or ranking; 2: binary (one score per row); >2: multiclass

    @property
    def inputs(self) -> tuple[TensorSpec, ...]:
        return (TensorSpec("input", "FP32", (-1, self.features)),)

    @property
    def outputs(self) -> tuple[TensorSpec, ...]:
        if not self.classes:
            return (TensorSpec("predict", "FP32", (-1,)),)
        return (
            TensorSpec("predict_proba", "FP32", (-1, self.classes)),
            TensorSpec("predict", "INT64", (-1,)),
        )

    def answer(self, scores: np.ndarray, outputs: Sequence[str]) -> Mapping[str, np.ndarray]:
        """The requested outputs from a booster's raw scores for a batch."""
        scores = np.asarray(scores, np.float32)
        if not self.classes:
            return {"predict": scores.reshape(len(scores), -1)[:, 0]}
        proba = self._probabilities(scores)
        found = {"predict_proba": proba, "predict": np.argmax(proba, axis=1).astype(np.int64)}
        return {name: found[name] for name in outputs}

    def _probabilities(self, scores: np.ndarray) -> np.ndarray:
        if self.classes == 2 and scores.ndim == 1:
            return np.stack([1 - scores, scores], axis=1)
        if scores.ndim != 2 or scores.shape[1] != self.classes:
            raise InferenceFailed(
                f"the booster returned scores of shape {scores.shape}, expected "
                f"(rows, {self.classes})"
            )
        return scores


class BoosterRuntime:
    """The shared half of the XGBoost and LightGBM runtimes: a subclass loads its booster,
    calls ``_serve`` and says how to score a batch."""

    platform = ""

    def _serve(self, booster: Any, task: TreeTask) -> None:
        self._booster, self._task = booster, task
        self.inputs, self.outputs = task.inputs, task.outputs

    def scores(self, rows: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def infer(
        self, inputs: Mapping[str, np.ndarray], outputs: Sequence[str]
    ) -> Mapping[str, np.ndarray]:
        return self._task.answer(np.asarray(self.scores(inputs["input"])), outputs)

    @property
    def native(self) -> Any:
        """The booster (for ``modelport convert``)."""
        return self._booster

    def unload(self) -> None:
        del self._booster
