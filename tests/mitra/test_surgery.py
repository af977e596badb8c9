"""The support cache cut out of a single graph with onnx alone, against that single graph."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from wlearn.errors import ValidationError

onnx = pytest.importorskip("onnx")
import onnxruntime as ort  # noqa: E402

from wlearn_mitra.graphs._surgery import cut, derive_pair, derived_paths  # noqa: E402

from _paths import fixtures_dir

FIXTURES = fixtures_dir("onnx")


def session(model) -> ort.InferenceSession:
    data = model if isinstance(model, (bytes, str)) else model.SerializeToString()
    return ort.InferenceSession(data, providers=["CPUExecutionProvider"])


def inputs(seed, regression, batch=1, n_support=70, n_query=23, n_features=5, padded=0):
    rng = np.random.default_rng(seed)
    xs = rng.normal(size=(batch, n_support, n_features)).astype(np.float32)
    xq = rng.normal(size=(batch, n_query, n_features)).astype(np.float32)
    xs[..., -1], xq[..., -1] = np.round(xs[..., -1]), np.round(xq[..., -1])  # ties
    if regression:
        ys = rng.normal(size=(batch, n_support)).astype(np.float32)
    else:
        ys = np.broadcast_to(np.arange(n_support) % 3, (batch, n_support)).astype(np.int64)
    padding = np.zeros((batch, n_support), bool)
    if padded:
        padding[:, -padded:] = True
    return xs, ys, xq, padding


CASES = [dict(), dict(n_support=11, n_query=1, n_features=1), dict(batch=2, padded=4),
         dict(n_support=300, n_query=2, n_features=9)]


def assert_pair_equals_single(single_bytes: bytes, regression: bool) -> None:
    encoder, decoder, names = cut(onnx.load_model_from_string(single_bytes))
    single, enc, dec = session(single_bytes), session(encoder), session(decoder)
    assert [i.name for i in dec.get_inputs()] == ["x_query", *names]
    for seed, case in enumerate(CASES):
        xs, ys, xq, padding = inputs(seed, regression, **case)
        want = single.run(["output"], dict(x_support=xs, y_support=ys, x_query=xq,
                                           padding_obs_support=padding))[0]
        cache = enc.run(names, dict(x_support=xs, y_support=ys, padding_obs_support=padding))
        # one encoding serves query sets of any size
        for rows in (slice(None), slice(0, 1)):
            got = dec.run(["output"], {"x_query": xq[:, rows], **dict(zip(names, cache))})[0]
            np.testing.assert_allclose(got, want[:, rows], rtol=0, atol=1e-4)


@pytest.mark.parametrize("variant", ["classifier", "regressor"])
def test_pair_cut_from_the_js_package_graph_equals_it(variant):
    graph = (FIXTURES / f"tiny-mitra-{variant}.onnx").read_bytes()
    assert_pair_equals_single(graph, variant == "regressor")


@pytest.fixture(scope="module")
def converted(tmp_path_factory) -> Path:
    """Our converter's single graph (no pair) of a random model with 3 layers."""
    pytest.importorskip("torch")
    from wlearn_mitra.convert import convert, random_checkpoint

    root = tmp_path_factory.mktemp("random")
    checkpoint = random_checkpoint(root / "ckpt", "classifier", dim=64, n_layers=3, n_heads=4,
                                   seed=3)
    return convert(checkpoint, root / "random.onnx")


def test_pair_cut_from_a_converted_random_model_equals_it(converted):
    assert_pair_equals_single(converted.read_bytes(), regression=False)


def test_cut_of_our_graph_caches_exactly_the_statistics_and_each_layer(converted):
    # The converter's graph is decode_query(encode_support(...)): the frontier holds the four
    # bucketing statistics and one keys and one values tensor per layer, nothing per query
    _, _, names = cut(onnx.load(str(converted)))
    xs, ys, _, padding = inputs(0, False)
    encoder, _, _ = cut(onnx.load(str(converted)))
    cache = session(encoder).run(names, dict(x_support=xs, y_support=ys,
                                             padding_obs_support=padding))
    big = [a.shape for a in cache if a.ndim == 5]
    assert sorted(big) == sorted([(1, 6, 4, 70, 16)] * 6)  # 3 layers x (keys, values)
    assert sum(a.nbytes for a in cache) < 1.1 * 6 * 6 * 70 * 64 * 4 + 5 * 999 * 4 + 4096


def test_derived_pair_is_written_once_and_atomically(tmp_path):
    graph = FIXTURES / "tiny-mitra-regressor.onnx"
    encoder, decoder = derive_pair(graph, tmp_path, "abc")
    assert (encoder, decoder) == derived_paths(tmp_path, "abc")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([encoder.name, decoder.name])
    for path, role in ((encoder, "encoder"), (decoder, "decoder")):
        meta = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
        assert meta["mitra.graph"] == role


def test_a_large_pair_keeps_its_weights_beside_it_with_the_same_answers(tmp_path,
                                                                        monkeypatch):
    from wlearn_mitra.graphs import _surgery

    graph = FIXTURES / "tiny-mitra-classifier.onnx"
    inline = derive_pair(graph, tmp_path / "inline", "abc")
    monkeypatch.setattr(_surgery, "EXTERNAL_WEIGHTS_BYTES", 0)  # as past 64 MB
    encoder, decoder = derive_pair(graph, tmp_path / "external", "abc")
    assert sorted(p.name for p in (tmp_path / "external").iterdir()) == sorted(
        [encoder.name, f"{encoder.name}.data", decoder.name, f"{decoder.name}.data"])
    for path, before in zip((encoder, decoder), inline):
        assert path.stat().st_size < before.stat().st_size / 2  # the weights really moved out
        entries = {e.key: e.value for t in onnx.load(str(path), load_external_data=False)
                   .graph.initializer for e in t.external_data}
        assert entries.get("location") == f"{path.name}.data"  # beside it, by its own name
    xs, ys, xq, padding = inputs(2, False)
    outputs = []
    for enc, dec in (inline, (encoder, decoder)):
        names = [i.name for i in session(str(dec)).get_inputs()][1:]
        cache = session(str(enc)).run(names, dict(x_support=xs, y_support=ys,
                                                  padding_obs_support=padding))
        outputs.append(session(str(dec)).run(["output"],
                                             {"x_query": xq, **dict(zip(names, cache))})[0])
    np.testing.assert_array_equal(outputs[0], outputs[1])


def test_pair_is_cut_from_a_graph_with_external_weights(tmp_path):
    model = onnx.load(str(FIXTURES / "tiny-mitra-classifier.onnx"))
    onnx.save_model(model, str(tmp_path / "ext.onnx"), save_as_external_data=True,
                    all_tensors_to_one_file=True, location="ext.onnx.data", size_threshold=0)
    assert (tmp_path / "ext.onnx.data").stat().st_size > 150_000  # the weights really moved out
    encoder, decoder = derive_pair(tmp_path / "ext.onnx", tmp_path / "store", "ext")
    xs, ys, xq, padding = inputs(1, False)
    names = [i.name for i in session(str(decoder)).get_inputs()][1:]
    cache = session(str(encoder)).run(names, dict(x_support=xs, y_support=ys,
                                                  padding_obs_support=padding))
    got = session(str(decoder)).run(["output"], {"x_query": xq, **dict(zip(names, cache))})[0]
    want = session(str(FIXTURES / "tiny-mitra-classifier.onnx")).run(
        ["output"], dict(x_support=xs, y_support=ys, x_query=xq, padding_obs_support=padding))[0]
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-4)


def test_graphs_that_are_not_mitra_are_refused():
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [None])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [None])
    plain = helper.make_model(helper.make_graph([helper.make_node("Relu", ["x"], ["y"])],
                                                "g", [x], [y]))
    with pytest.raises(ValidationError, match="not a single Mitra graph"):
        cut(plain)
    with pytest.raises(ValidationError, match="cannot read the ONNX graph"):
        derive_pair(b"not a model", Path("unused"), "bad")


def test_the_cut_and_the_cached_predict_need_no_torch(tmp_path):
    # torch made unimportable: the engine still cuts the pair and predicts through it
    script = f"""
import sys
sys.modules["torch"] = None
import numpy as np
from wlearn_mitra.engine import MitraEngine
engine = MitraEngine({str(FIXTURES / "tiny-mitra-classifier.onnx")!r}, task="classification",
                     split="derive", optimized_dir={str(tmp_path)!r})
assert engine.uses_cache
rng = np.random.default_rng(0)
p = engine.predict(rng.normal(size=(30, 4)), np.arange(30) % 3, rng.normal(size=(5, 4)), n_classes=3)
assert p.shape == (5, 3) and "torch" not in [m for m in sys.modules if sys.modules[m] is not None]
print("ok")
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            env={**os.environ, "PYTHONWARNINGS": "error::UserWarning"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
