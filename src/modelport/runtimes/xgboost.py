"""XGBoost boosters in XGBoost's own formats (``model.json``, ``model.ubj``); no pickle.

The objective decides the outputs (``boosted_trees.py``): ``binary:logistic`` and
``multi:softprob`` are classifiers; other objectives answer their prediction as ``predict``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from modelport.errors import InvalidInput
from modelport.runtimes.base import RuntimeOptions
from modelport.runtimes.boosted_trees import TreeTask

_PROBABILITY_OBJECTIVES = {"binary:logistic", "multi:softprob"}


class XGBoostRuntime:
    platform = "xgboost"

    def __init__(self, artifact: Path, options: RuntimeOptions) -> None:
        import xgboost

        self._booster = xgboost.Booster(model_file=str(artifact))
        if options.intra_op_threads > 0:
            self._booster.set_param({"nthread": options.intra_op_threads})
        self._task = TreeTask(int(self._booster.num_features()), _classes(self._booster))
        self.inputs = self._task.inputs
        self.outputs = self._task.outputs

    def infer(
        self, inputs: Mapping[str, np.ndarray], outputs: Sequence[str]
    ) -> Mapping[str, np.ndarray]:
        try:
            scores = self._booster.inplace_predict(inputs["input"], validate_features=False)
        except ValueError as exc:
            raise InvalidInput(f"XGBoost rejected the input: {exc}") from exc
        return self._task.answer(np.asarray(scores), outputs)

    @property
    def native(self) -> Any:
        """The booster (for ``modelport convert``)."""
        return self._booster

    def unload(self) -> None:
        del self._booster


def _classes(booster: Any) -> int:
    learner = json.loads(booster.save_config())["learner"]
    if learner["objective"]["name"] not in _PROBABILITY_OBJECTIVES:
        return 0
    return max(2, int(learner["learner_model_param"].get("num_class", "0")))
