"""LightGBM boosters in LightGBM's own text format (``model.txt``); no pickle.

``binary`` and ``multiclass`` objectives are classifiers; others answer ``predict``
(``boosted_trees.py``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from modelport.errors import InvalidInput
from modelport.runtimes.base import RuntimeOptions
from modelport.runtimes.boosted_trees import BoosterRuntime, TreeTask


class LightGBMRuntime(BoosterRuntime):
    platform = "lightgbm"

    def __init__(self, artifact: Path, options: RuntimeOptions) -> None:
        import lightgbm

        booster = lightgbm.Booster(model_file=str(artifact))
        self._threads = max(options.intra_op_threads, 0)
        self._serve(booster, TreeTask(int(booster.num_feature()), _classes(_header(artifact))))

    def scores(self, rows: np.ndarray) -> np.ndarray:
        import lightgbm

        try:
            return np.asarray(self._booster.predict(rows, num_threads=self._threads))
        except lightgbm.basic.LightGBMError as exc:
            raise InvalidInput(f"LightGBM rejected the input: {exc}") from exc


def _header(artifact: Path) -> dict[str, str]:
    """The ``key=value`` lines before the first tree of a model file (objective, classes)."""
    header: dict[str, str] = {}
    with artifact.open(encoding="utf-8", errors="replace") as file:
        for line in file:
            if line.startswith("Tree="):
                break
            key, sep, value = line.strip().partition("=")
            if sep:
                header[key] = value
    return header


def _classes(header: dict[str, str]) -> int:
    objective = header.get("objective", "").split(" ")[0]
    if objective in ("binary", "cross_entropy"):
        return 2
    if objective in ("multiclass", "multiclassova"):
        return int(header.get("num_class", "0"))
    return 0
