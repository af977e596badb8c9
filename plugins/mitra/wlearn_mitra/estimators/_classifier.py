"""Private: MitraClassifier."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from wlearn.errors import ValidationError

from ..engine._engine import MAX_CLASSES
from ..inputs import _labels, _manyclass
from ..inputs._checks import check_max_support, check_n_estimators, check_rows, sample_weights
from ..inputs._checks import unrecorded_class_shuffle
from ..inputs._support import SUPPORT_SELECTIONS
from ..engine._progress import Progress, Reporter
from ..exceptions import user_stacklevel
from ._base import _MitraEstimator


class MitraClassifier(_MitraEstimator):
    """Mitra classification: in-context learning over a support set of labelled rows.

    Parameters
    ----------
    onnx:
        The Mitra classifier ONNX model: a path, its bytes or an ``onnxruntime.InferenceSession``.
        Default: the file named by ``WLEARN_MITRA_CLASSIFIER_ONNX``, else the small built-in
        model (``spec/builtin-models.md``).
    max_support:
        At most this many training rows are kept (all of them when there are no more),
        picked by ``support_selection``.
    seed:
        Seed of the support selection (wlearn's LCG) and of ensemble members, used when
        ``random_state`` is None; @wlearn/mitra's name, and what bundles store.
    random_state:
        scikit-learn's name for the seed: None (default: ``seed`` is used, so default bundles
        stay byte-identical to @wlearn/mitra's), an int (the seed, stored in bundles as
        ``seed``), or a numpy ``Generator`` / ``RandomState``, from which each fit draws a seed
        in [0, 2^31 - 1) (``seed_``, stored in bundles as ``seed``). A loaded model has
        ``random_state=None`` and the bundle's ``seed``.
    n_estimators:
        Ensemble members averaged at prediction (1: one plain pass; at most 256).
    max_memory_mb:
        Working-memory budget of a whole prediction, in MB on top of the model's weights.
        None (default): the model's plain answer, refused with ResourceLimitError before
        running when the support set needs more memory than the machine has available. How
        a budget and data wider than 500 features are met (query chunks, ensemble members on
        feature subsets, with a UserWarning when the answer is no longer the plain one) is the
        wide-data policy of :mod:`wlearn_mitra.engine._planning` (spec/mitra.md, "Wide
        data"). A runtime setting, not saved in bundles.
    progress:
        ``progress(rows_done, rows_total)`` during prediction, or True for a progress bar.
    precision:
        ``"fp32"`` (default, exact). Opt-in, faster at a measured accuracy cost
        (bench/README.md): ``"int8"`` on ONNX Runtime (dynamic int8 quantisation of the weight
        matrices; the quantised graph is made once and cached; needs the ``onnx`` package),
        ``"bf16"`` on OpenVINO (needs a CPU with AMX or AVX512-BF16, else ValidationError).
    runtime:
        ``"onnxruntime"`` (default) or ``"openvino"`` (the ``openvino`` extra).
        Same graphs, outputs and bundles. Like ``precision``, a setting of this machine, not
        saved in bundles; estimators on the same model share an engine only at the same
        runtime and precision. Threads: ``WLEARN_MITRA_THREADS``, else ``OMP_NUM_THREADS``
        (which joblib's workers get as cores / ``n_jobs``, so ``cross_val_score(n_jobs=2)``
        shares the cores), else one per core.
    support_selection:
        How ``max_support`` rows are picked from more: ``"stratified"`` (default) keeps each
        class's share of the rows (scikit-learn's sense of the word; at least one row per
        class), so the model sees the training prior; ``"balanced"`` keeps the same number
        of rows per class, exactly @wlearn/mitra 0.1.0's pick (its bundles byte for byte),
        which skews the prior of an imbalanced table towards the rare classes. Both are
        deterministic by ``seed`` (``spec/mitra.md``, "Support selection"). A rule of fitting:
        the bundle stores the rows picked, not the rule, and a loaded model has the default.
        With rare classes, ``predict``'s argmax may answer only the majority class: read
        ``predict_proba`` and pick a threshold, or use ``"balanced"``.

    max_node_classes:
        The most classes one pass of the model may see, 2..10 (the head's 10 outputs). A
        table with more classes is predicted through a balanced class hierarchy of passes of
        at most this many groups each, probabilities multiplied down the tree (TabICL's
        scheme; spec/mitra.md, "More classes than the head"); the fit then keeps
        ``max_support * ceil(K / max_node_classes)`` rows and each pass sees at most
        ``max_support`` of them. None (default): the value the model declares (its
        ``wlearn.max_node_classes`` metadata, spec/mitra-onnx.md "Declared defaults"; the
        built-in classifier declares its own, spec/builtin-models.md), else 10, so a table of
        up to 10 classes runs plain, as @wlearn/mitra does. A bundle stores the tree it was
        fitted with, so it predicts the same whatever the default later becomes.
    target_encoding:
        Whether target statistics of the key columns (whole-number columns of 3 to S/2
        distinct support values: category codes, ids, coded answers) are appended as extra
        features: for each key column, the support targets' smoothed mean at the row's value,
        out-of-fold for the support rows (spec/mitra.md, "Target encoding";
        :mod:`wlearn_mitra.inputs._target_encoding`). It hands the model lookups a tree reads
        by splitting (a class id that fixes the target) and costs one more feature per key
        column (one per class for 3 or more classes). None (default): the value the model
        declares (its ``wlearn.target_encoding`` metadata, spec/mitra-onnx.md "Declared
        defaults"; the built-in classifier declares its own, spec/builtin-models.md), else
        False, Mitra's own preprocessing. Resolved at fit as ``target_encoding_``, which bundles and pickles keep;
        @wlearn/mitra 0.1 has no such step and refuses a bundle fitted with it.

    Labels may be integers, booleans, integral or other floats, or strings; any number of
    classes. Attributes after fit: ``classes_``, ``n_features_in_``, ``support_x_`` (float32),
    ``support_y_`` (labels), ``support_indices_`` (rows of X kept), ``onnx_sha256_``,
    ``class_hierarchy_`` (the class tree as nested lists of class indices, or None when the
    model runs plain), ``target_encoding_`` (bool), ``class_shuffle_`` (``"classes"``: with
    ``n_estimators > 1`` each member feeds the K classes as a permutation of the labels
    0..K-1, those the model was trained on; ``"slots"`` in models saved with members by
    wlearn-mitra 0.2.0 or earlier, which permuted all 10 of the head's labels, as AutoGluon's
    ``shuffle_classes``; ``wlearn_mitra.engine._preprocess``), and those of every Mitra
    estimator:

    - ``feature_names_in_`` (object array of str): the column names when fitted on a
      DataFrame whose names are all strings (absent otherwise, as in scikit-learn);
      predicting on other names or another order raises ValidationError; names on one side
      only warn.
    - ``categories_`` (dict: column index -> object array): the categories of each category
      or text column, learned from the support rows (a declared order kept, else sorted;
      ``None`` first, "missing", when support rows miss the value); the model sees a
      category's position in its array, and NaN (imputed as a missing value) for categories
      the support set lacked.
    - ``seed_``: the seed used (see ``random_state``).
    """

    _task = "classification"
    _estimator_kind = "classifier"
    _learned = _MitraEstimator._learned + ("class_hierarchy_", "class_shuffle_")

    def __init__(
        self,
        onnx: Any = None,
        max_support: int = 512,
        seed: int = 42,
        random_state: Any = None,
        n_estimators: int = 1,
        max_memory_mb: float | None = None,
        progress: Progress | bool | None = None,
        precision: str = "fp32",
        runtime: str = "onnxruntime",
        support_selection: str = SUPPORT_SELECTIONS[0],
        max_node_classes: int | None = None,
        target_encoding: bool | None = None,
    ) -> None:
        self.onnx = onnx
        self.max_support = max_support
        self.seed = seed
        self.random_state = random_state
        self.n_estimators = n_estimators
        self.max_memory_mb = max_memory_mb
        self.progress = progress
        self.precision = precision
        self.runtime = runtime
        self.support_selection = support_selection
        self.max_node_classes = max_node_classes
        self.target_encoding = target_encoding

    def _fit_targets(self, X: np.ndarray, y: Any) -> tuple[np.ndarray, np.ndarray]:
        classes, index = _labels.encode(y)
        check_rows(X, index)
        if (len(classes) > MAX_CLASSES and classes.dtype.kind == "f"
                and not np.all(classes == np.round(classes))):
            # As before the class hierarchy, and as scikit-learn's classifiers refuse them.
            raise ValidationError(
                f"y has {len(classes)} distinct non-integral numbers: a continuous target, "
                "which MitraRegressor predicts (labels of that kind are taken up to "
                f"{MAX_CLASSES} classes; pass them as strings for more)"
            )
        numeric = classes.dtype.kind in "iuf" or (
            classes.dtype.kind == "O" and not any(isinstance(c, str) for c in classes))
        if numeric and len(classes) > 2 * MAX_CLASSES and 2 * len(classes) > len(index):
            warnings.warn(
                f"y has {len(classes)} numeric classes in {len(index)} rows, fewer than two "
                "rows a class: if y is a quantity (a count, an amount), MitraRegressor (or "
                "MitraModel(task='regression')) predicts it; as classes, each row is only ever "
                "predicted as one of those labels", UserWarning, stacklevel=user_stacklevel())
        return index, classes

    def _node_classes(self, n_classes: int, engine: Any = None) -> int | None:
        """The hierarchy's largest node for ``n_classes``, or None to run plain; a
        ``max_node_classes`` of None takes the value ``engine``'s model declares, else 10."""
        m = self.max_node_classes
        if m is None:
            declared = None if engine is None else engine.declared_max_node_classes
            m = MAX_CLASSES if declared is None else declared
        else:
            m = _manyclass.check_max_groups(m)
        return m if n_classes > m else None

    def _checked_params(self) -> tuple[int | float, float | int]:
        checked = super()._checked_params()
        self._node_classes(1)
        return checked

    def _select(self, n_rows, max_support, seed, y, classes, handle) -> np.ndarray:
        m = self._node_classes(len(classes), handle.engine)
        if m is not None:
            max_support = _manyclass.stored_support(max_support, len(classes), m)
        return super()._select(n_rows, max_support, seed, y, classes, handle)

    def fit(self, X: Any, y: Any) -> "MitraClassifier":
        super().fit(X, y)
        m = self._node_classes(len(self.classes_), self._handle.engine)
        self.class_hierarchy_ = (None if m is None
                                 else _manyclass.build_tree(len(self.classes_), m))
        self.class_shuffle_ = "classes"
        return self

    def _class_shuffle(self) -> str:
        # A pickle of wlearn-mitra 0.2.0 or earlier has no class_shuffle_.
        shuffle = self.__dict__.get("class_shuffle_")
        return unrecorded_class_shuffle(self.n_estimators) if shuffle is None else shuffle

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities, float64 [rows, len(classes_)]; rows sum to 1.

        A model with a class hierarchy (``class_hierarchy_``) runs each node of the tree
        over all rows, one after another, and multiplies the probabilities down the tree. A
        model of more than 10 classes without one (a bundle ``@wlearn/mitra`` fitted, which
        it cannot predict from) runs through the hierarchy ``max_node_classes`` gives, built
        for each predict and not stored (its bundle stays as loaded).
        Raises ValidationError for bad input, NotFittedError before fit() or load()."""
        Xq = self._query(X)
        tree = self.__dict__.get("class_hierarchy_")
        if tree is None and len(self.classes_) > MAX_CLASSES:
            m = self._node_classes(len(self.classes_), self._open().engine)
            tree = _manyclass.build_tree(len(self.classes_), m)
        self._check_support()
        if tree is None:
            return self._run(Xq, self._support_index, len(self.classes_))
        # One progress report for the whole tree, each node's pass a part of it, counting
        # each row once per member and node (the bar: rows per node).
        members = check_n_estimators(self.n_estimators)
        n_nodes, rows_per_node = len(_manyclass.nodes(tree)), len(Xq) * members
        with Reporter(self.progress, n_nodes * rows_per_node,
                      f"mitra predict ({n_nodes} nodes)", members) as report:
            passes = iter(range(n_nodes))

            def run(rows: np.ndarray, groups: np.ndarray, n_groups: int) -> np.ndarray:
                part = report.part(next(passes) * rows_per_node, rows_per_node)
                return self._run(Xq, groups, n_groups, rows, progress=part)

            proba = _manyclass.predict_proba(
                tree, len(self.classes_), len(Xq), run, self._support_index,
                check_max_support(self.max_support), self._seed())
            report.finish()  # nodes without support rows are not run
        return proba

    def predict_log_proba(self, X: Any) -> np.ndarray:
        """The logarithm of :meth:`predict_proba`, float64 [rows, len(classes_)] (-inf where
        a probability is 0), as scikit-learn's classifiers."""
        return self._log(self.predict_proba(X))

    @staticmethod
    def _log(proba: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore"):
            return np.log(proba)

    def _manifest_values(self) -> dict[str, Any]:
        values = {**super()._manifest_values(), "max_node_classes": self.max_node_classes}
        if self.n_estimators != 1:  # written only where answers depend on it (JS has no members)
            values["class_shuffle"] = self._class_shuffle()
        return values

    def predict(self, X: Any) -> np.ndarray:
        """The most probable class of each row (the first one on ties)."""
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]

    def score(self, X: Any, y: Any, sample_weight: Any = None) -> float:
        """Accuracy of ``predict(X)`` against ``y``."""
        truth = _labels.as_vector(y)
        pred = self.predict(X)
        check_rows(pred, truth)
        correct = pred.astype(object) == truth.astype(object)
        return float(np.average(correct, weights=sample_weights(sample_weight, len(truth))))
