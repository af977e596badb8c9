"""Which training rows become the support set: exactly the rows @wlearn/mitra picks."""

from __future__ import annotations

import math

import numpy as np

from wlearn.errors import ValidationError
from wlrn.rng import make_lcg, shuffle


def select_support(
    n_rows: int, max_support: int | float, seed: float, strata: np.ndarray | None = None
) -> np.ndarray:
    """Row indices of the support set, ascending.

    With ``n_rows <= max_support`` every row is kept. Otherwise one ``make_lcg(seed)``
    generator drives Fisher-Yates shuffles: with ``strata`` (each row's class index, for a
    classifier) the classes are visited in ascending order, each class's rows are shuffled
    and its first ``max_support // K`` kept, one more for the first ``max_support % K``
    classes (a smaller class gives all its rows); without ``strata`` (a regressor) all rows
    are shuffled and the first ``max_support`` kept.
    """
    if n_rows <= max_support:
        return np.arange(n_rows, dtype=np.int64)
    rng = make_lcg(seed)
    if strata is None:
        # JS slice(0, maxSupport) truncates a fractional bound.
        picked = shuffle(list(range(n_rows)), rng)[: int(max_support)]
    else:
        strata = np.asarray(strata)
        labels = np.unique(strata)
        # JS arithmetic, which a fractional max_support (100.5) also goes through.
        per_class = math.floor(max_support / len(labels))
        extra = max_support - per_class * len(labels)
        picked = []
        for c, label in enumerate(labels):
            rows = shuffle(np.flatnonzero(strata == label).tolist(), rng)
            picked += rows[: per_class + (1 if c < extra else 0)]
    if any(i is None for i in picked):
        # The generator returned exactly 1.0 (one state in 2^31) and the JavaScript shuffle
        # left a hole: @wlearn/mitra would store a row of NaN. Refuse rather than copy that.
        raise ValidationError(f"seed {seed!r} hits a flaw of the JavaScript shuffle for "
                              f"{n_rows} rows; choose another seed")
    return np.sort(np.asarray(picked, dtype=np.int64))
