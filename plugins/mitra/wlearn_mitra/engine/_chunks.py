"""Query chunking under a memory budget, and progress reporting.

Query rows never interact in Tab2D (each attends to the support rows and to its own features
only), so any split of the query set gives the same rows back, bit for bit, provided no chunk
is a single row (:func:`padded`); only the peak memory changes.
"""

from __future__ import annotations

import sys
import warnings
from typing import TYPE_CHECKING, Any, Callable, Iterator

import numpy as np

from wlearn.errors import ValidationError

from ..exceptions import user_stacklevel
from .._hints import install_hint

if TYPE_CHECKING:
    from ..graphs._onnxinfo import ModelShape

#: Query-side memory of one chunk when no budget is given (MB, on top of the weights).
DEFAULT_MEMORY_MB = 1024

#: The bucketing step compares every value with 999 quantiles.
N_QUANTILES = 999


def bytes_per_query_row(shape: ModelShape, n_support: int, n_features: int) -> int:
    """A deliberately generous estimate of the activation bytes one query row costs.

    Per row: the (F+1) token states and MLP hidden layers (``dim`` and ``4 dim`` wide, a few
    alive at once), the row-attention scores against every support row (one per head and
    feature, plus the softmax's copy), and the quantile comparison of the embedding step.
    Calibrated against measured peaks of ONNX Runtime on the full-size model
    (see bench/README.md), where it errs on the high side.
    """
    tokens = n_features + 1
    states = tokens * shape.dim * 4 * 24
    scores = tokens * shape.n_heads * max(n_support, 1) * 4 * 3
    bucket = max(n_features, 1) * N_QUANTILES * 9
    return states + scores + bucket


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


Progress = Callable[[int, int], Any]


class Reporter:
    """Calls ``progress(done, total)`` and/or drives a tqdm bar.

    ``progress`` may be None (silent), a callable, or True (a tqdm bar on stderr; without tqdm
    installed, a warning saying so, and no bar).
    """

    def __init__(
        self, progress: "Progress | bool | None", total: int, desc: str, members: int = 1
    ) -> None:
        self.total = total
        # The bar counts query rows (a row is done when every member has run it); the
        # callback counts each row once per member, as before.
        self.members = max(int(members), 1)
        self.callback: Progress | None = None
        self.bar = None
        if progress is True:
            try:
                from tqdm.auto import tqdm
            except ImportError:
                tqdm = None
                warnings.warn(
                    f"progress=True draws a tqdm bar, but tqdm is not installed: "
                    f"{install_hint('progress')}. Predicting without a progress bar.",
                    UserWarning, stacklevel=user_stacklevel(),
                )
            if tqdm is not None:
                if self.members > 1:
                    desc = f"{desc} ({self.members} members)"
                self.bar = tqdm(total=total // self.members, desc=desc, unit="row",
                                file=sys.stderr)
        elif callable(progress):
            self.callback = progress
        elif progress not in (None, False):
            raise ValidationError("progress must be None, True or a callable(done, total)")
        self.done = 0

    def advance(self, rows: int) -> None:
        self.done += rows
        if self.bar is not None:
            self.bar.update(self.done // self.members - self.bar.n)
        if self.callback is not None:
            self.callback(self.done, self.total)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()

    def __enter__(self) -> "Reporter":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
