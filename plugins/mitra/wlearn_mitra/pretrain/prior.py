"""Synthetic tables for pretraining: a mixture of priors, in numpy.

Mitra (Zhang et al., 2025, "Mitra: Mixed Synthetic Priors for Enhancing Tabular Foundation
Models") is trained only on tables drawn from a mixture of structural causal models (SCMs)
and tree-based functions; TabPFN (Hollmann et al., 2023) introduced the MLP-SCM prior and
TabICL (Qu et al., 2025) the tree-SCM and their mixture. This module follows them:

* ``mlp``: an MLP-SCM as in TabPFN / TabICL's ``MLPSCM``: random causes pushed through a few
  random sparse layers with random activations and Gaussian noise; features and the target
  are units picked from any layer, so features may be causes or effects of the target.
* ``tree``: a tree-based function as in Mitra's tree priors and TabICL's ``TreeSCM``:
  correlated Gaussian / uniform / integer inputs, the target a sum of random axis-aligned
  trees (splits at values of random rows, Gaussian leaves).
* ``cluster`` (classification only, our addition): each class is one to three Gaussian
  prototypes over a random subset of informative features, the others pure noise. Many-class
  tables are where the other two priors teach least (measured: 10-class accuracy rose
  markedly once it was added), and nearest-prototype structure is common in real data.

Targets become classes either ordinally (random-quantile thresholds of a continuous target,
as TabPFN) or nominally (argmax of several random projections, as TabICL's ``Reg2Cls``
multi-class mode), then relabelled in a random order; a few tables get label noise. Some
features are quantised to a few integer levels, because real tables are full of ties.

Where we depart from the published priors: they are written in torch (TabICL's generator
costs 100-300 ms per table on one core of this kind of CPU; these cost 1-3 ms, negligible
next to a training step), sample hyper-parameters more widely, and TabICL draws the tree
targets from XGBoost fits on noise. The mixture weights and ranges here were chosen for a
small model trained in about an hour on a CPU and are recorded in :data:`MIXTURE`.

Every table is a function of a ``numpy.random.Generator`` only, so a training run is
reproducible from its seed and step number.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Prior weights by task (they sum to 1).
MIXTURE = {
    "classification": {"mlp": 0.4, "tree": 0.3, "cluster": 0.3},
    "regression": {"mlp": 0.55, "tree": 0.45},
}

_ACTIVATIONS = (
    np.tanh,
    lambda x: np.maximum(x, 0.0),
    np.sin,
    np.abs,
    lambda x: 1.0 / (1.0 + np.exp(-x)),
    lambda x: x,
    lambda x: np.clip(x * x, 0.0, 9.0),
    lambda x: (x > 0).astype(np.float64),
    lambda x: np.log1p(np.abs(x)),
)


@dataclass(frozen=True)
class Shape:
    """How big the tables of one batch are: all share rows and features."""

    n_support: int
    n_query: int
    n_features: int
    max_classes: int


@dataclass(frozen=True)
class Batch:
    """``x`` float32 [B, S+Q, F]; ``y`` int64 class indices (-1: a query row whose class is
    absent from the support set) or float32 targets [B, S+Q]; ``n_classes`` int [B] (0 for
    regression). The first ``n_support`` rows of each table are the support set."""

    x: np.ndarray
    y: np.ndarray
    n_support: int
    n_classes: np.ndarray


def _standardise(v: np.ndarray) -> np.ndarray:
    std = v.std(axis=0)
    return (v - v.mean(axis=0)) / np.where(std > 1e-12, std, 1.0)


def _causes(rng: np.random.Generator, n: int, width: int) -> np.ndarray:
    kind = rng.integers(3)
    if kind == 0:
        return rng.normal(size=(n, width))
    if kind == 1:
        return rng.uniform(-1.7, 1.7, size=(n, width))
    # A random mixture per column: heavy tails and skew, as real features have.
    out = rng.normal(size=(n, width))
    heavy = rng.random(width) < 0.3
    out[:, heavy] = rng.standard_t(3, size=(n, int(heavy.sum())))
    skew = rng.random(width) < 0.3
    out[:, skew] = rng.exponential(size=(n, int(skew.sum())))
    return out


def mlp_scm(rng: np.random.Generator, n: int, n_features: int, n_outputs: int) -> tuple:
    """Features [n, F] and ``n_outputs`` target units [n, n_outputs] of a random MLP-SCM."""
    n_layers = int(rng.integers(2, 5))
    # Narrow layers keep the target mostly explained by the picked features: a small model
    # learns little from tables whose target is noise to every feature.
    width = int(rng.integers(max(3, n_features // 2), n_features + n_outputs + 6))
    noise = float(np.exp(rng.uniform(np.log(1e-4), np.log(0.1))))
    keep = rng.uniform(0.3, 1.0)
    h = _causes(rng, n, width)
    pool = [h]
    for _ in range(n_layers):
        w = rng.normal(size=(width, width)) / np.sqrt(width * keep)
        w *= rng.random((width, width)) < keep
        act = _ACTIVATIONS[int(rng.integers(len(_ACTIVATIONS)))]
        h = act(h @ w + rng.normal(size=width) * 0.5)
        h = _standardise(h) + rng.normal(scale=noise, size=h.shape)
        pool.append(h)
    units = np.concatenate(pool[1:] if rng.random() < 0.5 else pool, axis=1)
    # Targets come from the later half of the units more often: effects of the causes.
    order = rng.permutation(units.shape[1])
    n_outputs = max(1, min(n_outputs, units.shape[1] // 2))
    targets = units[:, order[:n_outputs]]
    rest = order[n_outputs:]
    picks = rng.choice(rest, size=n_features, replace=len(rest) < n_features)
    return units[:, picks], targets


def tree_function(rng: np.random.Generator, n: int, n_features: int, n_outputs: int) -> tuple:
    """Correlated inputs [n, F] and ``n_outputs`` sums of random trees [n, n_outputs]."""
    if rng.random() < 0.5:
        mix = rng.normal(size=(n_features, n_features)) * rng.uniform(0, 1)
        x = rng.normal(size=(n, n_features)) @ (np.eye(n_features) + mix)
    else:
        x = _causes(rng, n, n_features)
    relevant = rng.random(n_features) < rng.uniform(0.3, 1.0)
    relevant[rng.integers(n_features)] = True
    columns = np.flatnonzero(relevant)
    outputs = np.zeros((n, n_outputs))
    rows = np.arange(n)
    for j in range(n_outputs):
        for _ in range(int(rng.integers(1, 9))):
            depth = int(rng.integers(1, 7))
            node = np.zeros(n, dtype=np.int64)
            for level in range(depth):
                width = 1 << level
                features = rng.choice(columns, size=width)
                thresholds = x[rng.integers(n, size=width), features]
                node = 2 * node + (x[rows, features[node]] > thresholds[node])
            outputs[:, j] += rng.normal(size=1 << depth)[node]
    return x, outputs + rng.normal(scale=rng.uniform(0, 0.2), size=outputs.shape)


def cluster_classes(rng: np.random.Generator, n: int, n_features: int, k: int) -> tuple:
    """Features [n, F] and class indices [n] of Gaussian prototypes, one to three per class."""
    informative = max(1, int(round(n_features * rng.uniform(0.3, 1.0))))
    per_class = int(rng.integers(1, 4))
    spread = rng.uniform(0.5, 3.0)
    prototypes = rng.normal(scale=spread, size=(k, per_class, informative))
    weights = rng.dirichlet(np.full(k, rng.uniform(1.0, 10.0)))
    y = rng.choice(k, size=n, p=weights)
    y[:k] = rng.permutation(k)  # every class at least once
    centre = prototypes[y, rng.integers(per_class, size=n)]
    scale = rng.uniform(0.3, 1.5, size=(k, informative))
    x = rng.normal(size=(n, n_features))
    x[:, :informative] = centre + x[:, :informative] * scale[y]
    return x[:, rng.permutation(n_features)], y


def _classes_from(rng: np.random.Generator, targets: np.ndarray, k: int) -> np.ndarray:
    if targets.shape[1] >= k and rng.random() < 0.5:
        return np.argmax(_standardise(targets[:, :k]) * rng.uniform(0.5, 2.0, k), axis=1)
    levels = np.sort(rng.uniform(0.0, 1.0, size=k - 1))
    return np.searchsorted(np.quantile(targets[:, 0], levels), targets[:, 0])


def _quantise(rng: np.random.Generator, x: np.ndarray) -> np.ndarray:
    """Some columns cut to a few integer levels, as counts, ratings and categories are."""
    for j in np.flatnonzero(rng.random(x.shape[1]) < 0.25):
        levels = int(rng.integers(2, 21))
        edges = np.quantile(x[:, j], np.sort(rng.uniform(0, 1, size=levels - 1)))
        x[:, j] = np.searchsorted(edges, x[:, j])
    return x


def _index_classes(rng: np.random.Generator, y: np.ndarray, n_support: int) -> tuple:
    """Classes renumbered 0..K-1 in random order by those present in the support set;
    query rows of a class the support set lacks become -1."""
    present = np.unique(y[:n_support])
    code = np.full(int(y.max()) + 1, -1, dtype=np.int64)
    code[present] = rng.permutation(len(present))
    return code[y], len(present)


def sample_table(
    rng: np.random.Generator, shape: Shape, task: str
) -> tuple[np.ndarray, np.ndarray, int]:
    """One table ``(x float32 [S+Q, F], y, n_classes)``, see :class:`Batch`."""
    n, f = shape.n_support + shape.n_query, shape.n_features
    weights = MIXTURE[task]
    prior = rng.choice(list(weights), p=list(weights.values()))
    if task == "regression":
        make = mlp_scm if prior == "mlp" else tree_function
        x, targets = make(rng, n, f, 1)
        y = _standardise(targets[:, 0])
        return _quantise(rng, x).astype(np.float32), y.astype(np.float32), 0

    k = int(rng.integers(2, shape.max_classes + 1))
    if prior == "cluster":
        x, y = cluster_classes(rng, n, f, k)
    else:
        make = mlp_scm if prior == "mlp" else tree_function
        x, targets = make(rng, n, f, k)
        y = _classes_from(rng, targets, k)
    if rng.random() < 0.3:
        flip = rng.random(n) < rng.uniform(0.0, 0.1)
        y = np.where(flip, rng.integers(k, size=n), y)
    order = rng.permutation(n)  # support rows are a random sample of the table
    x, y = _quantise(rng, x)[order], y[order]
    y, n_classes = _index_classes(rng, y, shape.n_support)
    return x.astype(np.float32), y, n_classes


def sample_shape(rng: np.random.Generator, *, easy: bool, max_classes: int = 10,
                 max_features: int = 64, max_support: int = 512) -> Shape:
    """Table sizes for one batch; ``easy`` tables are small, narrow and have few classes.

    Training only starts to learn once about half the batches are easy ones.
    """
    if easy:
        return Shape(int(rng.integers(16, 97)), int(rng.integers(16, 65)),
                     int(rng.integers(1, 6)), min(3, max_classes))
    features = int(np.exp(rng.uniform(0.0, np.log(max_features + 0.99))))
    support = int(np.exp(rng.uniform(np.log(32), np.log(max_support + 0.99))))
    query = int(rng.integers(16, min(256, support) + 1))
    return Shape(support, query, max(1, features), max_classes)


def sample_batch(rng: np.random.Generator, shape: Shape, n_tables: int, task: str) -> Batch:
    tables = [sample_table(rng, shape, task) for _ in range(n_tables)]
    x = np.stack([t[0] for t in tables])
    y = np.stack([t[1] for t in tables])
    return Batch(x, y, shape.n_support, np.array([t[2] for t in tables]))
