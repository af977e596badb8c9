"""Which training rows become the support set.

Two rules for a classifier (``support_selection``): ``"stratified"`` (the default) keeps each
class's share of the training rows; ``"balanced"`` keeps the same number of rows per class,
exactly the rows @wlearn/mitra 0.1.0 picks (its bundles, byte for byte). A regressor keeps a
uniform random sample of rows, as @wlearn/mitra does.
"""

from __future__ import annotations

import math

import numpy as np

from wlearn.errors import ValidationError
from wlrn.rng import make_lcg, shuffle

#: The support selection rules a classifier takes, the default first.
SUPPORT_SELECTIONS = ("stratified", "balanced")


def check_support_selection(value: object) -> str:
    """``value`` if it is one of :data:`SUPPORT_SELECTIONS`, else a ValidationError."""
    if not isinstance(value, str) or value not in SUPPORT_SELECTIONS:
        raise ValidationError(f"support_selection must be one of {SUPPORT_SELECTIONS}, got "
                              f"{value!r}")
    return value


def stratified_counts(counts: np.ndarray, budget: int) -> np.ndarray:
    """Rows to keep from each class: ``budget`` rows shared in proportion to ``counts`` (int
    [K], each >= 1, summing to more than ``budget``), every class at least one row when
    ``budget >= K``.

    Each class's quota ``budget * count / total`` is rounded down and the rows left over go to
    the largest remainders (Hamilton's method; ties to the larger class, then the lower class
    index). A class left with no row then takes one from the class holding the most (ties:
    the higher class index). With ``budget < K`` the ``budget`` largest classes (ties: the
    lower class index) get one row each.
    """
    counts = np.asarray(counts, dtype=np.int64)
    k = len(counts)
    index = np.arange(k)
    if budget < k:
        out = np.zeros(k, dtype=np.int64)
        out[np.lexsort((index, -counts))[:budget]] = 1
        return out
    total = int(counts.sum())
    # Exact integer arithmetic (no float rounding decides a row).
    out = (counts * budget) // total
    remainder = counts * budget - out * total
    out[np.lexsort((index, -counts, -remainder))[: budget - int(out.sum())]] += 1
    for c in np.flatnonzero(out == 0):
        donor = int(np.lexsort((-index, -out))[0])
        out[donor] -= 1
        out[c] = 1
    return out


def select_support(
    n_rows: int, max_support: int | float, seed: float, strata: np.ndarray | None = None,
    selection: str = "balanced",
) -> np.ndarray:
    """Row indices of the support set, ascending.

    With ``n_rows <= max_support`` every row is kept. Otherwise one ``make_lcg(seed)``
    generator drives Fisher-Yates shuffles. Without ``strata`` (a regressor) all rows are
    shuffled and the first ``max_support`` kept. With ``strata`` (each row's class index, for
    a classifier) the classes are visited in ascending order, each class's rows are shuffled
    and its first ``n_c`` rows kept, where ``n_c`` is:

    - ``selection="balanced"`` (@wlearn/mitra's rule): ``max_support // K``, one more for the
      first ``max_support % K`` classes (a smaller class gives all its rows);
    - ``selection="stratified"``: the class's share of ``floor(max_support)`` rows, at least
      one row per class (:func:`stratified_counts`).
    """
    if n_rows <= max_support:
        return np.arange(n_rows, dtype=np.int64)
    rng = make_lcg(seed)
    if strata is None:
        # JS slice(0, maxSupport) truncates a fractional bound.
        picked = shuffle(list(range(n_rows)), rng)[: int(max_support)]
    else:
        strata = np.asarray(strata)
        labels, counts = np.unique(strata, return_counts=True)
        if check_support_selection(selection) == "stratified":
            keep = stratified_counts(counts, int(max_support)).tolist()
        else:
            # JS arithmetic, which a fractional max_support (100.5) also goes through.
            per_class = math.floor(max_support / len(labels))
            extra = max_support - per_class * len(labels)
            keep = [per_class + (1 if c < extra else 0) for c in range(len(labels))]
        picked = []
        for c, label in enumerate(labels):
            rows = shuffle(np.flatnonzero(strata == label).tolist(), rng)
            picked += rows[: keep[c]]
    if any(i is None for i in picked):
        # The generator returned exactly 1.0 (one state in 2^31) and the JavaScript shuffle
        # left a hole: @wlearn/mitra would store a row of NaN. Refuse rather than copy that.
        raise ValidationError(f"seed {seed!r} hits a flaw of the JavaScript shuffle for "
                              f"{n_rows} rows; choose another seed")
    return np.sort(np.asarray(picked, dtype=np.int64))
