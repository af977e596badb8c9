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

Every table is a function of a ``numpy.random.Generator`` and the prior version only, so a
training run is reproducible from its seed, step number and ``prior`` setting.

Versions (a run records its version; an old run keeps drawing the tables it was trained on):

* ``1``: the mixture above.
* ``2`` adds what real tables have and version 1 lacks (issue 19's benchmark: 45 real tables
  from R packages), each as the estimators would present it to the model:

  - a ``linear`` prior (a sparse linear function of correlated inputs, sometimes with a mild
    nonlinearity), because a plain logistic regression leads the real tables;
  - categorical columns, ordered (quantile cut points of a feature) or unordered (the levels
    in a random order, as sorting category names orders them), 2 to 64 levels, fed as the
    codes :mod:`wlearn_mitra.inputs._categories` produces: the position of the level among the
    levels present in the support rows; levels the support lacks become missing;
  - lookup and identifier-like columns: a categorical column, up to one level per two rows,
    whose level adds its own random effect to the target (a brood code, a rater's id);
  - missing values that carry information: per column, missing completely at random, or
    with a probability that rises with the column's own value or with the target (MNAR);
    then imputed with the support column's mean, as :mod:`wlearn_mitra.engine._preprocess` does
    (the estimators add no indicator column, so neither does the prior);
  - imbalanced classes: class shares drawn from a Dirichlet with concentration 0.3-10, in
    the ordinal and the argmax (per-class bias) class rules alike;
  - 3-10 classes weighted up: two classes in 20% of tables, 3..max classes uniformly in
    the rest (version 1: 2..max uniformly);
  - regression targets of many shapes: right or left skewed, heavy-tailed, bounded,
    censored at a floor (zero-inflated), discrete, and with noise that grows with the
    target.

  Heavy-tailed and skewed *features* are already in version 1's causes; the model reads
  each feature through the support set's quantiles (``convert/tab2d.py``), so a monotone
  transform of a column changes nothing it sees, and version 2 does not add more of them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Prior weights by task (they sum to 1), version 1.
MIXTURE = {
    "classification": {"mlp": 0.4, "tree": 0.3, "cluster": 0.3},
    "regression": {"mlp": 0.55, "tree": 0.45},
}
#: Prior weights by task, version 2.
MIXTURE_V2 = {
    "classification": {"mlp": 0.3, "tree": 0.25, "cluster": 0.25, "linear": 0.2},
    "regression": {"mlp": 0.4, "tree": 0.35, "linear": 0.25},
}
#: The prior versions :func:`sample_batch` draws (see the module docstring).
VERSIONS = (1, 2)
#: The version new runs use.
LATEST = 2

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


def _sample_table_v1(
    rng: np.random.Generator, shape: Shape, task: str
) -> tuple[np.ndarray, np.ndarray, int]:
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


def linear_function(rng: np.random.Generator, n: int, n_features: int, n_outputs: int) -> tuple:
    """Correlated inputs [n, F] and ``n_outputs`` sparse linear functions of them [n, n_outputs],
    sometimes with a mild nonlinearity, plus Gaussian noise."""
    if rng.random() < 0.5:
        mix = rng.normal(size=(n_features, n_features)) * rng.uniform(0, 0.7)
        x = rng.normal(size=(n, n_features)) @ (np.eye(n_features) + mix)
    else:
        x = _causes(rng, n, n_features)
    x = _standardise(x)
    w = rng.normal(size=(n_features, n_outputs))
    w *= rng.random((n_features, n_outputs)) < rng.uniform(0.2, 1.0)
    w[rng.integers(n_features, size=n_outputs), np.arange(n_outputs)] += rng.choice([-1, 1], n_outputs)
    out = _standardise(x @ w)
    if rng.random() < 0.3:
        w2 = rng.normal(size=(n_features, n_outputs)) / np.sqrt(n_features)
        out += rng.uniform(0.1, 0.5) * np.tanh(x @ w2 * rng.uniform(0.5, 2.0))
    return x, out + rng.normal(scale=rng.uniform(0.0, 0.6), size=out.shape)


def _lookup(rng: np.random.Generator, x: np.ndarray, targets: np.ndarray) -> tuple:
    """Replace one or two columns of ``x`` by level ids whose levels add a random effect to
    every target: a lookup table, identifier-like when the levels are many. Returns
    ``(x, targets, nominal)``, ``nominal`` the replaced columns (unordered levels)."""
    n, f = x.shape
    nominal = []
    for column in rng.choice(f, size=min(f, int(rng.integers(1, 3))), replace=False):
        if rng.random() < 0.5:  # identifier-like: a few rows per level
            levels = max(2, int(n / rng.uniform(2.0, 8.0)))
        else:
            levels = int(np.exp(rng.uniform(np.log(2), np.log(30))))
        share = rng.dirichlet(np.full(levels, rng.uniform(0.5, 5.0)))
        level = rng.choice(levels, size=n, p=share)
        effect = rng.normal(size=(levels, targets.shape[1]))
        strength = np.exp(rng.uniform(np.log(0.3), np.log(3.0)))
        targets = targets + strength * targets.std(axis=0) * effect[level]
        x[:, column] = level
        nominal.append(int(column))
    return x, targets, nominal


def _category_codes(values: np.ndarray, n_support: int) -> np.ndarray:
    """The codes :mod:`wlearn_mitra.inputs._categories` feeds for a category column: each value's
    position among the distinct values of the support rows (sorted); a value absent from
    the support rows becomes NaN."""
    present = np.unique(values[:n_support])
    position = np.searchsorted(present, values)
    found = (position < len(present)) & (present[np.minimum(position, len(present) - 1)] == values)
    return np.where(found, position, np.nan)


def _categorical(rng: np.random.Generator, x: np.ndarray, nominal: list, n_support: int) -> np.ndarray:
    """Some columns cut into 2-64 levels, ordered or in a random order; then every category
    column (these and the ``nominal`` lookup columns) fed as the estimators code it."""
    n, f = x.shape
    rate = rng.uniform(0.1, 0.6) if rng.random() < 0.5 else 0.0
    for j in np.flatnonzero(rng.random(f) < rate):
        if j in nominal:
            continue
        levels = int(np.exp(rng.uniform(np.log(2), np.log(64))))
        edges = np.quantile(x[:, j], np.sort(rng.uniform(0, 1, size=levels - 1)))
        level = np.searchsorted(edges, x[:, j])
        if rng.random() < 0.6:  # unordered: the codes follow the level names, not the effect
            level = rng.permutation(levels)[level]
        x[:, j] = _category_codes(level, n_support)
    for j in nominal:
        level = x[:, j].astype(np.int64)
        x[:, j] = _category_codes(rng.permutation(int(level.max()) + 1)[level], n_support)
    return x


def _missing(rng: np.random.Generator, x: np.ndarray, signal: np.ndarray, n_support: int) -> np.ndarray:
    """NaN in some columns: completely at random, more often where the column's own value is
    high (or low), or more often for some target values (``signal`` [n], standardised)."""
    if rng.random() >= 0.4:
        return x
    n, f = x.shape
    for j in np.flatnonzero(rng.random(f) < rng.uniform(0.1, 0.7)):
        base = np.log(rng.uniform(0.02, 0.5))  # log-odds offset
        kind = rng.integers(3)
        if kind == 0:
            logit = np.full(n, base)
        else:
            driver = signal if kind == 1 else _standardise(np.nan_to_num(x[:, j]))
            logit = base + rng.choice([-1, 1]) * rng.uniform(0.5, 3.0) * driver
        drop = rng.random(n) < 1.0 / (1.0 + np.exp(-logit))
        if np.sum(~drop[:n_support] & ~np.isnan(x[:n_support, j])) >= 2:
            x[drop, j] = np.nan
    return x


def _impute(x: np.ndarray, n_support: int) -> np.ndarray:
    """NaN replaced by the support column's mean (:mod:`wlearn_mitra.engine._preprocess`); a column
    with no value in the support rows becomes 0 (the model then sees a constant)."""
    nan = np.isnan(x)
    if not nan.any():
        return x
    seen = ~nan[:n_support]
    means = np.where(seen, x[:n_support], 0.0).sum(axis=0) / np.maximum(seen.sum(axis=0), 1)
    return np.where(nan, means[None, :], x)


def _class_shares(rng: np.random.Generator, k: int) -> np.ndarray:
    return rng.dirichlet(np.full(k, np.exp(rng.uniform(np.log(0.3), np.log(10.0)))))


def _classes_from_v2(rng: np.random.Generator, targets: np.ndarray, k: int) -> np.ndarray:
    """Ordinal cuts at class shares drawn from a Dirichlet, or the argmax of ``k`` target
    units with per-class biases: imbalanced classes in both rules."""
    if targets.shape[1] >= k and rng.random() < 0.5:
        scores = _standardise(targets[:, :k]) * rng.uniform(0.5, 2.0, k)
        return np.argmax(scores + rng.normal(scale=rng.uniform(0.0, 1.5), size=k), axis=1)
    cuts = np.cumsum(_class_shares(rng, k))[:-1]
    return np.searchsorted(np.quantile(targets[:, 0], cuts), targets[:, 0])


def _target_shape(rng: np.random.Generator, y: np.ndarray) -> np.ndarray:
    """A standardised regression target given one of several shapes."""
    y = _standardise(y)
    kind = rng.choice(8, p=[0.3, 0.15, 0.05, 0.1, 0.1, 0.1, 0.1, 0.1])
    a = rng.uniform(0.3, 1.5)
    if kind == 1:  # right skewed (log-normal-like: prices, incomes)
        y = np.exp(a * y)
    elif kind == 2:  # left skewed
        y = -np.exp(-a * y)
    elif kind == 3:  # heavy-tailed
        y = np.sinh(a * 1.5 * y)
    elif kind == 4:  # bounded (rates, shares)
        y = 1.0 / (1.0 + np.exp(-2.0 * a * y))
    elif kind == 5:  # censored at a floor (zero-inflated amounts)
        y = np.maximum(y, np.quantile(y, rng.uniform(0.1, 0.6)))
    elif kind == 6:  # discrete (counts, ratings)
        levels = int(rng.integers(3, 21))
        y = np.round((y - y.min()) / max(np.ptp(y), 1e-12) * (levels - 1))
    elif kind == 7:  # noise growing with the target
        y = y + rng.uniform(0.2, 1.0) * np.abs(y) * rng.normal(size=y.shape)
    return _standardise(y)


_MAKERS = {"mlp": mlp_scm, "tree": tree_function, "linear": linear_function}


def _sample_table_v2(
    rng: np.random.Generator, shape: Shape, task: str
) -> tuple[np.ndarray, np.ndarray, int]:
    n, f, s = shape.n_support + shape.n_query, shape.n_features, shape.n_support
    weights = MIXTURE_V2[task]
    prior = rng.choice(list(weights), p=list(weights.values()))
    if task == "regression":
        x, targets = _MAKERS[prior](rng, n, f, 1)
        nominal = []
        if rng.random() < 0.3:
            x, targets, nominal = _lookup(rng, x, targets)
        y = _target_shape(rng, targets[:, 0])
        signal = y
    else:
        k = 2 if rng.random() < 0.2 else int(rng.integers(min(3, shape.max_classes), shape.max_classes + 1))
        nominal = []
        if prior == "cluster":
            x, y = cluster_classes(rng, n, f, k)
        else:
            x, targets = _MAKERS[prior](rng, n, f, k)
            if rng.random() < 0.3:
                x, targets, nominal = _lookup(rng, x, targets)
            y = _classes_from_v2(rng, targets, k)
        if rng.random() < 0.3:
            flip = rng.random(n) < rng.uniform(0.0, 0.1)
            y = np.where(flip, rng.integers(k, size=n), y)
        order = rng.permutation(n)  # support rows are a random sample of the table
        x, y = x[order], y[order]
        signal = rng.normal(size=k)[y]  # each class its own missingness tendency
    numeric = [j for j in range(f) if j not in nominal]
    x[:, numeric] = _quantise(rng, x[:, numeric])
    x = _categorical(rng, x, nominal, s)
    x = _impute(_missing(rng, x, signal, s), s)
    if task == "regression":
        return x.astype(np.float32), y.astype(np.float32), 0
    y, n_classes = _index_classes(rng, y, s)
    return x.astype(np.float32), y, n_classes


def sample_table(
    rng: np.random.Generator, shape: Shape, task: str, version: int = 1
) -> tuple[np.ndarray, np.ndarray, int]:
    """One table ``(x float32 [S+Q, F], y, n_classes)`` of prior ``version``, see
    :class:`Batch`. Raises ``ValueError`` for an unknown version."""
    if version == 1:
        return _sample_table_v1(rng, shape, task)
    if version == 2:
        return _sample_table_v2(rng, shape, task)
    raise ValueError(f"prior version must be one of {VERSIONS}, not {version!r}")


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


def sample_batch(rng: np.random.Generator, shape: Shape, n_tables: int, task: str,
                 version: int = 1) -> Batch:
    """``n_tables`` tables of one ``shape`` from prior ``version``."""
    tables = [sample_table(rng, shape, task, version) for _ in range(n_tables)]
    x = np.stack([t[0] for t in tables])
    y = np.stack([t[1] for t in tables])
    return Batch(x, y, shape.n_support, np.array([t[2] for t in tables]))
