"""Private: MitraRegressor."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from wlearn.errors import ValidationError

from ..bundles import _format
from ..inputs._checks import TARGET_SCALINGS, beyond_float32, check_rows, check_target_scaling
from ..inputs._checks import check_n_estimators, sample_weights, targets
from ..engine._progress import Progress, Reporter
from ..exceptions import user_stacklevel
from ._base import _MitraEstimator
from ._distribution import BinnedDistribution

__all__ = ["MitraRegressor", "TARGET_SCALINGS"]


#: Query rows a bin-head readout (predict, predict_quantiles, predict_interval) takes through
#: the model at a time once the support cache holds the support set: 64 MB of probabilities
#: at 1,000 bins.
BLOCK_ROWS = 8192
#: The share of the targets' min-max range below which their central 98% is "squeezed".
SQUEEZED = 0.01


def _warn_squeezed(y: np.ndarray) -> None:
    """Warn when a few extreme targets set the range the model's targets are scaled to, so
    that the others are squeezed into a sliver of it (a typing error, a heavy tail): the
    model, which sees targets min-max scaled (as upstream Mitra), can hardly tell them apart."""
    low, high = float(y.min()), float(y.max())
    q01, q99 = np.quantile(y, [0.01, 0.99], method="inverted_cdf")  # values of y
    if high > low and 0 < q99 - q01 < SQUEEZED * (high - low):
        warnings.warn(
            f"y's range, {low:.6g} to {high:.6g}, is set by a few extreme values: 98% of the "
            f"targets lie within {100 * (q99 - q01) / (high - low):.2g}% of it ({q01:.6g} to "
            f"{q99:.6g}). The model sees targets min-max scaled to that range, as upstream "
            "Mitra does, so it can hardly tell the others apart; check those values, or fit on "
            "a transform of y (np.log1p, a rank transform) and transform predictions back",
            UserWarning, stacklevel=user_stacklevel())


class MitraRegressor(_MitraEstimator):
    """Mitra regression: in-context learning over a support set of rows with targets.

    Parameters
    ----------
    onnx:
        The Mitra regressor ONNX model: a path, its bytes or an ``onnxruntime.InferenceSession``.
        Default: the file named by ``WLEARN_MITRA_REGRESSOR_ONNX``, else the small built-in
        model, whose 1,000-bin head predicts distributions (``spec/builtin-models.md``).
    max_support:
        At most this many training rows are kept, picked at random (as @wlearn/mitra).
    seed, random_state:
        As for MitraClassifier.
    n_estimators:
        Ensemble members averaged at prediction (1: one plain pass; at most 256).
    target_scaling:
        ``"minmax"`` (upstream Mitra): support targets are scaled to [0, 1] for the model and
        predictions scaled back; constant targets are predicted as that constant.
        ``"none"``: raw targets in, raw output out, as @wlearn/mitra does, but with upstream's
        feature preprocessing (NaN imputed with the support mean, constant support columns
        dropped) and ensembles, so its numbers differ from JS's where those apply: a constant
        column, a NaN, a single support row.
        ``"js"``: exactly @wlearn/mitra 0.1's ``predict`` (``src/regressor.js``): the float32
        support rows and targets and query rows go to the model as they are, in one pass of
        all query rows (no imputation, no dropped columns, no ensemble, no chunking); the
        numbers are JS's bit for bit.
        ``"none"`` and ``"js"`` are for parity with @wlearn/mitra and Mitra v1's scalar head:
        a bin-head model (Mitra-v2's, the built-in regressor) refuses them at fit (and at
        predict, when set after fit), its bins covering the min-max scaled targets.
    max_memory_mb:
        Working-memory budget of a whole prediction, as for :class:`MitraClassifier` (the
        wide-data policy: :mod:`wlearn_mitra.engine._planning`). A runtime setting, not
        saved in bundles.
    progress, precision, runtime:
        As for :class:`MitraClassifier`: a progress callback or bar; ``"fp32"`` (default,
        exact) or an opt-in reduced precision (``"int8"`` on ONNX Runtime, ``"bf16"`` on
        OpenVINO); ``"onnxruntime"`` (default) or ``"openvino"``. Settings of this machine,
        not saved in bundles.
    target_encoding:
        As for :class:`MitraClassifier`: target statistics of the key columns appended as
        features (one per key column; spec/mitra.md, "Target encoding"), None taking the
        model's declared default, else False. The built-in regressor declares none (it did not
        gain on the real-table benchmark, spec/builtin-models.md). Resolved at fit as
        ``target_encoding_``; @wlearn/mitra 0.1 refuses a bundle fitted with it.
        It runs through the engine: ``target_scaling="js"`` refuses it.

    Attributes after fit: ``n_features_in_``, ``support_x_`` (float32), ``support_y_``
    (float64, the targets exactly as given; bundles keep them exact, spec/mitra.md),
    ``support_indices_`` (rows of X kept), ``onnx_sha256_``, ``target_encoding_`` (bool),
    ``feature_names_in_``, ``categories_`` and ``seed_`` (see MitraClassifier).
    """

    _task = "regression"
    _estimator_kind = "regressor"

    def __init__(
        self,
        onnx: Any = None,
        max_support: int = 512,
        seed: int = 42,
        random_state: Any = None,
        n_estimators: int = 1,
        target_scaling: str = "minmax",
        max_memory_mb: float | None = None,
        progress: Progress | bool | None = None,
        precision: str = "fp32",
        runtime: str = "onnxruntime",
        target_encoding: bool | None = None,
    ) -> None:
        self.onnx = onnx
        self.max_support = max_support
        self.seed = seed
        self.random_state = random_state
        self.n_estimators = n_estimators
        self.target_scaling = target_scaling
        self.max_memory_mb = max_memory_mb
        self.progress = progress
        self.precision = precision
        self.runtime = runtime
        self.target_encoding = target_encoding

    def _scaling(self) -> str:
        return check_target_scaling(self.target_scaling)

    def _checked_params(self) -> tuple[int, float | int]:
        checked = super()._checked_params()
        self._scaling()
        return checked

    def _fit_targets(self, X: np.ndarray, y: Any) -> tuple[np.ndarray, None]:
        y = targets(y)
        check_rows(X, y)
        if beyond_float32(y).any():
            raise ValidationError("y has targets beyond float32's range (about 3.4e38)")
        if self._scaling() == "minmax":
            _warn_squeezed(y)
        if self._open().engine.n_bins:  # bin ids from the exact targets, as AutoGluon's
            self._check_bin_scaling()  # refused here, not first at predict
            return y, None
        return _format.stored_targets(y), None

    def predict(self, X: Any) -> np.ndarray:
        """Predicted targets, float64 [rows].

        With ``target_scaling="minmax"`` the float64 targets are scaled to [0, 1] in float64
        before the model sees them as float32, and the output is scaled back in float64, so
        targets whose spread float32 cannot hold (1e8 + 1, 1e8 + 2, ...) stay distinct, and
        constant targets are returned exactly as given, without running the model.
        """
        Xq = self._query(X)
        scaling = self._scaling()
        if self._open().engine.n_bins:  # a bin-head model: the mean of its distribution
            return self._read_by_blocks(Xq, BinnedDistribution.mean)
        self._check_support(finite=scaling != "js")
        if scaling == "js":
            if self.__dict__.get("target_encoding_"):
                raise ValidationError(
                    "target_scaling='js' runs @wlearn/mitra's predict, which has no target "
                    "encoding; this model was fitted with target_encoding_=True")
            # @wlearn/mitra's predict: float32 rows and targets as they are, one pass.
            out = self._open().engine.forward(self.support_x_, self.support_y_, Xq)
            return out.astype(np.float64)
        y = np.asarray(self.support_y_, dtype=np.float64)
        if scaling == "none":
            return self._run(Xq, y, None)
        low, high = y.min(), y.max()
        if high == low:
            # Nothing to scale to [0, 1] (upstream refuses); the only sensible answer.
            self._answered_without_the_model(len(Xq))
            return np.full(len(Xq), low, dtype=np.float64)
        span = high - low
        scaled = self._run(Xq, (y - low) / span, None)
        return scaled * span + low

    # -- predictive distributions of bin-head models (spec/mitra.md "Predictive distributions")

    def predict_distribution(self, X: Any) -> BinnedDistribution:
        """The predictive distribution of each row of ``X``, in the units of ``y``.

        Returns a :class:`~wlearn_mitra.BinnedDistribution`: ``probabilities`` float64
        [rows, n_bins] over the shared bin ``edges`` float64 [n_bins + 1], with ``mean()``
        (what ``predict`` returns), ``std()``, ``quantiles(q)``, ``interval(coverage)`` and
        ``cdf(y)``. Only a bin-head model has one (Mitra-v2's ``autogluon/mitra-regressor-2``,
        1000 bins over the min-max scaled target, as AutoGluon bins it); a scalar-head model
        (Mitra v1) raises ValidationError, as does ``target_scaling`` other than ``"minmax"``.
        With ``n_estimators > 1`` the members' distributions are averaged (a mixture).
        """
        return self._distribution(self._query(X))

    def predict_quantiles(self, X: Any, quantiles: Any = (0.1, 0.5, 0.9)) -> np.ndarray:
        """float64 [rows, len(quantiles)]: the predictive quantiles of each row (levels in
        [0, 1]; a scalar level gives [rows]). Bin-head models only; see
        :meth:`predict_distribution`."""
        return self._read_by_blocks(self._query(X), lambda d: d.quantiles(quantiles))

    def predict_interval(self, X: Any, coverage: float = 0.9) -> np.ndarray:
        """float64 [rows, 2]: the central prediction interval of each row, its lower and
        upper ends the quantiles ``(1 - coverage) / 2`` and ``(1 + coverage) / 2``.
        Bin-head models only; see :meth:`predict_distribution`."""
        return self._read_by_blocks(self._query(X), lambda d: d.interval(coverage))

    def _read_by_blocks(self, Xq: np.ndarray, read: Any) -> np.ndarray:
        """``read(distribution)`` of the rows ``Xq``, :data:`BLOCK_ROWS` rows at a time once
        the support cache holds the encoded support set (each block then costs its decode
        alone), so the [rows, n_bins] probabilities exist for one block only; rows answer as
        in one call, bit for bit (spec/mitra.md "Prediction")."""
        engine = self._open().engine
        y = np.asarray(self.support_y_, dtype=np.float64)
        whole = (len(Xq) <= BLOCK_ROWS or not engine.uses_cache or engine.graphs.pair_pending
                 or not len(y) or y.min() == y.max())
        if whole:  # a small predict, the single graph's first run, or no model run at all
            return read(self._distribution(Xq))
        members = check_n_estimators(self.n_estimators)
        with Reporter(self.progress, len(Xq) * members, "mitra predict", members) as report:
            parts = []
            for start in range(0, len(Xq), BLOCK_ROWS):
                block = Xq[start:start + BLOCK_ROWS]
                part = report.part(start * members, len(block) * members)
                parts.append(read(self._distribution(block, part)))
            report.finish()
        return np.concatenate(parts)

    def _distribution(self, Xq: np.ndarray, progress: Any = None) -> BinnedDistribution:
        n_bins = self._open().engine.n_bins
        if not n_bins:
            raise ValidationError(
                "this MitraRegressor's model has a scalar head (one value per row, as Mitra v1): "
                "it predicts no distribution. Bin-head models do: the built-in regressor "
                "(given no model) and Mitra-v2's autogluon/mitra-regressor-2, converted with "
                "wlearn-mitra convert.")
        self._check_bin_scaling()
        self._check_support()
        y = np.asarray(self.support_y_, dtype=np.float64)
        low, high = float(y.min()), float(y.max())
        if high == low:  # nothing to scale (upstream refuses): all mass at that constant
            self._answered_without_the_model(len(Xq))
            uniform = np.broadcast_to(np.full(n_bins, 1.0 / n_bins), (len(Xq), n_bins))
            return BinnedDistribution(uniform, low, 0.0)  # a view: no [rows, n_bins] array
        span = high - low
        return BinnedDistribution(self._run(Xq, (y - low) / span, None, progress=progress),
                                  low, span)

    def _answered_without_the_model(self, rows: int) -> None:
        """Progress of a predict answered without a run (constant support targets): every
        row done at once, as the engine reports one whose support columns are all constant."""
        with Reporter(self.progress, rows, "mitra predict") as report:
            report.finish()

    def _check_bin_scaling(self) -> None:
        """A bin-head model reads min-max scaled targets only: ValidationError otherwise (at
        fit, and at predict for a model whose target_scaling was set after fit)."""
        if self._scaling() != "minmax":
            raise ValidationError(
                f"target_scaling={self.target_scaling!r} does not fit a bin-head model, whose "
                "bins cover the min-max scaled targets (the built-in regressor, Mitra-v2): "
                "use target_scaling='minmax', or a scalar-head model (Mitra v1) for 'none' "
                "and 'js'")

    # -- end predictive distributions

    def score(self, X: Any, y: Any, sample_weight: Any = None) -> float:
        """R^2 of ``predict(X)`` against ``y``, float.

        As scikit-learn's ``r2_score``: 1.0 when every prediction is exact, 0.0 for constant
        ``y`` predicted otherwise. ``y`` counts as constant when all its values are equal,
        whatever rounding its float mean picks up (so a perfect fit of y = 0.1 is 1.0, not a
        ratio of rounding errors).
        """
        truth = targets(y)
        pred = self.predict(X)
        check_rows(pred, truth)
        w = sample_weights(sample_weight, len(truth))
        w = np.ones_like(truth) if w is None else w
        ss_res = float(np.sum(w * (truth - pred) ** 2))
        if ss_res == 0:
            return 1.0
        if len(truth) == 0 or np.all(truth == truth[0]):
            return 0.0
        mean = np.average(truth, weights=w)
        ss_tot = float(np.sum(w * (truth - mean) ** 2))
        if ss_tot == 0:
            return 0.0
        return 1.0 - ss_res / ss_tot

    def _manifest_values(self) -> dict[str, Any]:
        return {**super()._manifest_values(), "target_scaling": self.target_scaling}
