"""A healthcare classifier: scikit-learn's breast-cancer data, a random forest, saved with
skops (never pickle) as ``<repository>/diagnosis/1/model.skops``."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from modelport.repository.staging import new_version

MODEL_NAME = "diagnosis"


def build(repository: Path, seed: int = 0) -> dict[str, Any]:
    import skops.io
    from sklearn.datasets import load_breast_cancer
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.model_selection import train_test_split

    data = load_breast_cancer()
    x = data.data.astype("float32")
    x_train, x_test, y_train, y_test = train_test_split(
        x, data.target, test_size=0.2, random_state=seed, stratify=data.target
    )
    started = time.perf_counter()
    forest = RandomForestClassifier(n_estimators=100, random_state=seed).fit(x_train, y_train)
    seconds = time.perf_counter() - started
    with new_version(repository, MODEL_NAME) as version:
        skops.io.dump(forest, version / "model.skops")
    path = repository / MODEL_NAME / "1" / "model.skops"
    accuracy = float(forest.score(x_test, y_test))
    return {
        "path": str(path),
        "accuracy": accuracy,
        "train_seconds": seconds,
        "test_samples": len(y_test),
    }
