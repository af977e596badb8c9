"""Held-out scores on real tables during pretraining (needs scikit-learn for its data sets).

Each data set is split 50/50, stratified for classification, by a fixed seed; the train half
(at most 512 rows, a stratified sample) is the support set, the other half the queries.
Scores are accuracy (classification) and R^2 (regression). The model is run directly in
torch on the raw features (no imputation needed: these data sets have no NaN), so this is
a training curve, not the benchmark (``bench/bench_builtin.py`` runs the estimators).
"""

from __future__ import annotations

import numpy as np
import torch

CLASSIFICATION_SETS = ("iris", "wine", "breast_cancer", "digits")
REGRESSION_SETS = ("diabetes",)


def load_dataset(name: str) -> tuple[np.ndarray, np.ndarray]:
    from sklearn import datasets

    data = getattr(datasets, f"load_{name}")()
    return np.asarray(data.data, dtype=np.float64), np.asarray(data.target)


def split(x: np.ndarray, y: np.ndarray, seed: int, classification: bool, max_support: int = 512):
    """``(x_support, y_support, x_query, y_query)``: a 50/50 split, support capped."""
    from sklearn.model_selection import train_test_split

    strat = y if classification else None
    xs, xq, ys, yq = train_test_split(x, y, test_size=0.5, random_state=seed, stratify=strat)
    if len(xs) > max_support:
        strat = ys if classification else None
        xs, _, ys, _ = train_test_split(xs, ys, train_size=max_support, random_state=seed,
                                        stratify=strat)
    return xs, ys, xq, yq


@torch.no_grad()
def _predict(model, xs, ys, xq, classification: bool) -> np.ndarray:
    keep = xs.std(axis=0) > 0
    xs, xq = xs[:, keep], xq[:, keep]
    to = lambda a: torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32))[None]  # noqa: E731
    if classification:
        classes, index = np.unique(ys, return_inverse=True)
        logits = model(to(xs), torch.from_numpy(index)[None].long(), to(xq))[0]
        return classes[logits[:, : len(classes)].argmax(-1).numpy()]
    low, high = ys.min(), ys.max()
    scaled = (ys - low) / (high - low)
    if not model.scalar_output:  # a bin head: the mean of the bin centres under its softmax
        from .trainer import bin_centres, bin_ids

        ids = bin_ids(torch.from_numpy(scaled)[None], model.dim_output)
        probs = torch.softmax(model(to(xs), ids, to(xq))[0].double(), dim=-1)
        mean = probs @ bin_centres(model.dim_output).double()
        return mean.numpy() * (high - low) + low
    return model(to(xs), to(scaled), to(xq))[0].double().numpy() * (high - low) + low


def evaluate(model, task: str, seeds: tuple[int, ...] = (0,)) -> dict[str, float]:
    """Mean score per data set over ``seeds``."""
    model.eval()
    classification = task == "classification"
    scores = {}
    for name in CLASSIFICATION_SETS if classification else REGRESSION_SETS:
        x, y = load_dataset(name)
        values = []
        for seed in seeds:
            xs, ys, xq, yq = split(x, y, seed, classification)
            pred = _predict(model, xs, ys, xq, classification)
            if classification:
                values.append(float(np.mean(pred == yq)))
            else:
                values.append(float(1 - np.mean((pred - yq) ** 2) / np.var(yq)))
        scores[name] = round(float(np.mean(values)), 4)
    return scores
