"""Run an end-to-end example on data shipped with wlearn-mitra: a JS bundle read and re-made byte for byte, then real tables predicted and scored against classical baselines.

Data in ``data/``: ``js-3class.wlrn``, written by the JavaScript package @wlearn/mitra 0.1.0
(``MitraClassifier.create(onnx, {maxSupport: 128, seed: 42})`` on ``js-3class-X.npy`` /
``js-3class-y.npy``, with the tiny random-weight test model ``tiny-mitra-classifier.onnx``);
the Wisconsin breast cancer table (569 x 30, 2 classes) and the diabetes table of Efron et al.
(442 x 10, a continuous target), as scikit-learn ships them. The model is the one given by
``--onnx`` / ``--regressor-onnx`` or the environment, else the built-in one.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import warnings
from importlib import resources
from pathlib import Path

import numpy as np

import wlearn
from wlearn.errors import ValidationError, WlearnError

from .exceptions import BuiltinModelWarning
from .engine._shared import ENV_VARS, how_to_get
from ._tasks import TASKS
from .graphs import _builtin
from .estimators import MitraClassifier, MitraRegressor
from .loaders import register_loaders

BUNDLE = "js-3class.wlrn"
TINY_MODEL = TASKS["classification"].test_file


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--onnx", help="Mitra classifier ONNX file (default: "
                        f"${ENV_VARS['classification']}, else the built-in model)")
    parser.add_argument("--regressor-onnx", help="Mitra regressor ONNX file (default: "
                        f"${ENV_VARS['regression']}, else the built-in model)")
    parser.add_argument("--out", help="where to write the fitted classifier's bundle "
                        "(default: a temporary file, removed afterwards)")
    parser.set_defaults(run=run)


def _data(name: str) -> bytes:
    return resources.files("wlearn_mitra").joinpath("data", name).read_bytes()


def _array(name: str) -> np.ndarray:
    with resources.files("wlearn_mitra").joinpath("data", name).open("rb") as handle:
        return np.load(handle, allow_pickle=False)


def _model(given: str | None, task: str) -> str | None:
    """The model file to use and a line saying which it is (None: the built-in one)."""
    path = given or os.environ.get(ENV_VARS[task])
    if path:
        print(f"   Model: {path}")
    else:
        print(f"   Model: {_builtin.what(task)}.")
        print(f"   For the real model: {how_to_get(task)}.")
    return path or None


def _halves(y: np.ndarray, classification: bool, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Row indices of a 50/50 split, stratified by class for a classifier."""
    rng = np.random.default_rng(seed)
    groups = [np.flatnonzero(y == c) for c in np.unique(y)] if classification else [np.arange(len(y))]
    train, test = [], []
    for rows in groups:
        rows = rng.permutation(rows)
        train.append(rows[: len(rows) // 2])
        test.append(rows[len(rows) // 2 :])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(test))


def _baselines(X, y, train, test, classification: bool) -> list[tuple[str, float]]:
    """Classical models on the same split: scikit-learn's when installed, else k-NN."""
    try:
        from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor
        from sklearn.linear_model import LogisticRegression, Ridge
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler
    except ImportError:
        scale = X[train].std(axis=0) + 1e-12
        distances = (((X[test, None, :] - X[None, train, :]) / scale) ** 2).sum(-1)
        nearest = y[train][np.argsort(distances, axis=1)[:, :5]]
        if classification:
            pred = np.array([np.bincount(row).argmax() for row in nearest.astype(np.int64)])
            return [("5-nearest neighbours (numpy)", float(np.mean(pred == y[test])))]
        return [("5-nearest neighbours (numpy)", _r2(y[test], nearest.mean(axis=1)))]
    if classification:
        models = [("scikit-learn RandomForestClassifier", RandomForestClassifier(random_state=0)),
                  ("scikit-learn LogisticRegression",
                   make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000)))]
    else:
        models = [("scikit-learn RandomForestRegressor", RandomForestRegressor(random_state=0)),
                  ("scikit-learn Ridge", make_pipeline(StandardScaler(), Ridge()))]
    return [(name, float(model.fit(X[train], y[train]).score(X[test], y[test])))
            for name, model in models]


def _r2(y: np.ndarray, pred: np.ndarray) -> float:
    return float(1 - np.sum((y - pred) ** 2) / np.sum((y - y.mean()) ** 2))


def run(args: argparse.Namespace) -> int:
    try:
        with warnings.catch_warnings():
            # The demo says itself which model it uses.
            warnings.simplefilter("ignore", BuiltinModelWarning)
            return _run(args)
    except (WlearnError, OSError) as exc:
        print(f"wlearn-mitra demo: error: {exc}", file=sys.stderr)
        return 2


def _interop() -> bool:
    bundle = _data(BUNDLE)
    manifest, toc, _ = wlearn.validate_bundle(bundle)
    print(f"1. Validated {BUNDLE} ({len(bundle)} bytes), written by @wlearn/mitra 0.1.0: "
          f"{manifest['typeId']}, params {manifest['params']}, "
          f"{len(toc)} artifacts ({', '.join(e['id'] for e in toc)}), every SHA-256 matches.")
    tiny = _data(TINY_MODEL)
    js_model = MitraClassifier.load(bundle, tiny)
    X, y = _array("js-3class-X.npy"), _array("js-3class-y.npy")
    # @wlearn/mitra's own support pick (balanced), which its bytes need
    model = MitraClassifier(onnx=tiny, max_support=128, seed=42,
                            support_selection="balanced").fit(X, y)
    same = model.save() == bundle
    agree = np.array_equal(model.predict(_array("js-3class-Xq.npy")),
                           js_model.predict(_array("js-3class-Xq.npy")))
    print(f"   Loaded it with the model it names (the shipped {TINY_MODEL}, random weights, "
          f"matched by SHA-256); refitting the same {len(X)} rows with the same parameters "
          f"and its support pick (support_selection='balanced') "
          f"{'gives byte-identical bytes' if same else 'gives DIFFERENT bytes'}, and "
          f"predictions {'agree' if agree else 'DISAGREE'}.")
    return same and agree


def _score(step: str, table: str, stem: str, given: str | None, task: str):
    """Fit on a 50/50 split of a shipped table, print Mitra's score beside the baselines'."""
    classification = task == "classification"
    X, y = _array(f"{stem}-X.npy"), _array(f"{stem}-y.npy")
    train, test = _halves(y, classification)
    print(f"{step}. {task.capitalize()}: {table} table, {len(X)} rows x {X.shape[1]} features, "
          f"{len(train)} training rows (the support set), {len(test)} scored.")
    onnx = _model(given, task)
    model = (MitraClassifier if classification else MitraRegressor)(onnx=onnx)
    model.fit(X[train], y[train])
    metric = "accuracy" if classification else "R^2"
    print(f"   {metric} {model.score(X[test], y[test]):.3f}  Mitra "
          f"({'given' if onnx else 'built-in'} model)")
    for name, score in _baselines(X, y, train, test, classification):
        print(f"   {metric} {score:.3f}  {name}")
    if not classification:
        try:
            low, high = model.predict_interval(X[test], coverage=0.8).T
        except ValidationError:  # a scalar head (Mitra v1's): no distribution
            print("   (the model given has a scalar head: no predictive distribution)")
        else:
            held = np.mean((low <= y[test]) & (y[test] <= high))
            print(f"   80% intervals (predict_interval) hold {100 * held:.1f}% of the "
                  f"{len(test)} scored targets, {np.mean(high - low):.1f} wide on average.")
    return model, onnx


def _run(args: argparse.Namespace) -> int:
    ok = _interop()
    clf, onnx = _score("2", "breast cancer", "breast-cancer", args.onnx, "classification")
    _score("3", "diabetes", "diabetes", args.regressor_onnx, "regression")

    X, y = _array("breast-cancer-X.npy"), _array("breast-cancer-y.npy")
    train, test = _halves(y, True)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(args.out) if args.out else Path(tmp) / "mitra-demo.wlrn"
        saved = clf.save()
        out.write_bytes(saved)
        if onnx:
            register_loaders(classifier=onnx)
        reloaded = wlearn.load(out)
        agree = np.array_equal(reloaded.predict(X[test]), clf.predict(X[test]))
        ok &= agree
        how = ("the model registered for it" if onnx else
               "no model given: the bundle names the built-in model by its SHA-256")
        print(f"4. Saved the classifier ({len(saved)} bytes) to "
              f"{out if args.out else 'a temporary file'} and reloaded it with wlearn.load "
              f"({how}): predictions {'agree' if agree else 'DISAGREE'} on all {len(test)} rows.")
    print("Done." if ok else "FAILED.")
    return 0 if ok else 1
