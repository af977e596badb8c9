"""Predictive distributions of bin-head Mitra regressors, in the caller's target units.

A bin-head regressor (:mod:`wlearn_mitra.inputs._bins`) gives each query row a probability for
each of
``n_bins`` value bins of the min-max scaled target. :class:`BinnedDistribution` holds them
with the bins' edges scaled back to the caller's units (``low + span * edge``), read as a
histogram density: uniform within each bin, so the CDF is piecewise linear between edges.
Its ``mean`` is the released decode (softmax-weighted mean of the bin centres, computed in
the scaled target and scaled back, exactly as ``MitraRegressor.predict``), its
``quantiles`` invert the piecewise-linear CDF. This is the reading of ``mitra-finetune``'s
``predict_distribution`` histograms and of TabPFN's bar distribution (without its
half-normal tails: Mitra's bins are bounded, covering the support targets' range widened
by half of it on each side).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from wlearn.errors import ValidationError

from ..inputs import _bins

#: Query rows whose CDFs are built and searched at once (as the means are summed).
_ROWS = _bins.ROWS


def _levels(q: object, name: str = "quantiles") -> tuple[np.ndarray, bool]:
    """``q`` as float64 [k] in [0, 1] and whether it was a scalar: one number, or a flat
    sequence of numbers (not booleans, strings or nested sequences)."""
    raw = np.asarray(q, dtype=object) if not isinstance(q, np.ndarray) else q
    if raw.ndim > 1 or raw.dtype.kind in "bUS" or (raw.dtype.kind == "O" and not all(
            isinstance(v, (int, float, np.integer, np.floating))
            and not isinstance(v, (bool, np.bool_)) for v in raw.reshape(-1))):
        raise ValidationError(f"{name} must be numbers in [0, 1] (one, or a flat list of "
                              f"them), got {q!r}")
    try:
        levels = np.asarray(q, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValidationError(f"{name} must be numbers in [0, 1]: {exc}") from None
    scalar = levels.ndim == 0
    levels = levels.reshape(-1)
    if levels.ndim != 1 or not np.all((levels >= 0) & (levels <= 1)):  # also refuses NaN
        raise ValidationError(f"{name} must be numbers in [0, 1], got {q!r}")
    return levels, scalar


def check_coverage(coverage: object) -> float:
    """A central interval's probability, a number strictly between 0 and 1 (a Python or
    numpy number, or a 0-d array of one)."""
    if isinstance(coverage, np.ndarray) and coverage.ndim == 0:
        coverage = coverage[()]
    if isinstance(coverage, (bool, np.bool_)) or not isinstance(
            coverage, (int, float, np.integer, np.floating)):
        raise ValidationError(f"coverage must be a number in (0, 1), got {coverage!r}")
    if not 0 < coverage < 1:
        raise ValidationError(f"coverage must be in (0, 1), got {coverage!r}")
    return float(coverage)


@dataclass(frozen=True, eq=False)
class BinnedDistribution:
    """Per-row predictive distributions over shared value bins.

    Compared and hashed by identity, as arrays are not (compare ``probabilities``, ``low``
    and ``span`` to compare two predictions).

    Attributes
    ----------
    probabilities:
        float64 [rows, n_bins], each row summing to 1 (ensemble members averaged); 8 KB a
        row at 1,000 bins. For constant support targets, a read-only view of one uniform row.
    low, span:
        The min-max scaling of the support targets: the model's scaled target ``s`` is the
        caller's ``low + span * s`` (``span`` is 0 for constant support targets, whose every
        edge is then ``low``).
    """

    probabilities: np.ndarray
    low: float
    span: float

    @property
    def n_bins(self) -> int:
        return self.probabilities.shape[1]

    @property
    def edges(self) -> np.ndarray:
        """float64 [n_bins + 1]: the bin edges in the caller's units, ascending (AutoGluon's
        float32 ``linspace(-0.5, 1.5, n_bins + 1)`` of the scaled target, scaled back)."""
        return self.low + self.span * _bins.edges(self.n_bins).astype(np.float64)

    @property
    def centres(self) -> np.ndarray:
        """float64 [n_bins]: the bin centres (AutoGluon's float32 centres, scaled back)."""
        return self.low + self.span * _bins.centres(self.n_bins).astype(np.float64)

    def mean(self) -> np.ndarray:
        """float64 [rows]: the softmax-weighted mean of the bin centres, what ``predict``
        returns (computed in the scaled target, then scaled back)."""
        if self.span == 0:  # constant support targets: that constant, exactly
            return np.full(len(self.probabilities), self.low)
        return _bins.mean(self.probabilities) * self.span + self.low

    def std(self) -> np.ndarray:
        """float64 [rows]: the standard deviation of the histogram density (each bin uniform
        over its width)."""
        if self.span == 0:  # constant support targets: no spread
            return np.zeros(len(self.probabilities))
        e = _bins.edges(self.n_bins).astype(np.float64)
        left, right = e[:-1], e[1:]
        p = self.probabilities
        first = _bins.weighted_sum(p, (left + right) / 2)
        second = _bins.weighted_sum(p, (left * left + left * right + right * right) / 3)
        return np.sqrt(np.maximum(second - first * first, 0.0)) * self.span

    def _cumulative(self, start: int = 0, stop: int | None = None) -> np.ndarray:
        """float64 [rows, n_bins + 1]: the CDF at each edge, 0 first and exactly 1 last, of
        rows ``start:stop``."""
        p = self.probabilities[start:stop]
        cum = np.concatenate([np.zeros((len(p), 1)), np.cumsum(p, axis=1)], axis=1)
        total = cum[:, -1:]
        return cum / np.where(total > 0, total, 1.0)

    def cdf(self, y: object) -> np.ndarray:
        """float64 [rows]: P(target <= y[row]) for one value per row (``y`` [rows] or a
        scalar). With constant support targets, a step at ``low``. Raises ValidationError
        for anything else (another length, more dimensions, values that are not numbers);
        NaN gives NaN."""
        rows = len(self.probabilities)
        try:
            if y is None or isinstance(y, str) or np.asarray(y).dtype.kind in "USb":
                raise TypeError  # text ("1.0") and booleans are no values of the target
            values = np.asarray(y, dtype=np.float64)
        except (TypeError, ValueError):
            raise ValidationError(
                f"cdf takes numbers: one value, or one per row ({rows}); got {y!r}") from None
        if values.ndim > 1 or (values.ndim == 1 and len(values) != rows):
            raise ValidationError(
                f"cdf takes one value, or one per row ({rows}); got an array of shape "
                f"{values.shape}")
        values = np.broadcast_to(values, (rows,))
        if self.span == 0:
            return (values >= self.low).astype(np.float64)
        e = self.edges
        index = np.clip(np.searchsorted(e, values, side="right") - 1, 0, self.n_bins - 1)
        fraction = np.clip((values - e[index]) / (e[index + 1] - e[index]), 0.0, 1.0)
        out = np.empty(rows)
        for start in range(0, rows, _ROWS):  # bounds the [rows, n_bins + 1] CDFs
            cum, at = self._cumulative(start, start + _ROWS), index[start:start + _ROWS]
            block = np.arange(len(cum))
            out[start:start + len(cum)] = cum[block, at] + fraction[start:start + len(cum)] * (
                cum[block, at + 1] - cum[block, at])
        return out

    def quantiles(self, q: object) -> np.ndarray:
        """float64 [rows, len(q)] (or [rows] for a scalar ``q``): the smallest value whose CDF
        reaches each level (level 0: the left edge of the first bin with probability).
        Raises ValidationError for levels outside [0, 1]."""
        levels, scalar = _levels(q)
        e = _bins.edges(self.n_bins).astype(np.float64)
        out = np.empty((len(self.probabilities), len(levels)))
        if self.span == 0:  # constant support targets: every level is that constant
            out[:] = self.low
            return out[:, 0] if scalar else out
        for start in range(0, len(out), _ROWS):  # bounds the [rows, n_bins] CDFs
            cum = self._cumulative(start, start + _ROWS)
            rows = np.arange(len(cum))
            for j, level in enumerate(levels):
                # The first bin whose upper CDF reaches the level (exceeds 0 for level 0).
                reached = cum[:, 1:] > level if level == 0 else cum[:, 1:] >= level
                index = np.minimum(np.argmax(reached, axis=1), self.n_bins - 1)
                below, above = cum[rows, index], cum[rows, index + 1]
                mass = above - below
                fraction = np.where(mass > 0, (level - below) / np.where(mass > 0, mass, 1), 0.0)
                scaled = e[index] + np.clip(fraction, 0.0, 1.0) * (e[index + 1] - e[index])
                out[start:start + len(cum), j] = self.low + self.span * scaled
        return out[:, 0] if scalar else out

    def interval(self, coverage: float = 0.9) -> np.ndarray:
        """float64 [rows, 2]: the central interval holding ``coverage`` of the probability,
        the quantiles ``(1 - coverage) / 2`` and ``(1 + coverage) / 2``."""
        c = check_coverage(coverage)
        return self.quantiles([(1 - c) / 2, (1 + c) / 2])
