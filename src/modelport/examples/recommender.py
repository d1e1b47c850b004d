"""A small e-commerce recommender: matrix factorisation in PyTorch on generated user-item
interactions, served as a ``torch.export`` program that takes user ids and answers their top-k
items (already-bought items excluded) with scores: ``recommender/1/model.pt2``. An id it has
never seen (a new customer) gets the most popular items.

Held out: one interaction per user. The score is hit rate @ k (the held-out item is among the
k recommended), beside the hit rate of recommending the most popular items.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from modelport.repository.staging import new_version, write_model_files

MODEL_NAME = "recommender"
USERS, ITEMS, FACTORS, TOP_K = 400, 150, 16, 10
CONFIG = (
    "# Top-k recommendations for a user (see `modelport examples recommender`).\n"
    f"outputs: [{{name: items, datatype: INT64, shape: [-1, {TOP_K}]}},\n"
    f"          {{name: scores, datatype: FP32, shape: [-1, {TOP_K}]}}]\n"
)


def interactions(seed: int = 0, per_user: int = 25) -> np.ndarray:
    """(user, item) purchases drawn from hidden tastes: the same pairs for the same seed."""
    rng = np.random.default_rng(seed)
    tastes = rng.normal(size=(USERS, 4)) @ rng.normal(size=(4, ITEMS)) + rng.normal(size=ITEMS)
    pairs: list[tuple[int, int]] = []
    for user in range(USERS):
        weights = np.exp(2 * tastes[user] - (2 * tastes[user]).max())
        bought = rng.choice(ITEMS, per_user, replace=False, p=weights / weights.sum())
        pairs.extend((user, int(item)) for item in bought)
    return np.array(pairs, dtype=np.int64)


def build(repository: Path, seed: int = 0, epochs: int = 40) -> dict[str, Any]:
    import torch

    pairs = interactions(seed)
    train, held_out = _leave_one_out(pairs, np.random.default_rng(seed))
    torch.manual_seed(seed)
    model = factorisation(torch)
    started = time.perf_counter()
    _train(torch, model, torch.from_numpy(train), epochs)
    seconds = time.perf_counter() - started
    server_side = top_k_module(torch, model, train)
    users = torch.arange(USERS)
    with torch.no_grad():
        recommended = server_side(users)[0].numpy()
    program = torch.export.export(
        server_side, (users[:2],), dynamic_shapes=({0: torch.export.Dim("batch")},)
    )
    with new_version(repository, MODEL_NAME) as version:
        torch.export.save(program, str(version / "model.pt2"))
    write_model_files(repository / MODEL_NAME, CONFIG)
    hits = hit_rate(recommended, held_out)
    return {
        "path": str(repository / MODEL_NAME),
        "scores": {f"hit_rate_at_{TOP_K}": hits, "popularity_baseline": _popular(train, held_out)},
        "train_seconds": seconds,
        "test_samples": len(held_out),
    }


def hit_rate(recommended: np.ndarray, held_out: np.ndarray) -> float:
    """Share of users whose held-out item is among their recommendations."""
    return float(np.mean([held_out[u] in recommended[u] for u in range(len(held_out))]))


def _leave_one_out(pairs: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    held = np.array([rng.choice(np.flatnonzero(pairs[:, 0] == u)) for u in range(USERS)])
    mask = np.ones(len(pairs), bool)
    mask[held] = False
    return pairs[mask], pairs[held, 1]


def _popular(train: np.ndarray, held_out: np.ndarray) -> float:
    top = np.argsort(-np.bincount(train[:, 1], minlength=ITEMS))
    seen = _seen(train)
    picks = np.array([[i for i in top if not seen[u, i]][:TOP_K] for u in range(USERS)])
    return hit_rate(picks, held_out)


def _seen(train: np.ndarray) -> np.ndarray:
    seen = np.zeros((USERS, ITEMS), bool)
    seen[train[:, 0], train[:, 1]] = True
    return seen


def factorisation(torch: Any) -> Any:
    class _Factorisation(torch.nn.Module):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            self.users = torch.nn.Embedding(USERS, FACTORS)
            self.items = torch.nn.Embedding(ITEMS, FACTORS)
            self.bias = torch.nn.Parameter(torch.zeros(ITEMS))
            for table in (self.users, self.items):
                torch.nn.init.normal_(table.weight, std=0.1)

        def forward(self, users: Any, items: Any) -> Any:
            return (self.users(users) * self.items(items)).sum(-1) + self.bias[items]

    return _Factorisation()


def _train(torch: Any, model: Any, train: Any, epochs: int) -> None:
    """Implicit feedback: bought pairs scored above random items (logistic loss)."""
    optimizer = torch.optim.Adam(model.parameters(), lr=0.02, weight_decay=1e-5)
    loss_fn = torch.nn.functional.binary_cross_entropy_with_logits
    for _ in range(epochs):
        for batch in torch.randperm(len(train)).split(512):
            users, items = train[batch, 0], train[batch, 1]
            negatives = torch.randint(0, ITEMS, (len(batch),))
            logits = torch.cat([model(users, items), model(users, negatives)])
            labels = torch.cat([torch.ones(len(batch)), torch.zeros(len(batch))])
            optimizer.zero_grad()
            loss_fn(logits, labels).backward()
            optimizer.step()


def top_k_module(torch: Any, model: Any, train: np.ndarray) -> Any:
    class _TopK(torch.nn.Module):  # type: ignore[misc]
        """What is served: user ids in, top-k unseen items and their scores out."""

        def __init__(self) -> None:
            super().__init__()
            self.users = model.users.weight.detach().clone()
            self.items = model.items.weight.detach().clone()
            self.bias = model.bias.detach().clone()
            self.register_buffer("seen", torch.from_numpy(_seen(train)))

        def forward(self, user: Any) -> Any:
            known = (user >= 0) & (user < USERS)  # an unknown user gets the popular items
            row = torch.where(known, user, torch.zeros_like(user))
            personal = (self.users[row] @ self.items.T + self.bias).masked_fill(
                self.seen[row], float("-inf")
            )
            scores = torch.where(known[:, None], personal, self.bias.expand_as(personal))
            top = torch.topk(scores, TOP_K, dim=1)
            return top.indices, torch.sigmoid(top.values)

    return _TopK().eval()
