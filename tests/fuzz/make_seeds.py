"""Write the fuzzers' seed corpus: ``corpus/bundle/*.wlrn`` and ``corpus/onnx/*.onnx``.

Bundles: the JavaScript fixtures of ../shared/fixtures (each kind of codec input and every
Mitra case), small Python-written Mitra bundles for the forms JS cannot write (labels
extension of each kind, parameters beyond JS's), and the 0.3 manifest form with nesting. ONNX: small graphs with the inputs, outputs,
initializer names and metadata the Mitra engine looks at, made with the ``onnx`` package.
Kept small on purpose: small seeds make fast executions.

    python tests/fuzz/make_seeds.py
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
FIXTURES = HERE.parents[1].parent / "shared" / "fixtures"
sys.path.insert(0, str(HERE))

from targets import CLASSIFIER, REGRESSOR  # noqa: E402


def _mitra_seeds() -> dict[str, bytes]:
    from wlearn_mitra import MitraClassifier, MitraRegressor

    rng = np.random.default_rng(0)
    X = rng.normal(size=(8, 3)).astype(np.float32)
    X[1, 2] = np.nan
    seeds = {}
    labels = {
        "ints": np.array([0, 1, 2, 0, 1, 2, 0, 1]),
        "strings": np.array(["a", "b", "c", "a", "b", "c", "a", "b"]),
        "floats": np.array([0.5, 1.5, 2.5, 0.5, 1.5, 2.5, 0.5, 1.5]),
        "bigints": np.array([2**40, 1, -(2**40), 1, 2**40, 1, 1, -(2**40)]),
        "bools": np.array([True, False] * 4),
    }
    for name, y in labels.items():
        seeds[f"py-classifier-{name}.wlrn"] = MitraClassifier(onnx=str(CLASSIFIER)).fit(X, y).save()
    seeds["py-classifier-params.wlrn"] = MitraClassifier(
        onnx=str(CLASSIFIER), max_support=4, seed=7, n_estimators=2).fit(X, labels["ints"]).save()
    seeds["py-regressor.wlrn"] = MitraRegressor(onnx=str(REGRESSOR)).fit(
        X, rng.normal(size=8)).save()
    seeds["py-regressor-1x1.wlrn"] = MitraRegressor(onnx=str(REGRESSOR)).fit(
        X[:1, :1], [3.0]).save()
    # named columns (meta.featureNames) and category/text columns (meta.categories)
    import pandas as pd

    frame = pd.DataFrame({
        "size": X[:, 0],
        "colour": pd.Categorical(["red", "blue", None, "red", "green", "blue", "red", "blue"]),
        "city": ["a", "b", "a", "c", "b", "a", "c", "b"],
    })
    seeds["py-classifier-categories.wlrn"] = MitraClassifier(onnx=str(CLASSIFIER)).fit(
        frame, labels["strings"]).save()
    seeds["py-regressor-names.wlrn"] = MitraRegressor(onnx=str(REGRESSOR)).fit(
        frame[["size"]].assign(other=X[:, 1]), rng.normal(size=8)).save()
    # targets float32 cannot hold: the exact float64 copy is stored too
    seeds["py-regressor-exact.wlrn"] = MitraRegressor(onnx=str(REGRESSOR)).fit(
        X[:4], [1e8 + 1, 1e8 + 2, 1e8 + 3, 1e8 + 1]).save()
    return seeds


def _core_seeds(mitra: bytes) -> dict[str, bytes]:
    """The 0.3 manifest form (declarations, requires, params) and nested bundles."""
    import wlearn
    from wlearn.bundle import NESTED_BUNDLE_MEDIA_TYPE

    leaf = wlearn.encode_bundle({"typeId": "test.fuzz.leaf@1", "params": {"k": 1}},
                                [{"id": "w", "data": b"\x00\x01\x02\x03"},
                                 {"id": "cfg", "data": b'{"a":[1,2]}',
                                  "mediaType": "application/json"}])
    # a Mitra bundle re-encoded in the 0.3 form, so it can be nested
    manifest, toc, blobs = wlearn.decode_bundle(mitra)
    mitra_03 = wlearn.encode_bundle(
        {k: v for k, v in manifest.items() if k != "bundleVersion"},
        [{"id": e["id"], "data": bytes(blobs[e["id"]])} for e in toc])
    return {
        "core03-leaf.wlrn": leaf,
        "core03-mitra.wlrn": mitra_03,
        "core03-nested.wlrn": wlearn.encode_bundle(
            {"typeId": "test.fuzz.outer@1"},
            [{"id": "child", "data": leaf, "mediaType": NESTED_BUNDLE_MEDIA_TYPE},
             {"id": "model", "data": mitra_03, "mediaType": NESTED_BUNDLE_MEDIA_TYPE}]),
    }


def _graph(task: str, *, config: dict | None, stacked: bool = False) -> bytes:
    import onnx
    from onnx import TensorProto, helper

    y_type = TensorProto.INT64 if task == "classification" else TensorProto.FLOAT
    inputs = [
        helper.make_tensor_value_info("x_support", TensorProto.FLOAT, ["b", "s", "f"]),
        helper.make_tensor_value_info("y_support", y_type, ["b", "s"]),
        helper.make_tensor_value_info("x_query", TensorProto.FLOAT, ["b", "q", "f"]),
        helper.make_tensor_value_info("padding_obs_support", TensorProto.BOOL, ["b", "s"]),
    ]
    if stacked:
        inputs.append(helper.make_tensor_value_info("keys", TensorProto.FLOAT, ["l", "s"]))
    width = 10 if task == "classification" else 1
    bias = helper.make_tensor("x_embedding.x_embedding.bias", TensorProto.FLOAT, [4], [0.0] * 4)
    mask = helper.make_tensor("y_embedding.y_mask.weight", TensorProto.FLOAT, [1, 4], [0.0] * 4)
    zeros = helper.make_tensor("zeros", TensorProto.FLOAT, [width], [0.0] * width)
    nodes = [
        helper.make_node("ReduceSum", ["x_query"], ["summed"], keepdims=1),  # [b, q, 1]
        helper.make_node("Add", ["summed", "zeros"], ["output"] if width == 10 else ["wide"]),
    ]
    if width == 1:
        axes = helper.make_tensor("axes", TensorProto.INT64, [1], [2])
        nodes.append(helper.make_node("Squeeze", ["wide", "axes"], ["output"]))
        initializers = [bias, mask, zeros, axes]
    else:
        initializers = [bias, mask, zeros]
    out_shape = ["b", "q", 10] if width == 10 else ["b", "q"]
    graph = helper.make_graph(
        nodes, "mitra-like", inputs,
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, out_shape)], initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    if config is not None:
        helper.set_model_props(model, {"mitra.config": json.dumps(config)})
    onnx.checker.check_model(model)
    return model.SerializeToString()


def _external(model_bytes: bytes) -> bytes:
    """The same graph with one initializer's data in an external file (not shipped)."""
    import onnx

    model = onnx.load_from_string(model_bytes)
    tensor = model.graph.initializer[0]
    tensor.ClearField("float_data")
    tensor.data_location = onnx.TensorProto.EXTERNAL
    for key, value in (("location", "weights.bin"), ("offset", "0"), ("length", "16")):
        entry = tensor.external_data.add()
        entry.key, entry.value = key, value
    return model.SerializeToString()


def _onnx_seeds() -> dict[str, bytes]:
    return {
        "classifier-external.onnx": _external(_graph("classification", config=None)),
        "classifier-config.onnx": _graph("classification", config={"dim": 4, "n_heads": 2}),
        "classifier-noconfig.onnx": _graph("classification", config=None),
        "regressor-config.onnx": _graph("regression", config={"dim": 4, "n_heads": 2}),
        "decoder-stacked.onnx": _graph("classification", config=None, stacked=True),
    }


def main() -> None:
    bundle_dir, onnx_dir = HERE / "corpus" / "bundle", HERE / "corpus" / "onnx"
    for folder in (bundle_dir, onnx_dir):
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
    for path in sorted(FIXTURES.glob("bundles-*/*.wlrn")):
        shutil.copyfile(path, bundle_dir / f"js-{path.stem}.wlrn")
    for path in sorted(FIXTURES.glob("mitra-js/*/model.wlrn")):
        shutil.copyfile(path, bundle_dir / f"js-mitra-{path.parent.name}.wlrn")
    mitra = _mitra_seeds()
    for name, data in {**mitra, **_core_seeds(mitra["py-classifier-ints.wlrn"])}.items():
        (bundle_dir / name).write_bytes(data)
    for name, data in _onnx_seeds().items():
        (onnx_dir / name).write_bytes(data)
    for folder in (bundle_dir, onnx_dir):
        files = sorted(folder.iterdir())
        print(f"{folder}: {len(files)} files, {sum(f.stat().st_size for f in files):,} bytes")


if __name__ == "__main__":
    main()
