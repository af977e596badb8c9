"""Wide data: the memory budget bounds the whole predict (support side included) or the
predict is refused before anything is allocated; data wider than the model's comfortable
width or the budget is split across ensemble members, each on its own feature subset."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from wlearn.errors import ResourceLimitError
from wlearn_mitra import MitraClassifier
from wlearn_mitra.graphs._onnxinfo import FULL_SIZE
from wlearn_mitra.engine._planning import MAX_FEATURES, plan, query_row_bytes, support_bytes
from wlearn_mitra.engine._preprocess import feature_subsets
from wlearn_mitra.engine import softmax

from _paths import fixtures_dir

ONNX = fixtures_dir("onnx")


def data(seed, n_support, n_features, n_query=6):
    rng = np.random.default_rng(seed)
    xs = rng.normal(size=(n_support, n_features))
    xq = rng.normal(size=(n_query, n_features))
    return xs, np.arange(n_support) % 3, rng.random(n_support), xq


def by_members(engine, xs, ys, xq, subsets, n_classes=None):
    """Independent reference: one plain forward pass per subset, averaged."""
    total = 0.0
    for subset in subsets:
        out = engine.forward(xs[:, subset], ys, xq[:, subset]).astype(np.float64)
        total = total + (softmax(out[:, :n_classes]) if n_classes else out)
    return total / len(subsets)


def test_subsets_cover_every_feature_and_follow_the_seed():
    subsets = feature_subsets(23, 5, 5, seed=7)
    assert [len(s) for s in subsets] == [5] * 5
    assert set(np.concatenate(subsets)) == set(range(23))  # ceil(23 / 5) members see all
    assert all(np.array_equal(a, b) for a, b in zip(subsets, feature_subsets(23, 5, 5, seed=7)))
    assert not all(np.array_equal(a, b) for a, b in zip(subsets, feature_subsets(23, 5, 5, 8)))


def test_wider_than_the_model_is_split_across_members(clf, reg):
    n_features = MAX_FEATURES + 100
    xs, labels, targets, xq = data(0, 40, n_features)
    chosen = plan(clf.shape, len(xs), n_features, max_memory_mb=4096)
    assert chosen.width == MAX_FEATURES and chosen.members == 2
    subsets = feature_subsets(n_features, MAX_FEATURES, 2, seed=5)
    got = clf.predict(xs, labels, xq, n_classes=3, seed=5, max_memory_mb=4096)
    want = by_members(clf, xs, labels, xq, subsets, n_classes=3)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-6)
    got = reg.predict(xs, targets, xq, seed=5, max_memory_mb=4096)
    np.testing.assert_allclose(got, by_members(reg, xs, targets, xq, subsets), rtol=0, atol=1e-6)


def test_the_budget_narrows_the_members(clf):
    xs, labels, _, xq = data(1, 256, 120)
    budget = 40.0
    chosen = plan(clf.shape, 256, 120, max_memory_mb=budget)
    assert 1 <= chosen.width < 120 and chosen.members == -(-120 // chosen.width)
    # The whole run fits: the support side and a chunk of query rows.
    used = support_bytes(clf.shape, 256, chosen.width) + chosen.rows * query_row_bytes(
        clf.shape, 256, chosen.width)
    assert used <= budget * 2**20
    # Fewer features than the model takes at once: the budget, not the width, splits them,
    # and the caller is told (the answer is not the model's plain one).
    with pytest.warns(UserWarning, match=r"too small to run all 120 features.*raise max_memory_mb"):
        got = clf.predict(xs, labels, xq, n_classes=3, seed=2, max_memory_mb=budget)
    subsets = feature_subsets(120, chosen.width, chosen.members, seed=2)
    want = by_members(clf, xs, labels, xq, subsets, n_classes=3)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-6)
    # With ensemble transforms on top, each member still keeps to its subset's width.
    with pytest.warns(UserWarning, match="feature subsets"):
        more = clf.predict(xs, labels, xq, n_classes=3, seed=2,
                           n_estimators=chosen.members + 2, max_memory_mb=budget)
    assert more.shape == got.shape and np.allclose(more.sum(axis=1), 1.0)


def test_a_budget_too_small_for_one_feature_is_refused_before_running(clf):
    xs, labels, _, xq = data(2, 512, 50)
    with pytest.raises(ResourceLimitError, match="raise max_memory_mb to at least .* max_support"):
        clf.predict(xs, labels, xq, n_classes=3, max_memory_mb=1)
    model = MitraClassifier(onnx=ONNX / "tiny-mitra-classifier.onnx", max_memory_mb=1)
    with pytest.raises(ResourceLimitError, match="max_memory_mb"):
        model.fit(xs, labels).predict(xq)


def test_the_full_size_plan_bounds_wide_data():
    # What bench/bench_mitra_wide.py measures: 512 support rows under 2 GB.
    for n_features in (100, 500, 2000):
        chosen = plan(FULL_SIZE, 512, n_features, max_memory_mb=2048, cache_layers=12)
        used = support_bytes(FULL_SIZE, 512, chosen.width) + chosen.rows * query_row_bytes(
            FULL_SIZE, 512, chosen.width)
        assert used <= 2048 * 2**20 and chosen.width * chosen.members >= n_features
    with pytest.raises(ResourceLimitError, match="max_support"):
        plan(FULL_SIZE, 8192, 10, max_memory_mb=2048)


def test_peak_memory_stays_within_the_budget(clf):
    # 300 features x 512 support rows took 2.6 GB in the tiny model's support pass before the
    # plan; under a 256 MB budget the process's peak above its start stays inside it.
    xs, labels, _, xq = data(3, 512, 300, n_query=3)
    with open("/proc/self/status") as status:
        start = next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))
    with open("/proc/self/clear_refs", "w") as clear:
        clear.write("5")  # reset VmHWM
    clf.predict(xs, labels, xq, n_classes=3, max_memory_mb=256)
    with open("/proc/self/status") as status:
        peak = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
    assert (peak - start) / 1024 < 256


def test_an_allocation_failure_inside_onnx_runtime_is_a_wlearn_error():
    # Forced past the plan (a query chunk of 20,000 rows of 500 features), ONNX Runtime's
    # own allocation failure comes back as a ResourceLimitError saying what to change.
    import onnxruntime as ort

    from wlearn_mitra.runtimes._ort import run_interruptible

    class Session:
        def run(self, outputs, feeds, options):
            raise ort.capi.onnxruntime_pybind11_state.RuntimeException(
                "Failed to allocate memory for requested buffer of size 81920000000")

    with pytest.raises(ResourceLimitError, match="smaller max_memory_mb"):
        run_interruptible(Session(), ["output"], {})


def test_no_warning_when_every_feature_fits_or_the_data_is_wider_than_the_model(clf):
    import warnings

    xs, labels, _, xq = data(1, 64, 8)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        clf.predict(xs, labels, xq, n_classes=3)


def test_a_budget_narrower_than_the_models_width_warns_on_wider_data(clf):
    """Above MAX_FEATURES the plain answer runs subsets of MAX_FEATURES; a budget that makes
    members narrower than that changes the answer, and says so, as for narrower data."""
    import warnings

    n_features = MAX_FEATURES + 100
    xs, labels, _, xq = data(3, 40, n_features, n_query=2)
    budget = 20.0
    assert plan(clf.shape, len(xs), n_features, max_memory_mb=budget).width < MAX_FEATURES
    with pytest.warns(UserWarning, match=rf"too small to run {MAX_FEATURES} of the "
                      rf"{n_features} features \(the model's width\) of this 40-row support "
                      r"set together: .* feature subsets of \d+\..*raise max_memory_mb"):
        clf.predict(xs, labels, xq, n_classes=3, max_memory_mb=budget)
    with warnings.catch_warnings():  # the plain answer's own subsets of MAX_FEATURES: no warning
        warnings.simplefilter("error", UserWarning)
        clf.predict(xs, labels, xq, n_classes=3)
        clf.predict(xs, labels, xq, n_classes=3, max_memory_mb=4096)


def test_without_a_budget_the_full_size_model_runs_ordinary_tables_whole():
    # A 1024 MB budget splits these (the warning's case); no budget gives the plain answer.
    for n_support, n_features in ((512, 64), (1024, 30), (512, 100)):
        budgeted = plan(FULL_SIZE, n_support, n_features, max_memory_mb=1024, cache_layers=12)
        assert budgeted.width < n_features
        plain = plan(FULL_SIZE, n_support, n_features, max_memory_mb=None, cache_layers=12,
                     cache_mb=2048, available_mb=24_000)
        assert (plain.width, plain.members) == (n_features, 1)
        # through the cache exactly when the encoded set fits cache_mb
        stored = 2 * 12 * n_support * (n_features + 1) * FULL_SIZE.dim * 4
        assert plain.cached == (stored <= 2048 * 2**20)
    wider = plan(FULL_SIZE, 512, 2000, max_memory_mb=None, cache_layers=12, available_mb=None)
    assert (wider.width, wider.members) == (MAX_FEATURES, 4)


def test_without_a_budget_more_than_the_machine_has_is_refused_before_running(clf, monkeypatch):
    with pytest.raises(ResourceLimitError, match=r"needs about \d+ MB.*max_support.*max_memory_mb"):
        plan(FULL_SIZE, 512, 500, max_memory_mb=None, cache_layers=12, available_mb=8000)
    import wlearn_mitra.engine._engine as engine_module

    xs, labels, _, xq = data(4, 64, 8)
    monkeypatch.setattr(engine_module, "available_memory_mb", lambda: 1.0)
    calls = []
    monkeypatch.setattr(clf, "forward", lambda *a: calls.append(a))
    monkeypatch.setattr(clf, "encode", lambda *a: calls.append(a))
    with pytest.raises(ResourceLimitError, match="available"):
        clf.predict(xs, labels, xq, n_classes=3)
    assert calls == []
    # a budget is the caller's bound: the machine's memory is not consulted
    monkeypatch.undo()
    monkeypatch.setattr(engine_module, "available_memory_mb", lambda: 1.0)
    assert clf.predict(xs, labels, xq, n_classes=3, max_memory_mb=512).shape == (6, 3)


def test_a_plan_counts_the_weights_of_a_graph_it_must_open():
    loaded = plan(FULL_SIZE, 512, 100, max_memory_mb=2048, cache_layers=12)
    opening = plan(FULL_SIZE, 512, 100, max_memory_mb=2048, cache_layers=12,
                   open_bytes=290 * 2**20)
    assert opening.width < loaded.width
    used = (support_bytes(FULL_SIZE, 512, opening.width) + 290 * 2**20
            + opening.rows * query_row_bytes(FULL_SIZE, 512, opening.width))
    assert used <= 2048 * 2**20


def test_the_budget_warning_names_the_callers_line():
    # Through an estimator the engine is several calls deep; the warning points at the line
    # that called predict, as the built-in model's notice does.
    xs, labels, _, xq = data(1, 256, 120)
    model = MitraClassifier(onnx=ONNX / "tiny-mitra-classifier.onnx", max_memory_mb=40.0)
    model.fit(xs, labels)
    with pytest.warns(UserWarning, match="too small to run all 120 features") as record:
        model.predict(xq)
    assert [Path(w.filename).resolve() for w in record] == [Path(__file__).resolve()]


# -- members on feature subsets through the support cache -------------------------------------


def _engines(name, tmp_path_factory):
    from wlearn_mitra.engine import MitraEngine
    from wlearn_mitra.graphs import _builtin

    if name.startswith("builtin"):
        task = "classification" if name.endswith("classifier") else "regression"
        return MitraEngine(_builtin.path(task), task=task)
    if name == "converted":
        pytest.importorskip("torch")
        pytest.importorskip("safetensors")
        from wlearn_mitra.convert import convert

        out = tmp_path_factory.mktemp("wide-converted")
        single = convert(ONNX / "tiny-mitra-classifier", out / "m.onnx", split=True)
        return MitraEngine(single, task="classification")
    task = "classification" if name.endswith("classifier") else "regression"
    return MitraEngine(ONNX / f"{name}.onnx", task=task)


@pytest.mark.parametrize("name", ["tiny-mitra-classifier", "tiny-mitra-regressor",
                                  "builtin-classifier", "builtin-regressor", "converted"])
def test_wider_than_the_model_runs_each_member_through_the_support_cache(
        name, tmp_path_factory, monkeypatch):
    import wlearn_mitra.engine._runs as runs

    engine = _engines(name, tmp_path_factory)
    assert engine.uses_cache
    n_features = MAX_FEATURES + 100
    xs, labels, targets, xq = data(6, 40, n_features, n_query=9)
    chosen = engine.plan(len(xs), n_features)
    assert (chosen.width, chosen.members, chosen.cached) == (MAX_FEATURES, 2, True)
    subsets = feature_subsets(n_features, MAX_FEATURES, 2, seed=5)
    classification = engine.classification
    ys = labels if classification else targets
    if engine.n_bins:
        ys = ys / ys.max()
    # the answer before: every member's subset through the single graph
    from wlearn_mitra.inputs import _bins

    total = 0.0
    for subset in subsets:
        y_member = _bins.bin_ids(ys, engine.n_bins) if engine.n_bins else ys
        out = engine.forward(xs[:, subset], y_member, xq[:, subset]).astype(np.float64)
        total = total + (softmax(out[:, :3]) if classification
                         else softmax(out) if engine.n_bins else out)
    want = total / len(subsets)

    calls = {"forward": 0, "encode": 0}
    for fn in ("forward", "encode"):
        original = getattr(runs, fn)

        def counted(*args, _fn=fn, _original=original, **kwargs):
            calls[_fn] += 1
            return _original(*args, **kwargs)

        monkeypatch.setattr(runs, fn, counted)
    kept = len(engine.cache)
    got = engine.predict(xs, ys, xq, n_classes=3 if classification else None, seed=5,
                         chunk_size=4)  # 3 query chunks per member
    # one encoding per member, no support pass per chunk; nothing kept between predicts
    assert calls == {"forward": 0, "encode": 2}
    assert len(engine.cache) == kept
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-5)
    if classification or engine.n_bins:
        np.testing.assert_array_equal(got.argmax(axis=1), want.argmax(axis=1))


def test_the_builtin_plans_for_wide_tables_use_the_support_cache():
    # pd_speech (126 support rows x 751 features) and grants_other (300 x 768) with the
    # built-in classifier: before, the members' subsets ran through the single graph.
    from wlearn_mitra.engine import MitraEngine
    from wlearn_mitra.graphs import _builtin

    engine = MitraEngine(_builtin.path("classification"), task="classification")
    for n_support, n_features in ((126, 751), (300, 768)):
        chosen = engine.plan(n_support, n_features)
        assert (chosen.width, chosen.members, chosen.cached) == (MAX_FEATURES, 2, True)


def test_a_budget_runs_wide_members_through_the_cache_when_one_encoded_set_fits(clf):
    from wlearn_mitra.engine._planning import cache_bytes

    n_features = MAX_FEATURES + 100
    chosen = plan(clf.shape, 40, n_features, max_memory_mb=4096, cache_layers=2)
    assert (chosen.width, chosen.cached) == (MAX_FEATURES, True)
    # the whole predict fits: one member's encoding (its support pass and encoded set)
    # and one chunk of query rows beside one encoded set
    stored = cache_bytes(clf.shape, 2, 40, MAX_FEATURES)
    assert support_bytes(clf.shape, 40, MAX_FEATURES) + stored <= 4096 * 2**20
    assert stored + chosen.rows * query_row_bytes(clf.shape, 40, MAX_FEATURES) <= 4096 * 2**20
    # no room for the encoded set beside the support pass: the single graph, as before
    tight = (support_bytes(clf.shape, 40, MAX_FEATURES) + stored) / 2**20 - 0.01
    assert not plan(clf.shape, 40, n_features, max_memory_mb=tight, cache_layers=2).cached
