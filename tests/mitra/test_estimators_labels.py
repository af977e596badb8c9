"""Class labels: what the model is fed, what predictions return, and how bundles carry labels
(the @wlearn/mitra form, and the ``meta.labels`` extension for labels int32 cannot hold)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import wlearn
import wlrn
from wlearn.errors import BundleError, ValidationError
from wlearn_mitra import MitraClassifier
from wlearn_mitra.engine import MitraEngine

from _paths import fixtures_dir

FIXTURES = fixtures_dir()
CLF_ONNX = FIXTURES / "onnx" / "tiny-mitra-classifier.onnx"


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(7)
    X = rng.normal(size=(60, 4))
    index = np.arange(60) % 3
    rng.shuffle(index)
    return X, index, rng.normal(size=(9, 4))


@pytest.fixture(scope="module")
def reference(data):
    """Probabilities for labels 0, 1, 2, computed straight from the engine."""
    X, index, Xq = data
    engine = MitraEngine(CLF_ONNX, task="classification")
    logits = engine.forward(X.astype(np.float32), index, Xq)[:, :3].astype(np.float64)
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def parts(bundle: bytes):
    manifest, toc, blobs = wlearn.decode_bundle(bundle)
    return manifest, [e["id"] for e in toc], json.loads(bytes(blobs["meta"])), blobs


LABEL_SETS = {
    "ints": np.array([0, 1, 2]),
    "ints_2_5_7": np.array([2, 5, 7]),
    "negative": np.array([-7, -1, 3]),
    "bools_and_more": None,  # placeholder; booleans have two classes, tested separately
    "integral_floats": np.array([1.0, 2.0, 3.0]),
    "floats": np.array([0.5, 1.5, 2.25]),
    "strings": np.array(["cat", "dog", "émeu"]),
    "big_ints": np.array([-(2**40), 0, 2**40]),
    "beyond_int64": np.array([-(2**70), 1, 2**70], dtype=object),
    "beyond_int32_floats": np.array([-3e9, 0.0, 3e9]),
}


@pytest.mark.parametrize("name", [k for k, v in LABEL_SETS.items() if v is not None])
def test_any_labels_feed_class_indices_and_round_trip(name, data, reference):
    X, index, Xq = data
    labels = LABEL_SETS[name]
    y = labels[index]
    model = MitraClassifier(onnx=CLF_ONNX).fit(X, y)
    assert list(model.classes_) == sorted(labels.tolist())
    np.testing.assert_allclose(model.predict_proba(Xq), reference, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(model.predict(Xq), labels[reference.argmax(1)])
    assert model.score(Xq, labels[reference.argmax(1)]) == 1.0

    bundle = model.save()
    manifest, ids, meta, blobs = parts(bundle)
    assert manifest["metadata"]["nClasses"] == 3
    js_form = name in ("ints", "ints_2_5_7", "negative", "integral_floats")
    if js_form:
        assert ids == ["meta", "support_x", "support_y"] and "labels" not in meta
        assert meta["classes"] == [int(v) for v in sorted(labels)]
        np.testing.assert_array_equal(np.frombuffer(blobs["support_y"], "<i4"), y)
    else:
        # No support_y: @wlearn/mitra 0.1.0 fails loudly at load (it looks that artifact up).
        assert ids == ["meta", "support_x", "support_y_index"] and "classes" not in meta
        assert meta["labels"]["version"] == 1
        np.testing.assert_array_equal(np.frombuffer(blobs["support_y_index"], "<i4"), index)
    loaded = MitraClassifier.load(bundle, CLF_ONNX)
    assert list(loaded.classes_) == list(model.classes_)
    np.testing.assert_array_equal(loaded.predict(Xq), model.predict(Xq))
    assert loaded.save() == bundle


def test_integral_float_labels_write_the_same_bundle_as_ints(data):
    X, index, _ = data
    a = MitraClassifier(onnx=CLF_ONNX).fit(X, index).save()
    b = MitraClassifier(onnx=CLF_ONNX).fit(X, index.astype(float)).save()
    c = MitraClassifier(onnx=CLF_ONNX).fit(X, index.astype(np.int8)).save()
    assert a == b == c


def test_boolean_labels(data):
    X, index, Xq = data
    y = index == 1
    model = MitraClassifier(onnx=CLF_ONNX).fit(X, y)
    assert model.classes_.dtype == bool and model.predict(Xq).dtype == bool
    bundle = model.save()
    # Stored as @wlearn/mitra stores booleans (0/1); they come back as integers.
    assert bundle == MitraClassifier(onnx=CLF_ONNX).fit(X, y.astype(int)).save()
    loaded = MitraClassifier.load(bundle, CLF_ONNX)
    assert loaded.classes_.tolist() == [0, 1]
    np.testing.assert_array_equal(loaded.predict(Xq), model.predict(Xq).astype(int))


def test_labels_js_would_merge_stay_apart(data):
    # JS truncates to int32: {1, 1.5, 2} gives classes [1, 1, 2]. Here they are 3 classes.
    X, index, _ = data
    y = np.array([1.0, 1.5, 2.0])[index]
    model = MitraClassifier(onnx=CLF_ONNX).fit(X, y)
    assert model.classes_.tolist() == [1.0, 1.5, 2.0]
    assert parts(model.save())[2]["labels"] == {"version": 1, "kind": "float",
                                                "values": [1.0, 1.5, 2.0]}


def test_string_labels_from_pandas_and_lists(data):
    pd = pytest.importorskip("pandas")
    X, index, Xq = data
    labels = np.array(["no", "yes", "maybe"])
    a = MitraClassifier(onnx=CLF_ONNX).fit(X, labels[index].tolist())
    b = MitraClassifier(onnx=CLF_ONNX).fit(X, pd.Series(labels[index], dtype="category"))
    c = MitraClassifier(onnx=CLF_ONNX).fit(X, pd.Series(labels[index], dtype=object))
    assert a.save() == b.save() == c.save()
    assert parts(a.save())[2]["labels"] == {"version": 1, "kind": "string",
                                            "values": ["maybe", "no", "yes"]}


def test_js_bundle_with_duplicate_classes_loads(data):
    # What @wlearn/mitra writes for labels {1, 1.5, 2}: classes [1, 1, 2], support_y 1/1/2.
    X, index, Xq = data
    raw = np.array([1, 1, 2], dtype="<i4")[index]
    bundle = wlrn.encode_bundle(
        {"typeId": "wlearn.mitra_onnx.classifier@1", "params": {"maxSupport": 512, "seed": 42},
         "metadata": {"nClasses": 3, "nFeatures": 4}},
        [{"id": "meta", "data": wlearn.encode_json(
            {"classes": [1, 1, 2], "nFeatures": 4, "nSupport": 60, "onnxSha256": None,
             "seed": 42})},
         {"id": "support_x", "data": X.astype("<f4").tobytes()},
         {"id": "support_y", "data": raw.tobytes()}],
    )
    model = MitraClassifier.load(bundle, CLF_ONNX)
    assert model.classes_.tolist() == [1, 2]
    assert model.predict_proba(Xq).shape == (9, 2)


def _rebuild(bundle: bytes, meta_change=None, drop=None, add=None) -> bytes:
    manifest, toc, blobs = wlearn.decode_bundle(bundle)
    meta = json.loads(bytes(blobs["meta"]))
    if meta_change:
        meta_change(meta)
    artifacts = [{"id": "meta", "data": wlearn.encode_json(meta)}]
    artifacts += [{"id": e["id"], "data": bytes(blobs[e["id"]])}
                  for e in toc if e["id"] not in ("meta", drop)]
    artifacts += add or []
    return wlrn.encode_bundle(manifest, artifacts)


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda m: m["labels"].update(version=2), "version 2"),
        (lambda m: m["labels"].update(kind="date"), "kind"),
        (lambda m: m["labels"].update(values=["b", "a", "c"]), "sorted and distinct"),
        (lambda m: m["labels"].update(values=[1, 2, 3]), "fit kind"),
        (lambda m: m.update(classes=[0, 1, 2]), "exactly one of"),
        (lambda m: m.update(nSupport=59), "bytes, expected"),
    ],
)
def test_malformed_label_extension_is_refused(data, change, message):
    X, index, _ = data
    bundle = MitraClassifier(onnx=CLF_ONNX).fit(X, np.array(["a", "b", "c"])[index]).save()
    with pytest.raises(BundleError, match=message):
        MitraClassifier.load(_rebuild(bundle, change), CLF_ONNX)


def test_malformed_js_form_is_refused(data):
    X, index, _ = data
    bundle = MitraClassifier(onnx=CLF_ONNX).fit(X, index).save()
    with pytest.raises(BundleError, match="lacks"):
        MitraClassifier.load(_rebuild(bundle, lambda m: m.update(classes=[0, 1])), CLF_ONNX)
    with pytest.raises(BundleError, match="int32 labels"):
        MitraClassifier.load(_rebuild(bundle, lambda m: m.update(classes=[0, 1.5])), CLF_ONNX)
    with pytest.raises(BundleError, match="no 'support_y'"):
        MitraClassifier.load(_rebuild(bundle, drop="support_y"), CLF_ONNX)
    with pytest.raises(BundleError, match="nFeatures"):
        MitraClassifier.load(_rebuild(bundle, lambda m: m.update(nFeatures="4")), CLF_ONNX)


LABEL_KINDS = [
    st.integers(-(2**80), 2**80),
    st.integers(-5, 12),
    st.floats(allow_nan=False, allow_infinity=False, width=64),
    st.text(max_size=6),
    st.booleans(),
]


@settings(max_examples=60, deadline=None)
@given(data=st.data(), kind=st.sampled_from(range(len(LABEL_KINDS))))
def test_any_label_set_survives_save_and_load(data, kind):
    labels = data.draw(st.lists(LABEL_KINDS[kind], min_size=1, max_size=10, unique=True))
    n = data.draw(st.integers(len(labels), 40))
    index = np.arange(n) % len(labels)
    y = np.empty(n, dtype=object)
    y[:] = [labels[i] for i in index]
    X = np.arange(n * 2, dtype=float).reshape(n, 2)
    max_support = data.draw(st.integers(1, 50))
    if kind == 3 and any(label.endswith("\x00") for label in labels):
        # numpy's strings drop a trailing NUL ("a\0" would become "a"): refused, not merged
        with pytest.raises(ValidationError, match="ending in a NUL character"):
            MitraClassifier(onnx=CLF_ONNX, max_support=max_support).fit(X, y)
        return
    model = MitraClassifier(onnx=CLF_ONNX, max_support=max_support).fit(X, y)
    assert sorted(model.classes_.tolist()) == model.classes_.tolist()
    assert len(model.classes_) == len(labels)
    loaded = MitraClassifier.load(model.save(), CLF_ONNX)
    np.testing.assert_array_equal(loaded.support_x_, model.support_x_)
    # Booleans come back as 0/1, everything else as it went in.
    assert loaded.support_y_.tolist() == [int(v) if kind == 4 else v for v in model.support_y_.tolist()]
    assert loaded.save() == model.save()


def test_meta_that_is_not_json_is_refused(data):
    X, index, _ = data
    bundle = MitraClassifier(onnx=CLF_ONNX).fit(X, index).save()
    manifest, toc, blobs = wlearn.decode_bundle(bundle)
    broken = wlrn.encode_bundle(manifest, [
        {"id": "meta", "data": b'{"nFeatures": 4, "nFeatures": 4}'},
        {"id": "support_x", "data": bytes(blobs["support_x"])},
        {"id": "support_y", "data": bytes(blobs["support_y"])},
    ])
    with pytest.raises(BundleError, match="artifact 'meta'.*duplicate"):
        MitraClassifier.load(broken, CLF_ONNX)
