"""Run an end-to-end example on data shipped with wlearn-mitra: load a JS bundle, predict, fit, save, reload.

The bundle ``data/js-3class.wlrn`` was written by the JavaScript package @wlearn/mitra 0.1.0
(``MitraClassifier.create(onnx, {maxSupport: 128, seed: 42})``, fitted on
``js-3class-X.npy`` / ``js-3class-y.npy``). The ONNX model is the one named by
``WLEARN_MITRA_CLASSIFIER_ONNX`` (or ``--onnx``), else the shipped tiny stand-in.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from importlib import resources
from pathlib import Path

import numpy as np

import wlearn
from wlearn.errors import WlearnError

from ._sources import ENV_VARS, how_to_get
from .estimators import MitraClassifier
from .loaders import register_loaders

BUNDLE = "js-3class.wlrn"
TINY_MODEL = "tiny-mitra-classifier.onnx"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--onnx", help="Mitra classifier ONNX file (default: "
                        f"${ENV_VARS['classification']}, else the shipped tiny stand-in)")
    parser.add_argument("--out", help="where to write the newly fitted bundle "
                        "(default: a temporary file, removed afterwards)")
    parser.set_defaults(run=run)


def _data(name: str) -> bytes:
    return resources.files("wlearn_mitra").joinpath("data", name).read_bytes()


def _array(name: str) -> np.ndarray:
    with resources.files("wlearn_mitra").joinpath("data", name).open("rb") as handle:
        return np.load(handle, allow_pickle=False)


def _choose_model(path: str | None) -> tuple[bytes, bool]:
    """The ONNX bytes to use, and whether they are the shipped stand-in."""
    path = path or os.environ.get(ENV_VARS["classification"])
    if path:
        print(f"Model: {path}")
        return Path(path).read_bytes(), False
    print(f"Model: the shipped {TINY_MODEL}, an UNTRAINED stand-in with random weights"
          " (dim 32, 2 layers). It exercises every step, but its predictions mean nothing.")
    print(f"  For real predictions get the real model with {how_to_get('classification')}; "
          f"then set {ENV_VARS['classification']}=<its path> or pass --onnx.")
    return _data(TINY_MODEL), True


def run(args: argparse.Namespace) -> int:
    try:
        return _run(args)
    except (WlearnError, OSError) as exc:
        print(f"wlearn-mitra demo: error: {exc}", file=sys.stderr)
        return 2


def _run(args: argparse.Namespace) -> int:
    ok = True
    bundle = _data(BUNDLE)
    manifest, toc, _ = wlearn.validate_bundle(bundle)
    print(f"1. Validated {BUNDLE} ({len(bundle)} bytes), written by @wlearn/mitra 0.1.0: "
          f"{manifest['typeId']}, params {manifest['params']}, "
          f"{len(toc)} artifacts ({', '.join(e['id'] for e in toc)}), every SHA-256 matches.")

    onnx, stand_in = _choose_model(args.onnx)
    # The JS bundle records the tiny model's hash; another model is a deliberate choice here.
    js_model = MitraClassifier.load(bundle, onnx, check_onnx_hash=stand_in)
    if not stand_in:
        print("   (the JS bundle was made with the tiny model: its onnxSha256 check is skipped)")
    Xq = _array("js-3class-Xq.npy")
    pred_js = js_model.predict(Xq)
    print(f"2. Loaded it as {js_model!r}: {js_model.support_x_.shape[0]} support rows x "
          f"{js_model.n_features_in_} features, classes {js_model.classes_.tolist()}.")
    print(f"   Predicted {len(Xq)} query rows; first ten: {pred_js[:10].tolist()}.")

    X, y = _array("js-3class-X.npy"), _array("js-3class-y.npy")
    model = MitraClassifier(onnx=onnx, max_support=128, seed=42).fit(X, y)
    counts = np.bincount(np.searchsorted(model.classes_, model.support_y_))
    same_rows = np.array_equal(model.support_x_, js_model.support_x_)
    ok &= same_rows
    print(f"3. Fitted {model!r} on {len(X)} rows: support set of {len(model.support_x_)} rows "
          f"({'/'.join(map(str, counts))} per class), "
          f"{'the same rows as' if same_rows else 'NOT the rows of'} the JS bundle.")
    saved = model.save()
    if stand_in:
        same = saved == bundle
        ok &= same
        print(f"   save() is {'byte-identical to' if same else 'DIFFERENT from'} the JS bundle.")

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(args.out) if args.out else Path(tmp) / "mitra-demo.wlrn"
        out.write_bytes(saved)
        register_loaders(classifier=onnx)
        reloaded = wlearn.load(out)
        agree = np.array_equal(reloaded.predict(Xq), model.predict(Xq))
        ok &= agree
        where = str(out) if args.out else "a temporary file"
        print(f"4. Saved {len(saved)} bytes to {where}, reloaded through wlearn.load as "
              f"{type(reloaded).__name__}: predictions {'agree' if agree else 'DISAGREE'} on "
              f"all {len(Xq)} rows.")
    print("Done." if ok else "FAILED.")
    return 0 if ok else 1
