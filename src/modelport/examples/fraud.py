"""An imbalanced fraud detector: gradient-boosted trees on generated card transactions (about
2% fraud, ``datasets.fraud_transactions``), weighted for the rare class and saved in the
booster's own format: XGBoost's ``fraud/1/model.json``, or LightGBM's ``model.txt`` when only
LightGBM is installed (or ``--framework lightgbm``)."""

from __future__ import annotations

import importlib.util
import time
from pathlib import Path
from typing import Any

import numpy as np

from modelport.datasets import fraud_transactions
from modelport.repository.staging import new_version, write_model_files

MODEL_NAME = "fraud"
CONFIG = (
    "# Fraud detector on generated transactions (see `modelport examples fraud`).\n"
    "label_file: labels.txt\n"
)


def build(
    repository: Path,
    seed: int = 0,
    framework: str = "",
    name: str = MODEL_NAME,
    config: str = CONFIG,
) -> dict[str, Any]:
    from sklearn.model_selection import train_test_split

    x, y = fraud_transactions(seed=seed)
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=0.2, random_state=seed, stratify=y
    )
    framework = framework or _available()
    weight = float((y_train == 0).sum() / max(1, (y_train == 1).sum()))
    started = time.perf_counter()
    model = _fit(framework, x_train, y_train, weight, seed)
    seconds = time.perf_counter() - started
    with new_version(repository, name) as version:
        _save(framework, model, version)
    write_model_files(repository / name, config, ["legitimate", "fraud"])
    scores = _scores(y_test, model.predict_proba(x_test)[:, 1])
    return {
        "path": str(repository / name),
        "framework": framework,
        "accuracy": scores["accuracy"],
        "scores": scores,
        "train_seconds": seconds,
        "test_samples": len(y_test),
    }


def _available() -> str:
    for framework in ("xgboost", "lightgbm"):
        if importlib.util.find_spec(framework) is not None:
            return framework
    raise ImportError("the fraud example needs xgboost or lightgbm", name="xgboost")


def _fit(framework: str, x: np.ndarray, y: np.ndarray, weight: float, seed: int) -> Any:
    common = {"n_estimators": 200, "learning_rate": 0.05, "scale_pos_weight": weight}
    if framework == "xgboost":
        import xgboost

        return xgboost.XGBClassifier(max_depth=4, random_state=seed, **common).fit(x, y)
    import lightgbm

    return lightgbm.LGBMClassifier(num_leaves=15, random_state=seed, verbose=-1, **common).fit(x, y)


def _save(framework: str, model: Any, version: Path) -> None:
    if framework == "xgboost":
        model.save_model(version / "model.json")
    else:
        model.booster_.save_model(version / "model.txt")


def _scores(y: np.ndarray, fraud_probability: np.ndarray) -> dict[str, float]:
    from sklearn import metrics

    predicted = (fraud_probability >= 0.5).astype(int)
    return {
        "accuracy": float(metrics.accuracy_score(y, predicted)),
        "roc_auc": float(metrics.roc_auc_score(y, fraud_probability)),
        "average_precision": float(metrics.average_precision_score(y, fraud_probability)),
        "fraud_recall": float(metrics.recall_score(y, predicted)),
        "fraud_precision": float(metrics.precision_score(y, predicted, zero_division=0)),
    }
