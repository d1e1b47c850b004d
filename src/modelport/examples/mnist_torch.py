"""The seed's MNIST network in PyTorch (Flatten 28x28 → Linear 128 ReLU → Linear 10 softmax)
on scikit-learn's digits upscaled to 28x28, saved two ways:

- ``mnist-torch/1/model.pt2``: a ``torch.export`` program (carries its own signature);
- ``mnist-torchscript/1/model.pt``: TorchScript, with its signature in ``config.yaml``.
"""

from __future__ import annotations

import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from modelport.datasets import load_digits_28x28
from modelport.repository.staging import new_version, write_model_files

PROGRAM, TORCHSCRIPT = "mnist-torch", "mnist-torchscript"
LABELS = [str(d) for d in range(10)]
PROGRAM_CONFIG = (
    "# The seed's MNIST MLP in PyTorch (see `modelport examples mnist-torch`).\n"
    "label_file: labels.txt\n"
    "outputs: [{name: probabilities, datatype: FP32, shape: [-1, 10]}]\n"
)
TORCHSCRIPT_CONFIG = (
    PROGRAM_CONFIG + "inputs: [{name: image, datatype: FP32, shape: [-1, 28, 28]}]\n"
)


def build(repository: Path, seed: int = 0, epochs: int = 30) -> dict[str, Any]:
    import torch
    from sklearn.model_selection import train_test_split

    x, y = load_digits_28x28()
    x_train, x_test, y_train, y_test = train_test_split(
        x.reshape(-1, 28, 28), y, test_size=0.2, random_state=seed, stratify=y
    )
    torch.manual_seed(seed)
    net = _network(torch)
    started = time.perf_counter()
    _train(torch, net, torch.from_numpy(x_train), torch.from_numpy(y_train), epochs)
    seconds = time.perf_counter() - started
    net.eval()
    with torch.no_grad():
        probabilities = net(torch.from_numpy(x_test)).numpy()
    _save(torch, net, repository)
    return {
        "path": str(repository / PROGRAM),
        "also": str(repository / TORCHSCRIPT),
        "accuracy": float(np.mean(probabilities.argmax(axis=1) == y_test)),
        "train_seconds": seconds,
        "test_samples": len(y_test),
    }


def _network(torch: Any) -> Any:
    nn = torch.nn
    return nn.Sequential(
        nn.Flatten(), nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 10), nn.Softmax(dim=1)
    )


def _train(torch: Any, net: Any, x: Any, y: Any, epochs: int) -> None:
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)
    for _ in range(epochs):
        for batch in torch.randperm(len(x)).split(32):
            optimizer.zero_grad()
            loss = torch.nn.functional.nll_loss(torch.log(net(x[batch]) + 1e-9), y[batch])
            loss.backward()
            optimizer.step()


def _save(torch: Any, net: Any, repository: Path) -> None:
    example = (torch.zeros(2, 28, 28),)
    program = torch.export.export(net, example, dynamic_shapes=({0: torch.export.Dim("batch")},))
    with new_version(repository, PROGRAM) as version:
        torch.export.save(program, str(version / "model.pt2"))
    with new_version(repository, TORCHSCRIPT) as version, warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # still what many users ship
        torch.jit.save(torch.jit.trace(net, example), str(version / "model.pt"))
    write_model_files(repository / PROGRAM, PROGRAM_CONFIG, LABELS)
    write_model_files(repository / TORCHSCRIPT, TORCHSCRIPT_CONFIG, LABELS)
