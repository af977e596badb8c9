"""Ensemble members permute a table's classes among the labels 0..K-1 (``class_shuffle_``
``"classes"``), where models saved with members by wlearn-mitra 0.2.0 or earlier permuted all
the head's 10 labels (``"slots"``) and keep doing so (engine/_preprocess.py, spec/mitra.md
``params.classShuffle``)."""

from __future__ import annotations

import itertools
import json
import pickle
import warnings

import numpy as np
import pytest

import wlrn
from wlearn.errors import BundleError, ValidationError
from wlearn_mitra import BuiltinModelWarning, MitraClassifier
from wlearn_mitra.engine import MitraEngine

from _paths import fixtures_dir

CLF_ONNX = fixtures_dir("onnx") / "tiny-mitra-classifier.onnx"


def data(seed=0, n=60, n_features=4, n_classes=3):
    rng = np.random.default_rng(seed)
    y = np.arange(n) % n_classes
    X = y[:, None] + rng.normal(scale=0.9, size=(n, n_features))
    return X, y


def softmax64(z):
    z = np.asarray(z, dtype=np.float64)
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _passes(engine, xs, ys, xq, slots):
    return [softmax64(engine.forward(xs.astype(np.float32), np.array(p)[ys],
                                     xq.astype(np.float32))[:, list(p)]) for p in slots]


def _with_params(bundle: bytes, **changes) -> bytes:
    manifest, toc, blobs = wlrn.decode_bundle(bundle)
    manifest = json.loads(json.dumps(manifest))
    manifest["params"].update(changes)
    return wlrn.encode_bundle(manifest, [{"id": e["id"], "data": blobs[e["id"]]} for e in toc])


def test_fit_permutes_within_the_classes_and_the_engine_can_do_either():
    X, y = data(1)
    xs, ys, xq = X[:40], y[:40], X[40:]
    clf = MitraClassifier(onnx=str(CLF_ONNX), n_estimators=2, seed=5).fit(xs, ys)
    assert clf.class_shuffle_ == "classes"
    engine = clf._open().engine
    got = clf.predict_proba(xq)
    # two members, each some permutation of the labels 0..2 (mirrors off: exact passes)
    within = _passes(engine, xs, ys, xq, itertools.permutations(range(3)))
    direct = engine.predict(xs, ys, xq, n_classes=3, n_estimators=2, seed=5,
                            transforms={"shuffle_classes"}, class_shuffle="classes")
    assert min(np.abs((a + b) / 2 - direct).max()
               for a, b in itertools.combinations_with_replacement(within, 2)) < 1e-9
    slots = engine.predict(xs, ys, xq, n_classes=3, n_estimators=2, seed=5,
                           transforms={"shuffle_classes"}, class_shuffle="slots")
    assert not np.allclose(slots, direct)
    assert got.shape == (len(xq), 3)
    with pytest.raises(ValidationError, match="class_shuffle must be one of"):
        engine.predict(xs, ys, xq, n_classes=3, class_shuffle="all")


def test_bundles_record_it_only_with_members_and_read_it_back():
    X, y = data(2)
    one = MitraClassifier(onnx=str(CLF_ONNX)).fit(X[:40], y[:40])
    manifest, _, _ = wlrn.decode_bundle(one.save())
    assert "classShuffle" not in manifest["params"]  # default bundles stay JS's bytes
    four = MitraClassifier(onnx=str(CLF_ONNX), n_estimators=4).fit(X[:40], y[:40])
    saved = four.save()
    manifest, _, _ = wlrn.decode_bundle(saved)
    assert manifest["params"]["classShuffle"] == "classes"
    loaded = MitraClassifier.load(saved, onnx=str(CLF_ONNX))
    assert loaded.class_shuffle_ == "classes"
    np.testing.assert_array_equal(loaded.predict_proba(X[40:]), four.predict_proba(X[40:]))


def test_a_bundle_with_members_and_no_record_keeps_the_slots_it_was_made_with():
    X, y = data(3)
    four = MitraClassifier(onnx=str(CLF_ONNX), n_estimators=4).fit(X[:40], y[:40])
    manifest, toc, blobs = wlrn.decode_bundle(four.save())
    params = {k: v for k, v in manifest["params"].items() if k != "classShuffle"}
    old = wlrn.encode_bundle({**manifest, "params": params},
                             [{"id": e["id"], "data": blobs[e["id"]]} for e in toc])
    loaded = MitraClassifier.load(old, onnx=str(CLF_ONNX))
    assert loaded.class_shuffle_ == "slots"
    four.class_shuffle_ = "slots"
    np.testing.assert_array_equal(loaded.predict_proba(X[40:]), four.predict_proba(X[40:]))
    manifest, _, _ = wlrn.decode_bundle(loaded.save())
    assert manifest["params"]["classShuffle"] == "slots"  # now recorded


@pytest.mark.parametrize("value", ["all", 3, None, ["classes"]])
def test_a_bundle_with_another_value_is_refused(value):
    X, y = data(4)
    saved = MitraClassifier(onnx=str(CLF_ONNX), n_estimators=2).fit(X[:40], y[:40]).save()
    with pytest.raises(BundleError, match="manifest.params.classShuffle: must be one of"):
        MitraClassifier.load(_with_params(saved, classShuffle=value), onnx=str(CLF_ONNX))


def test_pickles_keep_it_and_old_ones_with_members_keep_slots():
    X, y = data(5)
    four = MitraClassifier(onnx=str(CLF_ONNX), n_estimators=4).fit(X[:40], y[:40])
    again = pickle.loads(pickle.dumps(four))
    assert again.class_shuffle_ == "classes"
    np.testing.assert_array_equal(again.predict_proba(X[40:]), four.predict_proba(X[40:]))
    state = four.__getstate__()
    del state["class_shuffle_"]  # as wlearn-mitra 0.2.0 pickled it
    old = MitraClassifier.__new__(MitraClassifier)
    old.__setstate__(state)
    assert old._class_shuffle() == "slots"
    four.class_shuffle_ = "slots"
    np.testing.assert_array_equal(old.predict_proba(X[40:]), four.predict_proba(X[40:]))
    state["class_shuffle_"] = "everything"
    with pytest.raises(ValidationError, match="class_shuffle_ must be one of"):
        MitraClassifier.__new__(MitraClassifier).__setstate__(state)


def test_builtin_members_read_few_class_tables_better_within_their_classes():
    # The built-in classifier was trained on tables whose K classes are labelled 0..K-1: with
    # labels in slots K..9 its four-member ensemble loses accuracy (digits restricted to 3 and
    # 5 classes, 50/50 splits), within the classes it does not.
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    X, y = load_digits(return_X_y=True)
    scores = {"classes": [], "slots": []}
    for k in (3, 5):
        keep = y < k
        xs, xq, ys, yq = train_test_split(X[keep], y[keep], test_size=0.5, random_state=0,
                                          stratify=y[keep])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", BuiltinModelWarning)
            clf = MitraClassifier(n_estimators=4, random_state=0).fit(xs, ys)
            for rule in scores:
                clf.class_shuffle_ = rule
                scores[rule].append(float(np.mean(clf.predict(xq) == yq)))
    assert np.mean(scores["classes"]) > np.mean(scores["slots"]) + 0.005, scores
