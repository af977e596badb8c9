"""Target statistics of key columns (``target_encoding``; spec/mitra.md "Target encoding").

A key column is one whose support values are all whole numbers (category codes, ids, counts,
coded answers) taking between :data:`MIN_LEVELS` and half as many distinct values as there are
support rows. A tree reads a target that is a lookup of such a column (a school class that
fixes the grouping, a child's id, a species that fixes the leaf's shape) by splitting on
it; an in-context model sees the column through one number per cell and finds exact matches
among dozens of levels hard. Appending, for each key column, the support targets' mean at
each row's level hands the model that lookup as an ordinary numeric feature.

The statistics are out-of-fold for the support rows (support row ``i`` is in fold ``i mod``
:data:`FOLDS` and reads the statistics of the other folds, so a row never sees its own
target, as CatBoost's ordered target statistics and scikit-learn's ``TargetEncoder`` cross
fitting avoid), and from every support row for the query rows. Each is smoothed toward the
mean over the rows it is computed from: ``(sum + SMOOTHING * mean) / (count + SMOOTHING)``;
a level absent from those rows (or NaN, a level of its own) gets the mean. What is averaged:
a regressor's targets (in the scale the model is fed), a binary classifier's indicator of
class 1, and one indicator per class for 3..10 classes (one appended column per class).

Everything is a function of the support rows, their targets and the query rows, so a bundle
or pickle holding the support set gives the same columns again; nothing is stored.
"""

from __future__ import annotations

import numpy as np

#: Fewest distinct support values of a key column (two are a plain binary feature).
MIN_LEVELS = 3
#: Folds of the support rows' out-of-fold statistics.
FOLDS = 5
#: Weight of the mean in each smoothed statistic, in rows.
SMOOTHING = 1.0
#: The widest rows it makes: key columns are taken in column order while the appended columns
#: keep the rows within this many features (the built-in models' training width; wider rows,
#: digits' 64 pixels, get none).
MAX_WIDTH = 64


def key_columns(support_x: np.ndarray) -> np.ndarray:
    """Indices (int64, ascending) of the key columns of ``support_x`` [S, F]: whole-number
    values (NaN ignored) with ``MIN_LEVELS <= distinct values <= S / 2``."""
    n = len(support_x)
    found = []
    for j in range(support_x.shape[1]):
        values = support_x[:, j]
        values = values[~np.isnan(values)]
        if len(values) == 0 or not np.array_equal(values, np.floor(values)):
            continue
        if MIN_LEVELS <= len(np.unique(values)) <= n / 2:
            found.append(j)
    return np.asarray(found, dtype=np.int64)


def _targets(y_support: np.ndarray, n_classes: int | None) -> np.ndarray:
    """What is averaged, float64 [S, T]: targets (T = 1), class 1's indicator (2 classes) or
    each class's indicator (T = n_classes)."""
    if n_classes is None:
        return np.asarray(y_support, dtype=np.float64)[:, None]
    index = np.asarray(y_support, dtype=np.int64)
    onehot = (index[:, None] == np.arange(n_classes)[None, :]).astype(np.float64)
    return onehot[:, 1:] if n_classes == 2 else onehot


def _keyed(values: np.ndarray) -> np.ndarray:
    """The column's values as level keys, NaN a level of its own (below every number)."""
    return np.where(np.isnan(values), -np.inf, values.astype(np.float64))


def _statistics(levels: np.ndarray, keys: np.ndarray, targets: np.ndarray,
                asked: np.ndarray) -> np.ndarray:
    """Smoothed means of ``targets`` [n, T] by level (``keys`` [n] the rows' positions in
    ``levels``) for the levels at ``asked`` (positions, -1 for a level not in ``levels``)."""
    mean = targets.mean(axis=0)
    counts = np.bincount(keys, minlength=len(levels)).astype(np.float64)
    sums = np.stack([np.bincount(keys, weights=targets[:, t], minlength=len(levels))
                     for t in range(targets.shape[1])], axis=1)
    smoothed = (sums + SMOOTHING * mean) / (counts[:, None] + SMOOTHING)
    out = np.broadcast_to(mean, (len(asked), targets.shape[1])).copy()
    seen = asked >= 0
    out[seen] = smoothed[asked[seen]]
    return out


def _positions(levels: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Each value's position in the sorted ``levels``, -1 when absent."""
    at = np.minimum(np.searchsorted(levels, values), len(levels) - 1)
    return np.where(levels[at] == values, at, -1)


def append(support_x: np.ndarray, y_support: np.ndarray, x_query: np.ndarray,
           n_classes: int | None) -> tuple[np.ndarray, np.ndarray]:
    """``(support_x, x_query)`` with the target statistics of each key column appended
    (after the columns, key column by key column, then target by target), in each array's
    own dtype, as many key columns (in column order) as keep the rows within
    :data:`MAX_WIDTH` features; the inputs unchanged (returned as they are when no key
    column is taken).

    ``support_x`` [S, F], ``y_support`` [S] (float targets as the model is fed them, or class
    indices 0..n_classes-1), ``x_query`` [Q, F]; ``n_classes`` None for a regressor."""
    targets = _targets(y_support, n_classes)
    room = (MAX_WIDTH - support_x.shape[1]) // targets.shape[1]
    if room <= 0 or len(support_x) == 0:  # wide rows: no column is scanned
        return support_x, x_query
    keys = key_columns(support_x)[:room]
    if len(keys) == 0:
        return support_x, x_query
    fold = np.arange(len(support_x)) % FOLDS
    extra_s, extra_q = [], []
    for j in keys:
        column = _keyed(support_x[:, j])
        levels, inverse = np.unique(column, return_inverse=True)
        out_s = np.empty((len(column), targets.shape[1]))
        for f in range(min(FOLDS, len(column))):
            held, rest = fold == f, fold != f
            if not rest.any():  # a single support row: nothing else to read
                out_s[held] = targets.mean(axis=0)
                continue
            rest_levels, rest_keys = np.unique(column[rest], return_inverse=True)
            out_s[held] = _statistics(rest_levels, rest_keys, targets[rest],
                                      _positions(rest_levels, column[held]))
        extra_s.append(out_s)
        extra_q.append(_statistics(levels, inverse, targets,
                                   _positions(levels, _keyed(x_query[:, j]))))
    return (np.hstack([support_x, *(e.astype(support_x.dtype) for e in extra_s)]),
            np.hstack([x_query, *(e.astype(x_query.dtype) for e in extra_q)]))
