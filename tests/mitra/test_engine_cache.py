"""The support-set cache: encoder + decoder graphs against the single graph of the same weights."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from wlearn_mitra.engine._encoded import SupportCache
from wlearn_mitra.engine import MitraEngine
from wlearn_mitra.exceptions import CacheWarning

pytest.importorskip("torch")
pytest.importorskip("onnx")
from wlearn_mitra.convert.export import convert  # noqa: E402

from _paths import fixtures_dir

FIXTURES = fixtures_dir("onnx")


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, Path]:
    """Single graph + split pair of the tiny fixture checkpoints, by the project's converter."""
    root = tmp_path_factory.mktemp("split")
    out = {}
    for variant in ("classifier", "regressor"):
        out[variant] = convert(FIXTURES / f"tiny-mitra-{variant}", root / f"{variant}.onnx", split=True)
    return out


@pytest.fixture(scope="module")
def engines(models):
    pairs = {}
    for variant, task in (("classifier", "classification"), ("regressor", "regression")):
        cached = MitraEngine(models[variant], task=task)
        single = MitraEngine(models[variant], task=task, split=None)
        assert cached.uses_cache and not single.uses_cache
        pairs[variant] = cached, single
    return pairs


def data(seed, n_support=70, n_query=45, n_features=5):
    rng = np.random.default_rng(seed)
    xs = rng.normal(size=(n_support, n_features))
    xq = rng.normal(size=(n_query, n_features))
    xs[rng.random(xs.shape) < 0.05] = np.nan
    xq[rng.random(xq.shape) < 0.05] = np.nan
    xs[:, 2] = np.round(xs[:, 2])  # ties, where bucketing is most delicate
    return xs, np.arange(n_support) % 3, xq


class Counting:
    """Wraps a runtime graph and counts its runs."""

    def __init__(self, graph, fail: BaseException | None = None):
        self.graph, self.fail, self.runs = graph, fail, 0
        self.inputs, self.outputs = graph.inputs, graph.outputs

    def run(self, *args, **kwargs):
        self.runs += 1
        if self.fail is not None:
            raise self.fail
        return self.graph.run(*args, **kwargs)


@pytest.mark.parametrize("kwargs", [{}, {"chunk_size": 8}, {"n_estimators": 3, "seed": 4}])
def test_cache_equals_single_graph(engines, kwargs):
    xs, ys, xq = data(0)
    cached, single = engines["classifier"]
    np.testing.assert_allclose(
        cached.predict(xs, ys, xq, n_classes=3, **kwargs),
        single.predict(xs, ys, xq, n_classes=3, **kwargs),
        rtol=0,
        atol=1e-4,
    )
    cached_r, single_r = engines["regressor"]
    yr = ys / 2.0
    np.testing.assert_allclose(
        cached_r.predict(xs, yr, xq, **kwargs), single_r.predict(xs, yr, xq, **kwargs), rtol=0, atol=1e-4
    )


def test_raw_decoder_output_equals_single_graph(engines):
    rng = np.random.default_rng(1)
    xs = rng.normal(size=(40, 4)).astype(np.float32)
    xq = rng.normal(size=(12, 4)).astype(np.float32)
    ys = np.arange(40) % 4
    cached, single = engines["classifier"]
    np.testing.assert_allclose(
        cached.decode(cached.encode(xs, ys), xq), single.forward(xs, ys, xq), rtol=0, atol=1e-4
    )


def test_support_is_encoded_once_across_predicts_and_chunks(models):
    engine = MitraEngine(models["classifier"], task="classification")
    engine.encoder = Counting(engine.encoder)
    engine.decoder = Counting(engine.decoder)
    xs, ys, xq = data(2)
    first = engine.predict(xs, ys, xq, n_classes=3, chunk_size=10)
    assert (engine.encoder.runs, engine.decoder.runs) == (1, 5)
    second = engine.predict(xs, ys, xq[:7], n_classes=3)
    assert engine.encoder.runs == 1
    np.testing.assert_array_equal(second, first[:7])
    # a different support set, or each ensemble member's view of it, is a new encoding
    engine.predict(xs[:-1], ys[:-1], xq, n_classes=3)
    assert engine.encoder.runs == 2
    engine.predict(xs, ys, xq, n_classes=3, n_estimators=2, seed=1)
    engine.predict(xs, ys, xq, n_classes=3, n_estimators=2, seed=1)
    assert engine.encoder.runs == 4


def test_interrupted_encoding_is_not_cached(models):
    engine = MitraEngine(models["classifier"], task="classification")
    real = engine.encoder
    engine.encoder = Counting(real, fail=KeyboardInterrupt())
    xs, ys, xq = data(3)
    with pytest.raises(KeyboardInterrupt):
        engine.predict(xs, ys, xq, n_classes=3)
    assert len(engine.cache) == 0
    engine.encoder = real
    single = MitraEngine(models["classifier"], task="classification", split=None)
    np.testing.assert_allclose(
        engine.predict(xs, ys, xq, n_classes=3), single.predict(xs, ys, xq, n_classes=3), atol=1e-4
    )


def test_cache_is_bounded_in_bytes():
    cache = SupportCache(max_mb=1)
    entry = lambda: (np.zeros(100_000, np.float32),)  # noqa: E731  400 kB
    for key in "abc":
        cache.put(key, entry())
    assert len(cache) == 2 and cache.get("a") is None and cache.get("c") is not None
    cache.put("huge", (np.zeros(2**20, np.float32),))  # 4 MB: used, never kept
    assert cache.get("huge") is None and cache.nbytes <= 2**20


def test_split_pair_is_found_next_to_its_model_or_cut_from_it(models, tmp_path):
    from wlearn_mitra.graphs._surgery import derived_paths

    lone = tmp_path / "lone.onnx"
    shutil.copy(models["classifier"], lone)
    store = tmp_path / "store"
    beside = MitraEngine(models["classifier"], task="classification", optimized_dir=store)
    assert beside.uses_cache and not list(store.glob("*.pair*"))  # the converter's pair
    cut = MitraEngine(lone, task="classification", optimized_dir=store)
    assert cut.uses_cache and all(p.is_file() for p in derived_paths(store, cut.onnx_sha256))
    assert not MitraEngine(lone, task="classification", split=None).uses_cache
    encoder = models["classifier"].with_name("classifier.encoder.onnx")
    decoder = models["classifier"].with_name("classifier.decoder.onnx")
    explicit = MitraEngine(lone, task="classification", split=(encoder, decoder.read_bytes()))
    assert explicit.uses_cache


def test_engine_cuts_the_pair_once_from_a_plain_graph(tmp_path):
    # the JS package's file has no pair; the engine cuts one out of it on first use and finds
    # it again by the graph's hash, from the file or from its bytes
    from wlearn_mitra.graphs._surgery import derived_paths

    js = tmp_path / "js.onnx"
    shutil.copy(FIXTURES / "tiny-mitra-classifier.onnx", js)
    store = tmp_path / "store"
    derived = MitraEngine(js, task="classification", optimized_dir=store)
    assert derived.uses_cache
    made = derived_paths(store, derived.onnx_sha256)
    names = {p.name for p in store.iterdir()}
    assert {p.name for p in made} <= names and not [n for n in names if "tmp" in n]
    stamps = [p.stat().st_mtime_ns for p in made]
    again = MitraEngine(js.read_bytes(), task="classification", optimized_dir=store)
    assert again.uses_cache and [p.stat().st_mtime_ns for p in made] == stamps
    # the pair computes what the graph it was cut from computes (ties included)
    single = MitraEngine(js, task="classification", split=None)
    for seed in (6, 7):
        xs, ys, xq = data(seed)
        np.testing.assert_allclose(again.predict(xs, ys, xq, n_classes=3),
                                   single.predict(xs, ys, xq, n_classes=3), rtol=0, atol=1e-4)


def test_split_derived_from_a_js_style_graph(tmp_path):
    # a user with only the JS package's file: the converter re-derives both halves from it
    js = tmp_path / "js.onnx"
    shutil.copy(FIXTURES / "tiny-mitra-classifier.onnx", js)
    convert(js, js, split=True)
    cached = MitraEngine(js, task="classification")
    assert cached.uses_cache
    reference = MitraEngine(
        convert(FIXTURES / "tiny-mitra-classifier", tmp_path / "ref.onnx"), task="classification", split=None
    )
    xs, ys, xq = data(5)
    np.testing.assert_allclose(
        cached.predict(xs, ys, xq, n_classes=3), reference.predict(xs, ys, xq, n_classes=3), atol=1e-4
    )


def test_cache_holds_each_layer_once(models, engines):
    # L is read from the decoder's inputs; the entry is the statistics + one keys and one
    # values tensor per layer, so its bytes follow from the shapes alone
    import json

    cached, _ = engines["classifier"]
    config = json.loads((FIXTURES / "tiny-mitra-classifier" / "config.json").read_text())
    n_layers, dim = config["n_layers"], config["dim"]
    assert cached.cache_names == (
        "quantiles", "n_valid", "mean", "var",
        *(f"keys_{i}" for i in range(n_layers)), *(f"values_{i}" for i in range(n_layers)),
    )
    engine = MitraEngine(models["classifier"], task="classification")
    xs, ys, _ = data(7)
    rows, features = xs.shape
    engine.encode(np.nan_to_num(xs), ys)
    statistics = (features * 999 + 1 + 2 * features) * 4
    assert engine.cache.nbytes == statistics + 2 * n_layers * (features + 1) * rows * dim * 4


def stacked_decoder(decoder: Path, out: Path) -> Path:
    """The decoder as the converter wrote it before: all layers' keys (values) in one input."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    model = onnx.load(decoder)
    graph = model.graph
    graph.initializer.append(numpy_helper.from_array(np.array([0], np.int64), "stack_axis"))
    unstack = []
    for kind in ("keys", "values"):
        layers = [i for i in graph.input if i.name.startswith(f"{kind}_")]
        for value in layers:
            graph.input.remove(value)
        axes = ["n_layers", "batch", "n_tokens", "n_heads", "n_support", "head_dim"]
        graph.input.append(helper.make_tensor_value_info(kind, TensorProto.FLOAT, axes))
        parts = [f"{kind}_stacked_{i}" for i in range(len(layers))]
        unstack.append(helper.make_node("Split", [kind], parts, axis=0))
        unstack += [
            helper.make_node("Squeeze", [part, "stack_axis"], [value.name])
            for part, value in zip(parts, layers)
        ]
    nodes = unstack + list(graph.node)
    del graph.node[:]
    graph.node.extend(nodes)
    onnx.save(model, out)
    return out


@pytest.fixture(scope="module")
def stale(models, tmp_path_factory):
    """A split pair of the classifier in the older stacked layout, and it still runs."""
    import onnxruntime as ort

    encoder = models["classifier"].with_name("classifier.encoder.onnx")
    decoder = stacked_decoder(
        models["classifier"].with_name("classifier.decoder.onnx"),
        tmp_path_factory.mktemp("stale") / "stacked.decoder.onnx",
    )
    engine = MitraEngine(models["classifier"], task="classification")
    xs, ys, xq = data(8)
    xs, xq = np.nan_to_num(xs).astype(np.float32), np.nan_to_num(xq).astype(np.float32)
    cache = dict(zip(engine.cache_names, engine.encode(xs, ys)))
    feeds = {name: cache[name] for name in ("quantiles", "n_valid", "mean", "var")}
    for kind in ("keys", "values"):
        feeds[kind] = np.stack([cache[f"{kind}_{i}"] for i in range(2)])
    old = ort.InferenceSession(str(decoder), providers=["CPUExecutionProvider"])
    (output,) = old.run(["output"], {"x_query": xq[None], **feeds})
    want = engine.decode(engine.encode(xs, ys), xq)
    np.testing.assert_allclose(output[0], want, rtol=0, atol=1e-6)
    return encoder, decoder


def test_stacked_pair_given_is_refused(models, stale):
    from wlearn.errors import ValidationError

    with pytest.raises(ValidationError, match="stacked"):
        MitraEngine(models["classifier"], task="classification", split=stale)


def test_stacked_pair_beside_the_model_is_passed_over_for_a_cut_one(models, stale, tmp_path):
    from wlearn_mitra.graphs._layout import split_paths

    model = tmp_path / "m.onnx"
    shutil.copy(models["classifier"], model)
    for source, target in zip(stale, split_paths(model)):
        shutil.copy(source, target)
    with pytest.warns(UserWarning, match="stacked"):
        engine = MitraEngine(model, task="classification", optimized_dir=tmp_path / "store")
    assert engine.uses_cache and "keys" not in engine.cache_names
    single = MitraEngine(model, task="classification", split=None)
    xs, ys, xq = data(9)
    np.testing.assert_allclose(engine.predict(xs, ys, xq, n_classes=3),
                               single.predict(xs, ys, xq, n_classes=3), rtol=0, atol=1e-4)


@pytest.mark.parametrize("variant", ["classifier", "regressor"])
def test_model_shape_is_read_from_every_graph(models, variant):
    # Chunk sizes are planned from the model's width: the tiny models are dim 32, not the
    # full size the reader falls back to.
    from wlearn_mitra.graphs._layout import split_paths
    from wlearn_mitra.graphs._onnxinfo import model_shape

    classification = variant == "classifier"
    paths = [models[variant], *split_paths(models[variant]),
             FIXTURES / f"tiny-mitra-{variant}.onnx"]  # the last one: no metadata, JS export
    for path in paths:
        shape = model_shape(Path(path).read_bytes(), classification)
        assert (shape.dim, shape.n_heads, shape.n_slots) == (32, 4, 10 if classification else 1), path


def test_opening_hashes_the_model_once(tmp_path, monkeypatch):
    # The engine's own work at open is dominated by hashing (290 MB at full size): the cut
    # pair's files are identified by their names, never hashed again, even when the runtime
    # keeps optimised graphs by identity
    import wlearn_mitra.graphs._modelfile as modelfile
    import wlearn_mitra.engine._graphset as engine_module

    js = tmp_path / "js.onnx"
    shutil.copy(FIXTURES / "tiny-mitra-classifier.onnx", js)
    store = tmp_path / "store"
    MitraEngine(js, task="classification", optimized_dir=store)  # cuts the pair
    hashed = []
    for module in (modelfile, engine_module):
        real = module.model_identity
        monkeypatch.setattr(module, "model_identity",
                            lambda source, view, real=real: hashed.append(source) or real(source, view))
    engine = MitraEngine(js, task="classification", optimized_dir=store)
    engine.graphs.open_pair()
    assert engine.uses_cache and hashed == [js]
    assert len(list(store.glob("*.pair*.opt.onnx"))) == 2  # encoder and decoder, by their names


def test_a_large_optimised_graph_keeps_its_weights_beside_it(tmp_path, monkeypatch):
    # Past EXTERNAL_WEIGHTS_BYTES (64 MB) ONNX Runtime's optimised graph is kept as a graph and
    # a <graph>.data file of weights, written in a scratch folder and moved in; the answers are
    # the inline graph's, bit for bit, from the first engine and from one reading the files.
    from wlearn_mitra.runtimes import _ort

    model = tmp_path / "m.onnx"
    shutil.copy(FIXTURES / "tiny-mitra-classifier.onnx", model)
    rng = np.random.default_rng(0)
    xs, ys = rng.normal(size=(40, 4)).astype(np.float32), rng.integers(0, 3, 40)
    xq = rng.normal(size=(9, 4)).astype(np.float32)
    inline = MitraEngine(model, task="classification", optimized_dir=tmp_path / "inline",
                         split=None).predict(xs, ys, xq, n_classes=3)
    assert [p.name.endswith(".opt.onnx") for p in (tmp_path / "inline").iterdir()] == [True]
    monkeypatch.setattr(_ort, "EXTERNAL_WEIGHTS_BYTES", 0)
    store = tmp_path / "store"
    for _ in range(2):  # writes the files, then reads them
        got = MitraEngine(model, task="classification", optimized_dir=store,
                          split=None).predict(xs, ys, xq, n_classes=3)
        np.testing.assert_array_equal(got, inline)
        graph, weights = sorted(store.iterdir())
        assert weights.name == f"{graph.name}.data" and graph.name.endswith(".opt.onnx")
        assert weights.stat().st_size > graph.stat().st_size


@pytest.mark.parametrize("other_copy", [True, False])
def test_a_failed_move_into_the_cache_keeps_another_process_s_copy(tmp_path, monkeypatch,
                                                                   other_copy):
    # Two processes optimise the same model at once: the other's whole copy (graph and
    # weights) lands in the cache just before moving this one's graph in fails. That copy
    # stays as it is; with no copy there, the weights this process had moved in alone go.
    from wlearn_mitra.runtimes import _ort

    model = tmp_path / "m.onnx"
    shutil.copy(FIXTURES / "tiny-mitra-classifier.onnx", model)
    monkeypatch.setattr(_ort, "EXTERNAL_WEIGHTS_BYTES", 0)
    other = tmp_path / "other"
    _ort.open_session(model, optimized_dir=other)
    theirs = {p.name: p.read_bytes() for p in other.iterdir()}
    assert len(theirs) == 2
    store = tmp_path / "store"
    real = os.replace

    def replace(src, dst):
        if str(dst).endswith(".opt.onnx"):
            if other_copy:
                for name, data in theirs.items():
                    (store / name).write_bytes(data)
            raise OSError(28, "No space left on device")
        return real(src, dst)

    monkeypatch.setattr(_ort.os, "replace", replace)
    with pytest.warns(CacheWarning, match="cannot keep the optimised graph"):
        session, files = _ort.open_session(model, optimized_dir=store)
    assert files == [] and session.get_inputs()
    kept = {p.name: p.read_bytes() for p in store.iterdir()}
    assert kept == (theirs if other_copy else {})
