"""Support selection: the rows @wlearn/mitra keeps, checked against the JS fixtures and an
independent transcription of the JS algorithm."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wlearn.errors import ValidationError
from wlearn_mitra.inputs._labels import encode
from wlearn_mitra.inputs._support import select_support

from _paths import fixtures_dir

FIXTURES = fixtures_dir()
CLF_ONNX = FIXTURES / "onnx" / "tiny-mitra-classifier.onnx"
CASES = ["a_binary_all", "b_3class_strat_s42", "d_labels_2_5_7", "e_regression_all"]


def js_select(y: list, max_support: int, seed: int, stratified: bool) -> list[int]:
    """@wlearn/mitra's selectSupport written out plainly: own LCG, own Fisher-Yates."""
    state = seed & 0xFFFFFFFF
    state = state - 2**32 if state >= 2**31 else state

    def rng() -> float:
        nonlocal state
        state = (state * 1664525 + 1013904223) & 0x7FFFFFFF
        return state / 0x7FFFFFFF

    def shuffle(a: list) -> list:
        for i in range(len(a) - 1, 0, -1):
            j = int(rng() * (i + 1))
            a[i], a[j] = a[j], a[i]
        return a

    rows = len(y)
    if rows <= max_support:
        return list(range(rows))
    if stratified:
        by_class: dict = {}
        for i, label in enumerate(y):
            by_class.setdefault(label, []).append(i)
        labels = sorted(by_class)
        per, extra = max_support // len(labels), max_support % len(labels)
        picked = []
        for c, label in enumerate(labels):
            members = shuffle(by_class[label])
            picked += members[: min(per + (1 if c < extra else 0), len(members))]
    else:
        picked = shuffle(list(range(rows)))[:max_support]
    return sorted(picked)


@pytest.mark.parametrize("case", CASES)
def test_fixture_support_indices(case):
    root = FIXTURES / "mitra-js" / case
    info = json.loads((root / "case.json").read_text())
    y = np.load(root / "y.npy")
    params = info["params_given"]
    strata = encode(y)[1] if info["kind"] == "classifier" else None
    rows = select_support(len(y), params["maxSupport"], params["seed"], strata)
    np.testing.assert_array_equal(rows, np.load(root / "support_indices.npy"))


def test_fixture_stratified_counts():
    # Case b: 1000 rows (482/312/206), maxSupport 128 over 3 classes -> 43 + 43 + 42.
    root = FIXTURES / "mitra-js" / "b_3class_strat_s42"
    y = np.load(root / "y.npy")
    rows = select_support(len(y), 128, 42, encode(y)[1])
    assert np.bincount(y[rows].astype(int)).tolist() == [43, 43, 42]


@settings(max_examples=150, deadline=None)
@given(
    y=st.lists(st.integers(0, 4), min_size=1, max_size=120),
    max_support=st.integers(1, 130),
    seed=st.integers(-(2**33), 2**33),
    stratified=st.booleans(),
)
def test_matches_js_transcription(y, max_support, seed, stratified):
    strata = np.asarray(y) if stratified else None
    rows = select_support(len(y), max_support, seed, strata)
    assert rows.tolist() == js_select(list(y), max_support, seed, stratified)


@settings(max_examples=100, deadline=None)
@given(
    counts=st.lists(st.integers(1, 40), min_size=1, max_size=10),
    max_support=st.integers(1, 100),
    seed=st.integers(0, 2**31 - 1),
)
def test_stratified_quota(counts, max_support, seed):
    y = np.repeat(np.arange(len(counts)), counts)
    np.random.default_rng(seed).shuffle(y)
    rows = select_support(len(y), max_support, seed, y)
    assert np.all(np.diff(rows) > 0)
    if len(y) <= max_support:
        assert rows.tolist() == list(range(len(y)))
        return
    per, extra = divmod(max_support, len(counts))
    got = np.bincount(y[rows], minlength=len(counts))
    want = [min(n, per + (c < extra)) for c, n in enumerate(counts)]
    assert got.tolist() == want


def test_js_unit_cases():
    # The cases of @wlearn/mitra's own selectSupport tests.
    y = np.arange(30) % 3
    assert np.bincount(y[select_support(30, 9, 42, y)]).tolist() == [3, 3, 3]
    y = np.arange(20) % 3
    counts = np.bincount(y[select_support(20, 7, 42, y)])
    assert counts.sum() == 7 and counts.min() >= 2
    assert len(select_support(20, 5, 42)) == 5
    assert select_support(5, 100, 42, np.arange(5) % 2).tolist() == [0, 1, 2, 3, 4]
    y = np.arange(50) % 4
    np.testing.assert_array_equal(select_support(50, 10, 77, y), select_support(50, 10, 77, y))


def test_seed_changes_selection():
    y = np.arange(200) % 2
    assert not np.array_equal(select_support(200, 20, 1, y), select_support(200, 20, 2, y))
    assert not np.array_equal(select_support(200, 20, 1), select_support(200, 20, 2))


# -- support_selection: "stratified" (default) keeps the class shares ---------------------------

@settings(max_examples=200, deadline=None)
@given(counts=st.lists(st.integers(1, 400), min_size=1, max_size=10),
       budget=st.integers(1, 600))
def test_stratified_counts_keep_the_class_shares(counts, budget):
    from wlearn_mitra.inputs._support import stratified_counts

    counts = np.asarray(counts)
    if budget >= counts.sum():
        return  # every row is kept before this rule applies
    keep = stratified_counts(counts, budget)
    assert keep.sum() == budget and (keep <= counts).all() and (keep >= 0).all()
    if budget >= len(counts):
        assert (keep >= 1).all()
        quota = budget * counts / counts.sum()
        # Within one row of the exact share, except where a class's minimum of one row
        # took its row from the largest.
        lifted = int((quota < 1).sum())
        assert (np.abs(keep - quota) < 1 + lifted).all()
        assert np.abs(keep - quota).sum() <= 2 * lifted + len(counts)


def _imbalanced(n=2000, rate=0.05, seed=0):
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < rate).astype(int)
    X = rng.normal(size=(n, 4)) + y[:, None]
    return X, y


def test_classifier_support_keeps_the_class_shares_by_default():
    from wlearn_mitra import MitraClassifier, MitraModel

    X, y = _imbalanced()
    rate = y.mean()
    for model in (MitraClassifier(onnx=CLF_ONNX, max_support=512),
                  MitraModel(classifier_onnx=CLF_ONNX, max_support=512, task="classification")):
        model.fit(X, y)
        kept = y[model.support_indices_]
        assert len(kept) == 512
        assert abs(kept.sum() - 512 * rate) <= 1  # the share, to the row
    # Deterministic by random_state; another seed, another pick of the same shares.
    a = MitraClassifier(onnx=CLF_ONNX, random_state=3).fit(X, y).support_indices_
    b = MitraClassifier(onnx=CLF_ONNX, random_state=3).fit(X, y).support_indices_
    c = MitraClassifier(onnx=CLF_ONNX, random_state=4).fit(X, y).support_indices_
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c) and y[a].sum() == y[c].sum()
    # Every class keeps a row, however rare.
    y2 = y.copy()
    y2[:2] = 2
    kept = y2[MitraClassifier(onnx=CLF_ONNX, max_support=100).fit(X, y2).support_indices_]
    assert set(kept) == {0, 1, 2}


def test_balanced_selection_is_the_js_pick():
    from wlearn_mitra import MitraClassifier

    X, y = _imbalanced()
    model = MitraClassifier(onnx=CLF_ONNX, max_support=512, support_selection="balanced",
                            seed=11).fit(X, y)
    expected = js_select(y.tolist(), 512, 11, stratified=True)
    np.testing.assert_array_equal(model.support_indices_, expected)
    with pytest.raises(ValidationError, match="support_selection must be one of"):
        MitraClassifier(onnx=CLF_ONNX, support_selection="uniform").fit(X, y)


def test_stratified_support_beats_the_majority_on_an_imbalanced_real_table():
    """breast cancer with the malignant class cut to 25 rows (about 6.5%), 64 support rows:
    the stratified pick keeps the prior and is at least as accurate as always answering the
    majority on every held-out split; the balanced pick (JS's) overstates the rare class."""
    import warnings
    from importlib import resources

    import wlearn_mitra
    from wlearn_mitra import MitraClassifier

    data = resources.files("wlearn_mitra").joinpath("data")
    X, y = np.load(data / "breast-cancer-X.npy"), np.load(data / "breast-cancer-y.npy")
    rng = np.random.default_rng(0)
    shares = {"stratified": [], "balanced": []}
    for rep in range(5):
        rows = np.concatenate([rng.choice(np.flatnonzero(y == 0), 25, replace=False),
                               np.flatnonzero(y == 1)])
        rng.shuffle(rows)
        train, test = rows[: int(0.6 * len(rows))], rows[int(0.6 * len(rows)):]
        majority = max((y[test] == 0).mean(), (y[test] == 1).mean())
        for selection in shares:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", wlearn_mitra.BuiltinModelWarning)
                model = MitraClassifier(max_support=64, support_selection=selection,
                                        seed=rep).fit(X[train], y[train])
                proba = model.predict_proba(X[test])
            shares[selection].append(proba[:, 0].mean())
            if selection == "stratified":
                assert (model.classes_[proba.argmax(1)] == y[test]).mean() >= majority
    base = 25 / (25 + (y == 1).sum())
    assert abs(np.mean(shares["stratified"]) - base) < abs(np.mean(shares["balanced"]) - base)
