"""The support-set cache: encoder + decoder graphs equal the single graph."""

from __future__ import annotations

import contextlib
import shutil

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnx")
pytest.importorskip("safetensors")
ort = pytest.importorskip("onnxruntime")

from wlearn_mitra.convert import (  # noqa: E402
    convert,
    export_split,
    load_model,
    random_checkpoint,
    split_paths,
)
from wlearn_mitra.graphs._layout import ENCODER_INPUTS, INPUT_NAMES, cache_names  # noqa: E402
from wlearn_mitra.convert.verify import verification_cases  # noqa: E402

from _paths import fixtures_dir

FIXTURES = fixtures_dir()
ONNX_FIXTURES = FIXTURES / "onnx"
UPSTREAM = FIXTURES / "upstream"
TOLERANCE = 1e-4



@pytest.fixture(
    scope="module", params=["tiny-mitra-classifier", "tiny-mitra-regressor", "random-classifier-h8"]
)
def graphs(request, tmp_path_factory):
    out = tmp_path_factory.mktemp("split")
    if request.param.startswith("random"):
        # Another shape: one layer, eight heads of width 4.
        checkpoint = random_checkpoint(
            out / "ckpt", "classifier", dim=32, n_layers=1, n_heads=8, seed=3
        )
    else:
        checkpoint = ONNX_FIXTURES / request.param
    single = convert(checkpoint, out / "model.onnx", split=True)
    encoder, decoder = split_paths(single)
    return {
        "name": request.param,
        "model": load_model(checkpoint),
        "single": ort.InferenceSession(str(single)),
        "encoder": ort.InferenceSession(str(encoder)),
        "decoder": ort.InferenceSession(str(decoder)),
    }


def split_run(graphs, inputs, n_layers):
    names = cache_names(n_layers)
    feeds = dict(zip(INPUT_NAMES, inputs))
    cache = graphs["encoder"].run(list(names), {k: feeds[k] for k in ENCODER_INPUTS})
    decoder_feeds = {"x_query": feeds["x_query"], **dict(zip(names, cache))}
    return cache, graphs["decoder"].run(["output"], decoder_feeds)[0]


def all_cases(graphs):
    model = graphs["model"]
    cases = dict(verification_cases(model, seed=5))
    if not graphs["name"].startswith("random"):
        for path in sorted((UPSTREAM / graphs["name"]).glob("*.npz")):
            data = np.load(path)
            cases[path.name] = tuple(data[k] for k in INPUT_NAMES)
    return cases


def test_forward_is_decode_of_encode_exactly(graphs):
    model = graphs["model"]
    for inputs in all_cases(graphs).values():
        x_support, y_support, x_query, padding = (torch.from_numpy(a) for a in inputs)
        with torch.no_grad():
            whole = model(x_support, y_support, x_query, padding)
            cache = model.encode_support(x_support, y_support, padding)
            assert torch.equal(model.decode_query(cache, x_query), whole)
            # Query rows are independent: chunks agree up to GEMM blocking.
            parts = [model.decode_query(cache, q) for q in x_query.split(3, dim=1)]
        torch.testing.assert_close(torch.cat(parts, dim=1), whole, rtol=0, atol=TOLERANCE)


def test_split_graphs_equal_single_graph(graphs):
    for name, inputs in all_cases(graphs).items():
        single = graphs["single"].run(["output"], dict(zip(INPUT_NAMES, inputs)))[0]
        _, split = split_run(graphs, inputs, graphs["model"].n_layers)
        np.testing.assert_allclose(split, single, rtol=0, atol=TOLERANCE, err_msg=name)


def test_split_graphs_match_autogluon(graphs):
    if graphs["name"].startswith("random"):
        pytest.skip("no upstream reference for random weights")
    for path in sorted((UPSTREAM / graphs["name"]).glob("*.npz")):
        data = np.load(path)
        inputs = tuple(data[k] for k in INPUT_NAMES)
        _, got = split_run(graphs, inputs, graphs["model"].n_layers)
        np.testing.assert_allclose(got, data["output"], rtol=0, atol=TOLERANCE, err_msg=path.name)


def test_cache_shapes_and_statistics(graphs):
    model = graphs["model"]
    inputs = verification_cases(model, seed=1)["batch of 2, padded support rows"]
    x_support, _, _, padding = inputs
    cache, _ = split_run(graphs, inputs, model.n_layers)
    quantiles, n_valid, mean, var, *layers = cache
    batch, rows, features = x_support.shape
    heads = model.n_heads
    assert quantiles.shape == (batch, features, 999)
    # one keys and one values tensor per layer, each that layer's alone
    assert len(layers) == 2 * model.n_layers
    for tensor in layers:
        assert tensor.shape == (batch, features + 1, heads, rows, model.dim // heads)
    with torch.no_grad():
        expected = model.encode_support(*(torch.from_numpy(inputs[i]) for i in (0, 1, 3)))
    for got, want in zip(layers, (*expected.keys, *expected.values)):
        np.testing.assert_allclose(got, want.numpy(), rtol=0, atol=TOLERANCE)
    np.testing.assert_array_equal(n_valid, (~padding).sum(axis=1))
    # Quantiles of the valid rows, with padded rows counted as 9999 (as upstream).
    # Linear interpolation at ranks q * (S - 1) computed in float32, as torch does; padded
    # rows count as 9999, as upstream sets them.
    ordered = np.sort(np.where(padding[..., None], 9999.0, x_support.astype(np.float64)), axis=1)
    levels = np.arange(1, 1000, dtype=np.float32) / np.float32(1000)
    ranks = (levels * np.float32(rows - 1)).astype(np.float64)
    low, high = np.floor(ranks).astype(int), np.ceil(ranks).astype(int)
    expected = ordered[:, low] + (ranks - low)[None, :, None] * (ordered[:, high] - ordered[:, low])
    np.testing.assert_allclose(quantiles, expected.transpose(0, 2, 1), rtol=1e-6, atol=1e-6)
    assert np.all(var >= 0) and mean.shape == var.shape == (batch, features)


def test_one_cache_serves_many_query_sets(graphs):
    model = graphs["model"]
    x_support, y_support, _, padding = verification_cases(model, seed=2)["random 64x5, 32 queries"]
    feeds = {"x_support": x_support, "y_support": y_support, "padding_obs_support": padding}
    names = cache_names(model.n_layers)
    cache = dict(zip(names, graphs["encoder"].run(list(names), feeds)))
    rng = np.random.default_rng(0)
    for queries in (1, 17, 64):
        x_query = rng.standard_normal((1, queries, x_support.shape[2])).astype(np.float32)
        got = graphs["decoder"].run(["output"], {"x_query": x_query, **cache})[0]
        single = graphs["single"].run(["output"], {**feeds, "x_query": x_query})[0]
        np.testing.assert_allclose(got, single, rtol=0, atol=TOLERANCE)


def test_split_from_js_onnx_file(tmp_path):
    # Users of the JS package have only the .onnx file: derive the pair from its weights.
    model = "tiny-mitra-classifier"
    encoder, decoder = export_split(
        load_model(ONNX_FIXTURES / f"{model}.onnx"), tmp_path / "e.onnx", tmp_path / "d.onnx")
    graphs = {"encoder": ort.InferenceSession(str(encoder)), "decoder": ort.InferenceSession(str(decoder))}
    data = np.load(UPSTREAM / model / "ties_int0to4_128x32x6.npz")
    _, got = split_run(graphs, tuple(data[k] for k in INPUT_NAMES), n_layers=2)
    np.testing.assert_allclose(got, data["output"], rtol=0, atol=TOLERANCE)


@pytest.mark.parametrize(("model", "task"), [("tiny-mitra-classifier", "classification"),
                                             ("tiny-mitra-regressor", "regression")])
def test_engine_picks_up_the_split_pair(tmp_path, model, task):
    from wlearn_mitra.engine import MitraEngine

    single = convert(ONNX_FIXTURES / model, tmp_path / "m.onnx", split=True)
    engine = MitraEngine(single, task=task)
    assert engine.uses_cache
    data = np.load(UPSTREAM / model / "ties_int0to4_128x32x6.npz")
    x_support, y_support, x_query = data["x_support"][0], data["y_support"][0], data["x_query"][0]
    got = engine.decode(engine.encode(x_support, y_support), x_query)
    np.testing.assert_allclose(got, data["output"][0], rtol=0, atol=TOLERANCE)
    np.testing.assert_allclose(got, engine.forward(x_support, y_support, x_query), rtol=0, atol=TOLERANCE)


def test_a_pair_left_from_another_model_is_never_used(tmp_path):
    """convert --split records the single graph's SHA-256 in both graphs of the pair; a pair
    beside a model that names another model (a later convert without --split) or none (an
    earlier converter's) is not used: a warning, then the engine's own pair, the model's
    answers."""
    import onnx

    from wlearn_mitra import MitraClassifier
    from wlearn_mitra.graphs._modelfile import sha256_of

    first = random_checkpoint(tmp_path / "a", "classifier", dim=32, n_layers=1, n_heads=4, seed=1)
    second = random_checkpoint(tmp_path / "b", "classifier", dim=32, n_layers=1, n_heads=4, seed=2)
    model = convert(first, tmp_path / "m" / "model.onnx", split=True)
    stamp = sha256_of(model)
    for path in split_paths(model):
        recorded = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
        assert recorded["wlearn.single_sha256"] == stamp
    alone = convert(second, tmp_path / "alone" / "model.onnx")
    convert(second, model)  # over the first model, without --split: its pair stays beside
    rng = np.random.default_rng(0)
    X, y, Xq = rng.normal(size=(60, 4)), rng.integers(0, 3, 60), rng.normal(size=(9, 4))

    def answers(path, warns):
        with pytest.warns(UserWarning, match=warns) if warns else contextlib.nullcontext():
            fitted = MitraClassifier(onnx=path).fit(X, y)
            fitted.predict_proba(Xq)  # the single graph, or the pair of a small model
            return fitted.predict_proba(Xq)  # the pair

    expected = answers(alone, None)
    np.testing.assert_array_equal(answers(model, "cut from another model"), expected)
    unrecorded = tmp_path / "old" / "model.onnx"  # an earlier converter's pair: no record
    unrecorded.parent.mkdir()
    shutil.copy(model, unrecorded)
    for path, copy in zip(split_paths(model), split_paths(unrecorded)):
        proto = onnx.load(str(path))
        del proto.metadata_props[:]
        onnx.save(proto, str(copy))
    np.testing.assert_array_equal(answers(unrecorded, "does not record which model"), expected)
