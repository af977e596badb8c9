"""Value bins of a bin-head Mitra regressor (Mitra-v2's ``autogluon/mitra-regressor-2``).

A bin-head regressor treats regression as classification over ``n_bins`` value bins of the
min-max scaled target (AutoGluon 1.6.3's ``regression_loss=CROSS_ENTROPY`` path,
``_internal/core/trainer_finetune.py``):

* edges: ``torch.linspace(-0.5, 1.5, n_bins + 1)`` in float32 (:func:`edges`, reproduced bit
  for bit without torch: torch's CPU kernel computes ``start + step * i`` for the first half
  and ``end - step * (n - i)`` for the second, each a fused multiply-add in float32);
* support targets, scaled to [0, 1] and cast to float32, become bin ids
  ``bucketize(y, edges) - 1`` clamped to ``0 .. n_bins - 1`` (:func:`bin_ids`), fed to the
  graph as int64 class ids;
* a query row's logits over the bins are a categorical distribution; the released recipe
  (``mitra-finetune``'s ``install_reg_ce_patches``) decodes it by the softmax-weighted mean
  of the bin centres ``edges[:-1] + (edges[1] - edges[0]) / 2`` (:func:`centres`,
  :func:`mean`).

An ensemble member that mirrors the targets (``y -> 1 - y``) sees bin ``i`` where the caller's
scale has bin ``n_bins - 1 - i``: the edges are symmetric about 0.5 (``1 - e[k] = e[n - k]``
exactly in real arithmetic; float32 rounding moves an edge by at most one unit in the last
place), so the member's probabilities are read back reversed (:func:`unmirror`).
"""

from __future__ import annotations

import numpy as np

from wlearn.errors import ValidationError

#: The scaled-target range the bins cover (AutoGluon's fixed choice).
LOW, HIGH = -0.5, 1.5
#: Bins beyond this are refused (a graph declaring more is not a Mitra regressor).
MAX_BINS = 1 << 20


def check_n_bins(n_bins: object) -> int:
    """``n_bins`` as an int in 2..MAX_BINS, else ValidationError."""
    if isinstance(n_bins, bool) or not isinstance(n_bins, (int, np.integer)):
        raise ValidationError(f"the number of target bins must be an integer, got {n_bins!r}")
    if not 2 <= n_bins <= MAX_BINS:
        raise ValidationError(f"the number of target bins must be in 2..{MAX_BINS}, got {n_bins}")
    return int(n_bins)


def edges(n_bins: int) -> np.ndarray:
    """float32 [n_bins + 1]: ``torch.linspace(-0.5, 1.5, n_bins + 1)`` bit for bit.

    A product of two float32 values is exact in float64, so adding in float64 and rounding
    once to float32 gives the fused multiply-add torch's kernel does.
    """
    steps = check_n_bins(n_bins) + 1
    start, end = np.float32(LOW), np.float32(HIGH)
    step = np.float64((end - start) / np.float32(steps - 1))  # float32 division, as torch
    index = np.arange(steps, dtype=np.float64)
    first = np.float64(start) + step * index
    second = np.float64(end) - step * (steps - 1 - index)
    return np.where(index < steps // 2, first, second).astype(np.float32)


def centres(n_bins: int) -> np.ndarray:
    """float32 [n_bins]: ``edges[:-1] + (edges[1] - edges[0]) / 2`` in float32, as AutoGluon's
    trainer (``bins[:-1] + bin_width / 2``) computes them."""
    e = edges(n_bins)
    half_width = np.float32((e[1] - e[0]) / np.float32(2))
    return (e[:-1] + half_width).astype(np.float32)


def bin_ids(y_scaled: np.ndarray, n_bins: int) -> np.ndarray:
    """int64 bin ids of min-max scaled targets: ``torch.bucketize(y, edges) - 1`` (the
    number of edges strictly below ``y``, minus one), clamped to ``0 .. n_bins - 1``.

    ``y_scaled`` is cast to float32 first, as AutoGluon's trainer feeds it.
    """
    y = np.asarray(y_scaled, dtype=np.float32)
    ids = np.searchsorted(edges(n_bins), y, side="left").astype(np.int64) - 1
    return np.clip(ids, 0, n_bins - 1)


def unmirror(probabilities: np.ndarray) -> np.ndarray:
    """Probabilities [..., n_bins] of a member fed ``1 - y``, in the caller's bin order."""
    return probabilities[..., ::-1]


#: Rows of [rows, n_bins] float64 worked on at a time (32 MB at 1,000 bins): what the
#: readouts of a distribution add to the probabilities themselves.
ROWS = 4096


def weighted_sum(probabilities: np.ndarray, values: np.ndarray) -> np.ndarray:
    """float64 [rows]: ``sum(probabilities * values)`` over the bins, row by row, so a row's
    result is the same bit for bit whatever rows are computed with it (a matrix product's
    rounding depends on how many rows BLAS is handed), :data:`ROWS` rows at a time."""
    p = np.asarray(probabilities, dtype=np.float64).reshape(-1, np.shape(probabilities)[-1])
    v = np.asarray(values, dtype=np.float64)
    out = np.empty(len(p))
    for start in range(0, len(p), ROWS):
        block = np.ascontiguousarray(p[start:start + ROWS])
        out[start:start + len(block)] = np.multiply(block, v).sum(axis=-1)
    return out.reshape(np.shape(probabilities)[:-1])


def mean(probabilities: np.ndarray) -> np.ndarray:
    """float64 [...]: the softmax-weighted mean of the bin centres, in the scaled target
    (the released decode of ``mitra-finetune``), from probabilities [..., n_bins]."""
    return weighted_sum(probabilities, centres(np.shape(probabilities)[-1]))
