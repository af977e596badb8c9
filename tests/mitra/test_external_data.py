"""Models with external data (``model.onnx`` + ``model.onnx.data``): the model's identity
covers every file it reads, so replacing the weights in ``model.onnx.data`` is a new model for
``check_onnx_hash``, the shared engines and every cache keyed by the model (derived split pair,
int8 graphs, optimised graphs)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from wlearn.errors import ValidationError
from wlearn_mitra import MitraClassifier, MitraRegressor
from wlearn_mitra.engine import MitraEngine

onnx = pytest.importorskip("onnx")
from onnx import helper, numpy_helper  # noqa: E402

from _paths import fixtures_dir

ONNX = fixtures_dir("onnx")
NAMES = {"classification": "classifier", "regression": "regressor"}


def external_model(folder: Path, task: str) -> Path:
    """The tiny fixture model saved with every tensor in ``model.onnx.data``."""
    folder.mkdir(parents=True, exist_ok=True)
    model = onnx.load(str(ONNX / f"tiny-mitra-{NAMES[task]}.onnx"))
    path = folder / "model.onnx"
    onnx.save_model(model, str(path), save_as_external_data=True, all_tensors_to_one_file=True,
                    location="model.onnx.data", size_threshold=0)
    return path


def replace_weights(path: Path, scale: float = 1.5) -> None:
    """Scale every float matrix in ``model.onnx.data`` in place; ``model.onnx`` is unchanged."""
    proto = onnx.load(str(path), load_external_data=False)
    data = bytearray((path.parent / "model.onnx.data").read_bytes())
    for tensor in proto.graph.initializer:
        info = {entry.key: entry.value for entry in tensor.external_data}
        if tensor.data_type != onnx.TensorProto.FLOAT or len(tensor.dims) != 2:
            continue
        start, length = int(info.get("offset", 0)), int(info["length"])
        values = np.frombuffer(bytes(data[start : start + length]), dtype="<f4") * scale
        data[start : start + length] = values.astype("<f4").tobytes()
    (path.parent / "model.onnx.data").write_bytes(bytes(data))


def inlined(path: Path) -> bytes:
    """The model at ``path`` with its external data read in: one self-contained graph."""
    return onnx.load(str(path)).SerializeToString()


def data(seed=0, n_support=40, n_query=9, n_features=4):
    rng = np.random.default_rng(seed)
    return (rng.normal(size=(n_support, n_features)), rng.integers(0, 3, n_support),
            rng.random(n_support), rng.normal(size=(n_query, n_features)))


def test_the_identity_covers_the_external_file(tmp_path):
    path = external_model(tmp_path / "m", "regression")
    own = path.read_bytes()
    before = MitraEngine(path, task="regression", split=None).onnx_sha256
    expected = hashlib.sha256(
        ("wlearn-onnx-model 1\n" + hashlib.sha256(own).hexdigest() + "\n"
         + hashlib.sha256((path.parent / "model.onnx.data").read_bytes()).hexdigest()
         + " model.onnx.data\n").encode()
    ).hexdigest()
    assert before == expected
    replace_weights(path)
    assert path.read_bytes() == own
    after = MitraEngine(path, task="regression", split=None).onnx_sha256
    assert after != before
    # A self-contained model keeps the plain SHA-256 of its bytes (what @wlearn/mitra records).
    fixture = ONNX / "tiny-mitra-regressor.onnx"
    assert MitraEngine(fixture, task="regression").onnx_sha256 == hashlib.sha256(
        fixture.read_bytes()).hexdigest()


def test_a_bundle_of_the_old_weights_is_refused(tmp_path):
    path = external_model(tmp_path / "m", "regression")
    xs, _, ys, xq = data()
    bundle = MitraRegressor(onnx=path).fit(xs, ys).save()
    replace_weights(path)
    with pytest.raises(ValidationError, match="sha256"):
        MitraRegressor.load(bundle, path).predict(xq)  # when the model opens
    loaded = MitraRegressor.load(bundle, path, check_onnx_hash=False)
    want = MitraRegressor(onnx=inlined(path)).fit(xs, ys).predict(xq)
    np.testing.assert_allclose(loaded.predict(xq), want, rtol=0, atol=1e-6)


@pytest.mark.parametrize("task", ["classification", "regression"])
def test_shared_engines_see_new_weights(tmp_path, task):
    path = external_model(tmp_path / "m", task)
    cls = MitraClassifier if task == "classification" else MitraRegressor
    xs, labels, targets, xq = data(1)
    ys = labels if task == "classification" else targets
    method = "predict_proba" if task == "classification" else "predict"
    old = cls(onnx=path).fit(xs, ys)
    before = getattr(old, method)(xq)
    replace_weights(path)
    fresh = cls(onnx=path).fit(xs, ys)
    want = getattr(cls(onnx=inlined(path)).fit(xs, ys), method)(xq)
    np.testing.assert_allclose(getattr(fresh, method)(xq), want, rtol=0, atol=1e-6)
    assert np.abs(want - before).max() > 1e-3  # the replacement does change the answers


@pytest.mark.parametrize(
    "options",
    [dict(precision="int8", split=None), dict(split="derive"), dict(split=None)],
    ids=["int8", "derived-split", "optimised"],
)
def test_caches_keyed_by_the_model_follow_the_new_weights(tmp_path, options):
    path = external_model(tmp_path / "m", "regression")
    cache = tmp_path / "cache"
    xs, _, ys, xq = data(2)

    def run(source, folder):
        engine = MitraEngine(source, task="regression", optimized_dir=folder, **options)
        return engine.predict(xs, ys, xq)

    before = run(path, cache)
    replace_weights(path)
    got = run(path, cache)
    # The same options on a self-contained copy of the new weights, with caches of its own.
    reference = tmp_path / "reference.onnx"
    reference.write_bytes(inlined(path))
    want = run(reference, tmp_path / "cache-reference")
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-5)
    assert np.abs(want - before).max() > 1e-3


def test_external_data_given_as_bytes_is_refused(tmp_path):
    path = external_model(tmp_path / "m", "classification")
    with pytest.raises(ValidationError, match="pass the model's path"):
        MitraEngine(path.read_bytes(), task="classification")


def _relocate(path: Path, location: str) -> None:
    proto = onnx.load(str(path), load_external_data=False)
    for tensor in proto.graph.initializer:
        for entry in tensor.external_data:
            if entry.key == "location":
                entry.value = location
    path.write_bytes(proto.SerializeToString())


@pytest.mark.parametrize("location, message", [
    ("../outside.data", "outside its own folder"),
    ("/etc/passwd", "outside its own folder"),
    ("missing.data", "is not a file"),
])
def test_external_data_outside_the_folder_or_missing_is_refused(tmp_path, location, message):
    path = external_model(tmp_path / "m", "classification")
    (tmp_path / "outside.data").write_bytes((path.parent / "model.onnx.data").read_bytes())
    _relocate(path, location)
    with pytest.raises(ValidationError, match=message):
        MitraEngine(path, task="classification")
    with pytest.raises(ValidationError, match=message):
        MitraClassifier(onnx=path).fit(*data()[:2])


def test_external_tensors_are_found_in_attributes_and_subgraphs():
    from wlearn_mitra.graphs._onnxinfo import external_locations

    def external(name, location):
        tensor = numpy_helper.from_array(np.ones(3, np.float32), name)
        tensor.ClearField("raw_data")
        tensor.data_location = onnx.TensorProto.EXTERNAL
        tensor.external_data.add(key="location", value=location)
        return tensor

    inner = helper.make_graph(
        [helper.make_node("Constant", [], ["c"], value=external("c", "in-subgraph.bin"))],
        "branch", [], [helper.make_tensor_value_info("c", onnx.TensorProto.FLOAT, [3])])
    graph = helper.make_graph(
        [helper.make_node("If", ["cond"], ["out"], then_branch=inner, else_branch=inner)],
        "main", [helper.make_tensor_value_info("cond", onnx.TensorProto.BOOL, [])],
        [helper.make_tensor_value_info("out", onnx.TensorProto.FLOAT, [3])],
        initializer=[external("w", "weights.bin"), numpy_helper.from_array(np.ones(2), "v")])
    model = helper.make_model(graph).SerializeToString()
    assert external_locations(model) == ["weights.bin", "in-subgraph.bin"]
    assert external_locations((ONNX / "tiny-mitra-classifier.onnx").read_bytes()) == []
