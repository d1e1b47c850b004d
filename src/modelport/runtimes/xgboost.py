"""XGBoost boosters in XGBoost's own formats (``model.json``, ``model.ubj``); no pickle.

The objective decides the outputs (``boosted_trees.py``): ``binary:logistic`` and
``multi:softprob`` are classifiers; other objectives answer their prediction as ``predict``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from modelport.errors import InvalidInput
from modelport.runtimes.base import RuntimeOptions
from modelport.runtimes.boosted_trees import BoosterRuntime, TreeTask

_PROBABILITY_OBJECTIVES = {"binary:logistic", "multi:softprob"}


class XGBoostRuntime(BoosterRuntime):
    platform = "xgboost"

    def __init__(self, artifact: Path, options: RuntimeOptions) -> None:
        import xgboost

        booster = xgboost.Booster(model_file=str(artifact))
        if options.intra_op_threads > 0:
            booster.set_param({"nthread": options.intra_op_threads})
        self._serve(booster, TreeTask(int(booster.num_features()), _classes(booster)))

    def scores(self, rows: np.ndarray) -> np.ndarray:
        try:
            return np.asarray(self._booster.inplace_predict(rows, validate_features=False))
        except ValueError as exc:
            raise InvalidInput(f"XGBoost rejected the input: {exc}") from exc


def _classes(booster: Any) -> int:
    learner = json.loads(booster.save_config())["learner"]
    if learner["objective"]["name"] not in _PROBABILITY_OBJECTIVES:
        return 0
    return max(2, int(learner["learner_model_param"].get("num_class", "0")))
