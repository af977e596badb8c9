"""Inference-time preprocessing as upstream Mitra (AutoGluon's sklearn interface) does it.

Everything is fitted on the support set alone, so a stored support set is all a saved model
needs. Per upstream's ``Preprocessor``:

- NaN is replaced by the support column's ``nanmean`` (a column that is NaN throughout keeps
  NaN here and ends up as 0, see below);
- features with a single distinct value in the (imputed) support set are dropped;
- ensemble members then shuffle the feature order and mirror features (``x -> -x``);
  on data too wide for the model or the memory budget each member first keeps its own
  subset of the features (:func:`feature_subsets`, the wide-data policy of
  :mod:`._planning`);
- whatever is still non-finite (NaN, +-inf) becomes 0 after the cast to float32.

Targets: with ``class_shuffle="classes"`` (the default) a member feeds the K classes of a
predict as a permutation of the labels 0..K-1 (of three classes, class 2 may be fed as label 0
and read back from logit 0); with ``"slots"`` as a permutation of all the model's label slots
(class 2 may be fed as label 7), which is what AutoGluon's ``Preprocessor`` does with
``shuffle_classes`` on (its sklearn interface passes ``n_classes=10``; the option is off by
default there) and what wlearn-mitra 0.2.0 and earlier did. A Mitra prior numbers a table's
classes 0..K-1 (``pretrain/prior.py`` does), so a label in slots K..9 is one the model never
saw beside K classes: with the built-in classifier, 4-member ensembles on the real-table
benchmark went from 1.026 to 1.032 x RandomForest's geometric-mean accuracy and from 0.418 to
0.404 log-loss (bench/README.md, "Ensemble members' class permutations"). Models saved
before keep ``"slots"`` (spec/mitra.md, ``params.classShuffle``). Regression targets, already
min-max scaled to [0, 1], may be mirrored (``y -> 1 - y``) and the prediction mirrored back.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

#: The per-member transforms upstream knows, by the names the engine accepts.
TRANSFORMS = frozenset({"mirror_x", "shuffle_features", "shuffle_classes", "mirror_y"})


@dataclass(frozen=True)
class SupportStats:
    """What preprocessing learns from the support set."""

    means: np.ndarray  # float64 [F], nanmean of each column (NaN for an all-NaN column)
    keep: np.ndarray  # bool [F], False for constant columns

    @classmethod
    def fit(cls, x_support: np.ndarray) -> "SupportStats":
        x = np.asarray(x_support, dtype=np.float64)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns: mean is NaN
            means = np.nanmean(x, axis=0) if len(x) else np.full(x.shape[1], np.nan)
        imputed = impute(x, means)
        keep = np.array([len(np.unique(col)) > 1 for col in imputed.T], dtype=bool)
        return cls(means=means, keep=keep.reshape(x.shape[1]))

    def apply(self, x: np.ndarray) -> np.ndarray:
        """Impute and drop constant columns; float64 [N, kept features]."""
        return impute(np.asarray(x, dtype=np.float64), self.means)[:, self.keep]


def impute(x: np.ndarray, means: np.ndarray) -> np.ndarray:
    """``x`` with every NaN replaced by its column's mean (a copy when anything changes)."""
    nan = np.isnan(x)
    if not nan.any():
        return x
    return np.where(nan, means[None, :], x)


def feature_subsets(n_features: int, width: int, n_members: int, seed: int) -> list[np.ndarray]:
    """Each member's features when there are more than ``width``: sorted column indices.

    One permutation of the columns, drawn from ``seed`` (a stream of its own, so members'
    other transforms are drawn as without subsets), is dealt out cyclically, ``width``
    columns per member: member k gets positions k*width ... k*width + width - 1 (mod
    ``n_features``). With ceil(n_features / width) members or more every column is seen,
    and no column is seen twice before all have been seen once.
    """
    order = np.random.default_rng([seed, 1]).permutation(n_features)
    return [
        np.sort(order[(k * width + np.arange(width)) % n_features]) for k in range(n_members)
    ]


@dataclass(frozen=True)
class MemberTransform:
    """One ensemble member's random view of the data. The identity when every field is None."""

    features: np.ndarray | None = None  # int [F']: the member's columns, before anything else
    feature_order: np.ndarray | None = None  # int [F']: new column j is old column order[j]
    mirror: np.ndarray | None = None  # float [F'] of +-1, applied after the reordering
    class_perm: np.ndarray | None = None  # int [n_labels]: class c is fed as label perm[c]
    mirror_y: bool = False

    @classmethod
    def draw(
        cls,
        rng: np.random.Generator,
        *,
        n_features: int,
        n_labels: int,
        classification: bool,
        transforms: frozenset[str],
        features: np.ndarray | None = None,
    ) -> "MemberTransform":
        """A member's transforms; ``n_features`` is the width it sees (of ``features``),
        ``n_labels`` the labels its class permutation moves the classes among (ignored for
        a regressor)."""
        # Drawn in upstream's order: class order, feature order, target mirror, feature mirror.
        class_perm = feature_order = mirror = None
        mirror_y = False
        if classification and "shuffle_classes" in transforms:
            class_perm = rng.permutation(n_labels)
        if "shuffle_features" in transforms:
            feature_order = rng.permutation(n_features)
        if not classification and "mirror_y" in transforms:
            mirror_y = bool(rng.integers(2))
        if "mirror_x" in transforms:
            mirror = rng.choice(np.array([1.0, -1.0]), size=n_features)
        return cls(features, feature_order, mirror, class_perm, mirror_y)

    def x(self, x: np.ndarray) -> np.ndarray:
        """The model's float32 view of preprocessed rows ``x`` (float64 [N, F])."""
        if self.features is not None:
            x = x[:, self.features]
        if self.feature_order is not None:
            x = x[:, self.feature_order]
        if self.mirror is not None:
            x = x * self.mirror
        out = x.astype(np.float32)
        out[~np.isfinite(out)] = 0.0
        return out

    def y(self, y: np.ndarray, classification: bool) -> np.ndarray:
        """Support targets as fed to the model."""
        if classification:
            y = np.asarray(y, dtype=np.int64)
            return y if self.class_perm is None else self.class_perm[y].astype(np.int64)
        y = np.asarray(y, dtype=np.float64)
        return (1.0 - y if self.mirror_y else y).astype(np.float32)

    def logits(self, output: np.ndarray, n_classes: int) -> np.ndarray:
        """The logits of classes 0..n_classes-1 from raw output [Q, n_slots]."""
        if self.class_perm is None:
            return output[:, :n_classes]
        return output[:, self.class_perm[:n_classes]]

    def value(self, output: np.ndarray) -> np.ndarray:
        """A regression output back in the caller's (min-max) scale."""
        return 1.0 - output if self.mirror_y else output
