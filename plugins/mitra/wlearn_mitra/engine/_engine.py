"""One predict: preprocessing, the ensemble, the memory plan, chunks and the readout.

The engine knows nothing of labels, bundles or estimators. It takes a support set already
encoded for the model (class indices 0..K-1, or targets in the model's scale) and returns
what the model says about the query rows. The graphs it runs and their contract are a
graph set's (:mod:`._graphset`, :mod:`._contract`), the raw runs :mod:`._runs`';
:class:`MitraEngine` holds the graph set and the support cache and runs one predict.
"""

from __future__ import annotations

import os
import warnings
from functools import partial, wraps
from typing import Callable, Collection

import numpy as np

from wlearn.errors import ValidationError

from ..exceptions import ModelOutputError, user_stacklevel
from ..graphs._cachedir import cache_warning
from ..inputs import _bins
from ..inputs._checks import MAX_N_ESTIMATORS, check_class_shuffle
from ..runtimes import _choice
from . import _runs
from ._chunks import chunks, padded
from ._contract import MAX_CLASSES
from ._encoded import DEFAULT_CACHE_MB, SupportCache
from ._graphset import GraphSet, OnnxSource
from ._planning import MAX_FEATURES, Plan, available_memory_mb, full_width_mb, single_first_fits
from ._planning import plan as plan_predict
from ._progress import Reporter
from ._preprocess import TRANSFORMS, MemberTransform, SupportStats, feature_subsets


def _retried(method: Callable[..., np.ndarray]) -> Callable[..., np.ndarray]:
    """``method``, run once more when the model answered NaN or infinity through files of the
    disk cache: those files are removed and made again first (a damaged cache file is rebuilt,
    not trusted); a second such answer is the model's."""

    @wraps(method)
    def run(self: "MitraEngine", *args, **kwargs) -> np.ndarray:
        try:
            return method(self, *args, **kwargs)
        except ModelOutputError as exc:
            if not getattr(exc, "cache_files", None):
                raise
            cache_warning(f"{exc}. Removed those files and made them again from the model.")
            self._rebuild()
            try:
                return method(self, *args, **kwargs)
            except ModelOutputError as again:
                raise ModelOutputError(
                    f"{again} (made again from the model just now: the model itself answers "
                    "NaN or infinity)") from exc

    return run


def _of_graphs(name: str, doc: str | None, settable: bool = False) -> property:
    """A MitraEngine property that is its graph set's ``name`` (read once, when it opened)."""
    setter = (lambda self, value: setattr(self.graphs, name, value)) if settable else None
    return property(lambda self: getattr(self.graphs, name), setter, doc=doc)


class MitraEngine:
    """One Mitra model and how to run it.

    Parameters
    ----------
    onnx:
        Path, model bytes or an ``onnxruntime.InferenceSession`` of the single graph.
    task:
        ``"classification"`` or ``"regression"``; checked against the graph's inputs.
    threads:
        Intra-op threads of the runtime (default: the runtime's choice, one per core). The
        estimators pass ``WLEARN_MITRA_THREADS``, else ``OMP_NUM_THREADS`` (joblib's and
        Dask's workers set it to their share of the cores; see :mod:`wlearn_mitra.engine._shared`).
    max_memory_mb:
        Working-memory budget of one predict, support side included, in MB on top of the
        weights; None (default) runs the model's plain answer. How a predict meets it (the
        support cache, query chunks, feature subsets) is the wide-data policy of
        :mod:`wlearn_mitra.engine._planning`. ``predict`` can override it per call.
    split:
        The support-set cache graphs. ``"auto"`` (default) uses ``<stem>.encoder.onnx`` and
        ``<stem>.decoder.onnx`` when they sit next to an ``onnx`` path (the converter's
        ``--split``), else the pair cut out of this very graph by
        :mod:`wlearn_mitra.graphs._surgery`, kept under the graph's hash in ``optimized_dir`` or
        ``~/.cache/wlearn-mitra`` and made on first use (needs the ``onnx`` package, the
        ``cache`` extra; without it the single graph runs,
        with a warning). ``"derive"`` is ``"auto"`` that raises instead of falling back. A pair
        ``(encoder, decoder)`` of paths or bytes uses those; None always runs the single graph.
        A converter's pair in the older stacked layout (all layers' keys/values in one tensor)
        is refused when given and passed over with a warning by ``"auto"``. With the pair, a
        support set is encoded once and reused by later predicts and by every query chunk.
        For a model of 64 MB or more (a full-size Mitra), a pair found or cut by
        ``"auto"``/``"derive"`` at fp32 on ONNX Runtime opens only when a support set comes
        back: until then a support set's first predict runs the
        single graph over all its query rows in one run (bit-identical to the pair; the
        weights held once and nothing kept, as a bare session), unless a ``chunk_size`` or
        ``max_memory_mb`` is asked for or the query side is too large for one run
        (:func:`wlearn_mitra.engine._planning.single_first_fits`); from the pair's opening on,
        every predict goes through it and the single graph is closed.
    cache_mb:
        Bound on the encoded support sets kept between predicts (default 2048 MB).
    optimized_dir:
        Folder for derived graphs and the runtimes' optimised graphs, keyed by model hash
        (default: derived graphs in ``~/.cache/wlearn-mitra``, no optimised graphs).
    precision:
        ``"fp32"`` (default, exact). With ONNX Runtime, ``"int8"``: MatMul weights quantised
        to int8 with dynamic activation quantisation (needs the ``onnx`` package). With
        OpenVINO, ``"bf16"``: bfloat16 arithmetic (needs a CPU with AMX or AVX512-BF16).
        Both trade accuracy for speed; bench/README.md measures how much. int8 scales
        activations by the whole batch's range, so its answers depend on which rows are
        predicted together.
    runtime:
        ``"onnxruntime"`` (default) or ``"openvino"`` (the ``openvino`` extra). Same graphs,
        chunking, cache and outputs; never written to bundles.
    """

    def __init__(
        self,
        onnx: OnnxSource,
        *,
        task: str,
        threads: int | None = None,
        max_memory_mb: float | None = None,
        split: "str | tuple[OnnxSource, OnnxSource] | None" = "auto",
        cache_mb: float = DEFAULT_CACHE_MB,
        optimized_dir: str | os.PathLike | None = None,
        precision: str = "fp32",
        runtime: str = _choice.DEFAULT_RUNTIME,
    ) -> None:
        self.graphs = GraphSet(onnx, task=task, threads=threads, split=split,
                               optimized_dir=optimized_dir, precision=precision, runtime=runtime)
        self.max_memory_mb = max_memory_mb
        self.cache = SupportCache(cache_mb)

    # -- the graph set's facts, read once when it opened -----------------------------------

    task = _of_graphs("task", "``classification`` or ``regression``.")
    runtime = _of_graphs("runtime", "The runtime running the graphs.")
    precision = _of_graphs("precision", "The graphs' precision.")
    onnx_sha256 = _of_graphs("onnx_sha256", "The model's identity (None for a ready session).")
    shape = _of_graphs("shape", "The model's sizes (ModelShape).")
    n_bins = _of_graphs("n_bins", "Value bins of a bin-head regressor's output, else None.")
    declared_max_node_classes = _of_graphs(
        "declared_max_node_classes", "The ``max_node_classes`` a classifier graph declares "
        "as its estimators' default (metadata ``wlearn.max_node_classes``), else None.")
    declared_target_encoding = _of_graphs(
        "declared_target_encoding", "The ``target_encoding`` a graph declares as its "
        "estimators' default (metadata ``wlearn.target_encoding``), else None.")
    cache_names = _of_graphs("cache_names", "The tensors the support encoder hands the decoder.")
    model_name = _of_graphs("model_name", "How messages name the model: its path, else its hash.")
    single = _of_graphs("single", "The single graph, opened on first use.")
    session = _of_graphs("session", "The single graph's ONNX Runtime session (ONNX Runtime only).")
    cache_layer_count = _of_graphs("cache_layer_count",
                                   "L, the layers whose keys and values the support cache holds.")
    classification = _of_graphs("classification", "Whether the task is classification.")
    uses_cache = _of_graphs("uses_cache",
                            "True when predictions go through the support encoder and decoder.")
    encoder = _of_graphs("encoder", "The split pair's support encoder (None: the single graph).",
                         settable=True)
    decoder = _of_graphs("decoder", "The split pair's query decoder (None: the single graph).",
                         settable=True)
    # where the model came from and where its derived graphs are kept (the graph set's)
    _source = _of_graphs("_source", None)
    _folder = _of_graphs("_folder", None)

    def _rebuild(self) -> None:
        """Open every graph again from the model (removing the disk cache files they were read
        from) and empty the support cache."""
        self.graphs.rebuild()
        self.cache.clear()

    # -- the raw runs (see _runs) -----------------------------------------------------------

    @_retried
    def forward(
        self, x_support: np.ndarray, y_support: np.ndarray, x_query: np.ndarray
    ) -> np.ndarray:
        """One plain forward pass of the single graph: no preprocessing, no chunking, no cache.

        ``x_support`` [S, F], ``y_support`` [S] (class indices or model-scale targets),
        ``x_query`` [Q, F]. Returns the raw float32 output: [Q, 10] logits or [Q] values.
        Raises ModelOutputError (naming the model and any cache file it was read from) when
        the model answers NaN or infinity, after making damaged cache files again once.
        """

        return _runs.forward(self.graphs, x_support, y_support, x_query)

    def encode(
        self, x_support: np.ndarray, y_support: np.ndarray, owner: object = None
    ) -> tuple[np.ndarray, ...]:
        """The support encoder's tensors for a model-ready support set, cached by content
        (while ``owner`` lives, when one is given: see
        :class:`~wlearn_mitra.engine._encoded.SupportCache`)."""
        return _runs.encode(self.graphs, self.cache, x_support, y_support, owner)

    def decode(self, encoded: tuple[np.ndarray, ...], x_query: np.ndarray) -> np.ndarray:
        """The query decoder's raw output [Q, 10] or [Q] for an encoded support set."""
        return _runs.decode(self.graphs, encoded, x_query)

    # -- one predict --------------------------------------------------------------------------

    @_retried
    def predict(
        self,
        x_support: np.ndarray,
        y_support: np.ndarray,
        x_query: np.ndarray,
        *,
        n_classes: int | None = None,
        n_estimators: int = 1,
        seed: int = 0,
        progress: Callable[[int, int], object] | bool | None = None,
        max_memory_mb: float | None = None,
        chunk_size: int | None = None,
        transforms: Collection[str] = TRANSFORMS,
        class_shuffle: str = "classes",
        owner: object = None,
        check_input: bool = True,
    ) -> np.ndarray:
        """What the model predicts for the query rows, preprocessed as upstream Mitra does.

        NaN in X becomes the support column's mean, constant support columns are dropped
        (when none is left, every row gets the support set's class shares or mean target,
        without running the model),
        and with ``n_estimators > 1`` each member sees its own random ``transforms`` (any of
        ``mirror_x``, ``shuffle_features``, ``shuffle_classes``, ``mirror_y``), drawn from
        ``seed``; members are averaged (probabilities for a classifier). ``n_estimators=1``
        is one plain pass with no random transform. ``class_shuffle``: ``"classes"``, a
        member feeds the classes as a permutation of the labels 0..n_classes-1, or
        ``"slots"``, of all the head's labels (as 0.2.0 did; :mod:`._preprocess`).

        Data wider than the plan allows is split across members by feature subsets, as the
        wide-data policy says (:mod:`wlearn_mitra.engine._planning`); with ``n_estimators=1``
        the members differ only by their subsets. Raises ResourceLimitError when
        ``max_memory_mb`` cannot hold the support set even one feature at a time.

        Query rows are run in chunks that fit ``max_memory_mb`` (or of ``chunk_size`` rows);
        at fp32 a row's answer is bit-identical whichever rows share its chunk (a lone row is
        run beside a copy of itself: ONNX Runtime's one-row kernels round differently).
        ``progress`` is a callable ``(rows_done, rows_total)`` counting each row once per
        member (``rows_total`` = query rows x members), or True for a tqdm bar of query rows.
        ``owner``: an object (weakly referenced; the estimators pass their support array)
        whose death takes this support set's encodings out of the in-memory support cache;
        None keeps them until ``cache_mb`` drops them.
        Ctrl-C stops the current run promptly and leaves the engine as it was.
        ``check_input=False`` skips the checks of the arguments (as scikit-learn's
        ``check_input``): the caller vouches for them, as the estimators do, which check the
        user's rows at their own face and their stored support set once.

        Classifier: float64 probabilities [Q, n_classes], a softmax of the logits of the
        classes 0..n_classes-1. Regressor: float64 [Q] in the model's target scale. Raises
        ModelOutputError (naming the model and any disk cache file it was read from) when
        the model answers NaN or infinity; damaged cache files are first made again once.
        Bin-head regressor (``n_bins`` set): ``y_support`` in the model's [0, 1] scale, each
        member's targets binned as AutoGluon does (:func:`wlearn_mitra.inputs._bins.bin_ids`);
        float64
        probabilities [Q, n_bins] of the bins, a member fed mirrored targets read back in
        reverse bin order.
        """
        if check_input:
            x_support, y_support, x_query = self._check(x_support, y_support, x_query,
                                                        n_classes)
            if int(n_estimators) != n_estimators or not 1 <= n_estimators <= MAX_N_ESTIMATORS:
                raise ValidationError(f"n_estimators must be an integer in "
                                      f"1..{MAX_N_ESTIMATORS}, got {n_estimators!r}")
            unknown = set(transforms) - TRANSFORMS
            if unknown:
                raise ValidationError(
                    f"unknown transforms {sorted(unknown)}; known: {sorted(TRANSFORMS)}"
                )
            check_class_shuffle(class_shuffle, "class_shuffle")
        else:
            x_support, y_support, x_query = self._coerce(x_support, y_support, x_query)
            if len(x_support) == 0:  # an answer from no rows would be NaN, never an error
                raise ValidationError("the support set is empty")

        stats = SupportStats.fit(x_support)
        xs = stats.apply(x_support)
        n_features = xs.shape[1]
        if n_features == 0:
            return self._no_features(y_support, len(x_query), n_classes, progress)
        budget = self.max_memory_mb if max_memory_mb is None else max_memory_mb
        plan = self.plan(len(xs), n_features, n_estimators=int(n_estimators),
                         max_memory_mb=budget, chunk_size=chunk_size)
        plain = min(n_features, MAX_FEATURES)  # the width of the plain plan (_planning)
        if plan.width < plain:
            # Not the model's plain answer: say so rather than change predictions silently.
            need = full_width_mb(self.shape, len(xs), plain)
            features = (f"all {n_features} features" if plain == n_features
                        else f"{plain} of the {n_features} features (the model's width)")
            warnings.warn(
                f"max_memory_mb={budget:g} is too "
                f"small to run {features} of this {len(xs)}-row support set "
                f"together: predicting with {plan.members} ensemble members on feature subsets "
                f"of {plan.width}. For the model's plain answer raise max_memory_mb to about "
                f"{need:g} (or fit with a smaller max_support).",
                UserWarning, stacklevel=user_stacklevel(),
            )
        labels = n_classes if class_shuffle == "classes" else self.shape.n_slots
        members = self._members(plan, n_features, int(n_estimators), seed, transforms, labels)
        rows = plan.rows
        # Members on feature subsets encode their subset for this predict only: one member's
        # encoded set is alive at a time, as the plan counts (_planning); whole data is kept
        # in the support cache between predicts.
        cache = self.cache if plan.width >= n_features else None
        graphs = self.graphs
        n_query = len(x_query)
        # While the pair is pending, a support set's first predict runs the single graph over
        # every query row in one run (bit-identical to the pair at fp32; weights held once,
        # nothing kept), where that run's query side fits what the cache's way would hold;
        # the pair opens when a support set comes back (spec/mitra.md, "The support cache").
        first_use = (plan.cached and cache is not None and n_query and budget is None
                     and chunk_size is None and graphs.pair_pending
                     and single_first_fits(self.shape, len(xs), n_features, n_query,
                                           self.cache_layer_count))
        classification, n_bins = graphs.classification, graphs.n_bins
        total = np.zeros((n_query, n_classes) if classification else n_query)
        if n_bins:
            total = np.zeros((n_query, n_bins))
        with Reporter(progress, n_query * len(members), "mitra predict",
                      members=len(members)) as report:
            for index, member in enumerate(members):
                xs_m, ys_m = member.x(xs), member.y(y_support, classification)
                if n_bins:
                    ys_m = _bins.bin_ids(ys_m, n_bins)
                # Without a single feature left, ONNX Runtime mis-shapes an empty reduction
                # of the JS package's graph when it is cut in two; the single graph is right.
                cached = plan.cached and n_query and n_features
                parts = list(chunks(n_query, rows))
                if (cached and first_use and graphs.pair_pending
                        and not cache.seen_before(_runs.digest(graphs, xs_m, ys_m), owner)):
                    cached, parts = False, [slice(0, n_query)]
                if cached:
                    graphs.open_pair()  # when pending: a support set came back
                    cached = graphs.uses_cache  # no pair, if its files proved unusable
                if cached:
                    run = partial(_runs.decode, graphs,
                                  _runs.encode(graphs, cache, xs_m, ys_m, owner))
                else:
                    run = partial(_runs.forward, graphs, xs_m, ys_m)
                for part in parts:
                    xq = member.x(stats.apply(x_query[part]))
                    if cached and part is parts[-1] and index < len(members) - 1:
                        # the decoder's working memory goes before the next member's encoding
                        output = run(padded(xq), one_off=_runs.hand_back(graphs.decoder))
                    else:
                        output = run(padded(xq))
                    output = output[: len(xq)].astype(np.float64)
                    if classification:
                        total[part] += softmax(member.logits(output, n_classes))
                    elif n_bins:
                        probabilities = softmax(output)
                        total[part] += (_bins.unmirror(probabilities) if member.mirror_y
                                        else probabilities)
                    else:
                        total[part] += member.value(output)
                    report.advance(part.stop - part.start)
                run = None  # this member's encoded set goes before the next is encoded
        total /= len(members)
        return total

    def _no_features(self, y_support: np.ndarray, n_query: int, n_classes: int | None,
                     progress) -> np.ndarray:
        """The answer when no support column varies (one row, identical rows, every column
        constant or missing): nothing tells one query row from another, so every row gets
        the support set's class shares (a classifier), the mean target (a regressor), what
        scikit-learn's ``DummyClassifier(strategy="prior")`` / ``DummyRegressor()`` answer,
        or, for a bin-head regressor, the shares of the support targets' bins (the targets'
        histogram, whose mean is their mean to within half a bin).
        The graph is not run: with no feature left a Mitra graph has nothing to read, and
        the built-in models' Reshape divides by that zero (SIGFPE in ONNX Runtime 1.23-1.24).
        Upstream Mitra has no answer of its own here (AutoGluon drops a model whose
        features were all removed, ``NoValidFeatures``)."""
        n_bins = self.n_bins
        with Reporter(progress, n_query, "mitra predict") as report:
            if self.classification or n_bins:
                labels = (_bins.bin_ids(y_support, n_bins) if n_bins
                          else np.asarray(y_support, dtype=np.int64))
                width = n_bins or n_classes
                prior = np.bincount(labels, minlength=width)[:width] / len(y_support)
                out = np.tile(prior.astype(np.float64), (n_query, 1))
            else:
                out = np.full(n_query, float(np.mean(y_support)), dtype=np.float64)
            report.advance(n_query)
        return out

    def plan(
        self,
        n_support: int,
        n_features: int,
        *,
        n_estimators: int = 1,
        max_memory_mb: float | None = None,
        chunk_size: int | None = None,
    ) -> Plan:
        """How a predict with this support size and these (preprocessed, non-constant)
        features runs: graphs, features per member, members, query rows per chunk
        (:func:`wlearn_mitra.engine._planning.plan`, spec/mitra.md "Wide data"). ``max_memory_mb``
        None is the engine's own budget. Raises ResourceLimitError as ``predict`` would,
        before anything is allocated."""
        budget = self.max_memory_mb if max_memory_mb is None else max_memory_mb
        return plan_predict(
            self.shape, n_support, n_features, max_memory_mb=budget, chunk_size=chunk_size,
            n_estimators=n_estimators,
            cache_layers=self.cache_layer_count if self.uses_cache else None,
            cache_mb=self.cache.max_bytes / 2**20, open_bytes=self.graphs.unopened_bytes(),
            available_mb=available_memory_mb() if budget is None else None,
        )

    def _members(
        self, plan: Plan, n_features: int, n_estimators: int, seed: int, transforms,
        n_labels: int | None,
    ) -> list[MemberTransform]:
        """The ensemble's members: random transforms drawn from ``seed`` when
        ``n_estimators > 1`` (class permutations over ``n_labels`` labels), and each its own
        feature subset when ``plan`` is narrower than the data."""
        subsets = [None] * plan.members
        if plan.width < n_features:
            subsets = feature_subsets(n_features, plan.width, plan.members, seed)
        if n_estimators == 1 and plan.members == 1:
            return [MemberTransform()]
        if n_estimators == 1:  # only the subsets differ
            return [MemberTransform(features=subset) for subset in subsets]
        rng = np.random.default_rng(seed)
        return [
            MemberTransform.draw(
                rng,
                # the width a member sees; none when every support column was constant
                n_features=min(plan.width, n_features),
                n_labels=n_labels or 0,
                classification=self.classification,
                transforms=frozenset(transforms),
                features=subset,
            )
            for subset in subsets
        ]

    def _coerce(
        self, x_support: np.ndarray, y_support: np.ndarray, x_query: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Checked arguments in the dtypes a predict computes in (what :meth:`_check` returns
        for them): float64 rows, int64 class indices or float64 targets."""
        y = np.asarray(y_support)
        y = y.astype(np.int64) if self.classification else y.astype(np.float64)
        return (np.asarray(x_support, dtype=np.float64), y,
                np.asarray(x_query, dtype=np.float64))

    def _check(
        self, x_support: np.ndarray, y_support: np.ndarray, x_query: np.ndarray, n_classes
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        xs = _matrix(x_support, "x_support")
        xq = _matrix(x_query, "x_query")
        if len(xs) == 0:
            raise ValidationError("the support set is empty")
        if xs.shape[1] != xq.shape[1]:
            raise ValidationError(
                f"x_query has {xq.shape[1]} features but the support set has {xs.shape[1]}"
            )
        y = np.asarray(y_support)
        if y.shape != (len(xs),):
            raise ValidationError(f"y_support must have shape ({len(xs)},), got {y.shape}")
        if self.classification:
            valid = n_classes is not None and int(n_classes) == n_classes
            if not valid or not 1 <= n_classes <= MAX_CLASSES:
                raise ValidationError(
                    f"n_classes must be an integer between 1 and {MAX_CLASSES}, got {n_classes!r}"
                )
            if not np.issubdtype(y.dtype, np.integer):
                if not (np.issubdtype(y.dtype, np.floating) and np.all(y == np.round(y))):
                    raise ValidationError("y_support must hold class indices 0..n_classes-1")
            if y.min() < 0 or y.max() >= n_classes:
                raise ValidationError(
                    f"y_support must hold class indices 0..{n_classes - 1}, "
                    f"found {y.min()}..{y.max()}"
                )
            y = y.astype(np.int64)
        else:
            if not np.issubdtype(y.dtype, np.number) or not np.isfinite(y).all():
                raise ValidationError("y_support must hold finite numbers")
            y = y.astype(np.float64)  # cast to float32 after any mirroring, as upstream
        return xs, y, xq


def _matrix(x: np.ndarray, name: str) -> np.ndarray:
    try:
        x = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValidationError(f"{name} must be numeric: {exc}") from exc
    if x.ndim != 2:
        raise ValidationError(f"{name} must be 2-D [rows, features], got shape {x.shape}")
    return x


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax in the dtype given."""
    shifted = logits - logits.max(axis=-1, keepdims=True)
    np.exp(shifted, out=shifted)
    shifted /= shifted.sum(axis=-1, keepdims=True)
    return shifted




__all__ = ["MitraEngine", "MAX_CLASSES", "OnnxSource", "softmax"]
