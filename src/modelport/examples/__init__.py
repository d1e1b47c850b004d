"""Worked examples: each trains on data a package ships (never a download) and writes a
model repository entry. Imported lazily by name, like the runtimes."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

EXAMPLES: dict[str, str] = {
    "digits": "modelport.examples.digits:build",
    "diagnosis": "modelport.examples.diagnosis:build",
    "mnist-keras": "modelport.examples.mnist_keras:build",
    "mnist-torch": "modelport.examples.mnist_torch:build",
    "fraud": "modelport.examples.fraud:build",
    "fraud-drift": "modelport.examples.fraud_drift:build",
    "recommender": "modelport.examples.recommender:build",
    "regression": "modelport.examples.regression:build",
}
NEEDS: dict[str, str] = {
    "mnist-keras": "tensorflow",
    "mnist-torch": "torch",
    "fraud": "xgboost",
    "fraud-drift": "xgboost",
    "recommender": "torch",
}
"""The extra an example's framework comes in, for the message when it is missing."""
FRAMEWORK_CHOICE = ("fraud", "fraud-drift")
"""Examples that take ``framework=`` (``--framework``)."""


def build(name: str, repository: Path, **options: Any) -> dict[str, Any]:
    """Train example ``name`` into ``repository``; returns what it measured."""
    module_name, _, function = EXAMPLES[name].partition(":")
    builder: Callable[..., dict[str, Any]] = getattr(importlib.import_module(module_name), function)
    return builder(repository, **options)
