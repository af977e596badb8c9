"""Support selection: the rows @wlearn/mitra keeps, checked against the JS fixtures and an
independent transcription of the JS algorithm."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wlearn_mitra._labels import encode
from wlearn_mitra._support import select_support

FIXTURES = Path(__file__).resolve().parents[2] / ".." / "shared" / "fixtures"
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
