"""The seed's Keras model: Flatten 28x28 → Dense 128 ReLU → Dense 10 softmax, trained on
scikit-learn's digits upscaled to 28x28, saved two ways:

- ``mnist-keras/1/model.keras``: Keras 3's own format (served with safe mode on);
- ``mnist-keras-savedmodel/1/model.savedmodel``: a TF SavedModel (what TF Serving serves).
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from modelport.datasets import load_digits_28x28
from modelport.repository.staging import new_version, write_model_files

KERAS_MODEL, SAVEDMODEL = "mnist-keras", "mnist-keras-savedmodel"
CONFIG = (
    "# The seed's Keras MNIST MLP (see `modelport examples mnist-keras`).\nlabel_file: labels.txt\n"
)


def build(repository: Path, seed: int = 0, epochs: int = 20) -> dict[str, Any]:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras
    from sklearn.model_selection import train_test_split

    x, y = load_digits_28x28()
    x_train, x_test, y_train, y_test = train_test_split(
        x.reshape(-1, 28, 28), y, test_size=0.2, random_state=seed, stratify=y
    )
    keras.utils.set_random_seed(seed)
    model = _network(keras)
    started = time.perf_counter()
    model.fit(x_train, y_train, epochs=epochs, batch_size=32, verbose=0)
    seconds = time.perf_counter() - started
    probabilities = np.asarray(model.predict(x_test, verbose=0))
    with new_version(repository, KERAS_MODEL) as version:
        model.save(version / "model.keras")
    with new_version(repository, SAVEDMODEL) as version:
        model.export(str(version / "model.savedmodel"), format="tf_saved_model", verbose=False)
    for name in (KERAS_MODEL, SAVEDMODEL):
        write_model_files(repository / name, CONFIG, [str(d) for d in range(10)])
    return {
        "path": str(repository / KERAS_MODEL),
        "also": str(repository / SAVEDMODEL),
        "accuracy": float(np.mean(probabilities.argmax(axis=1) == y_test)),
        "train_seconds": seconds,
        "test_samples": len(y_test),
    }


def _network(keras: Any) -> Any:
    model = keras.Sequential(
        [
            keras.Input((28, 28), name="image"),
            keras.layers.Flatten(),
            keras.layers.Dense(128, activation="relu"),
            keras.layers.Dense(10, activation="softmax", name="probabilities"),
        ]
    )
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model
