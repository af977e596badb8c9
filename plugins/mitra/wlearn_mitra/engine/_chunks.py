"""Private: query chunks. Query rows never interact in Tab2D (each attends to the support rows
and to its own features only), so any split of the query set gives the same rows back, bit for
bit, provided no chunk is a single row (:func:`padded`); only the peak memory changes (how many
rows a chunk holds is the memory plan's, :mod:`._planning`).
"""

from __future__ import annotations

from typing import Iterator

import numpy as np


#: Fewest rows a query chunk is run with. ONNX Runtime multiplies a lone row with its
#: matrix-vector kernels, which round differently (up to 4e-5 relative, measured) from the
#: matrix kernels every chunk of two rows or more goes through; from two rows on, a row's
#: output is bit-identical whatever rows share its chunk (measured for chunks of 2 to 63
#: rows, single graph and split pair, 1 and 2 threads; tests/mitra/test_row_invariance.py).
MIN_CHUNK_ROWS = 2


def padded(x_query: np.ndarray) -> np.ndarray:
    """``x_query`` [Q, F] with its last row repeated up to :data:`MIN_CHUNK_ROWS` rows; the
    caller keeps the first Q outputs."""
    missing = MIN_CHUNK_ROWS - len(x_query)
    if len(x_query) and missing > 0:
        return np.concatenate([x_query, np.repeat(x_query[-1:], missing, axis=0)])
    return x_query


def chunks(n_rows: int, size: int) -> Iterator[slice]:
    """Consecutive slices of at most ``size`` rows, as even as possible.

    Even sizes avoid a last chunk of one or two rows: it would cost a whole support pass
    for nothing.
    """
    n_chunks = -(-n_rows // size)
    start = 0
    for i in range(n_chunks):
        stop = start + n_rows // n_chunks + (i < n_rows % n_chunks)
        yield slice(start, stop)
        start = stop
