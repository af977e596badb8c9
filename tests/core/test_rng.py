"""makeLCG / shuffle against the JavaScript outputs and against the recurrence itself."""

from __future__ import annotations

import json
import math

import pytest

from wlearn.rng import make_lcg, shuffle, to_int32

from _paths import fixtures_dir

FIXTURES = fixtures_dir()
CASES = json.loads((FIXTURES / "bundles-js" / "lcg_shuffle.json").read_text())["cases"]


def test_fixture_covers_odd_seeds():
    seeds = {c["seed"] for c in CASES}
    assert {-1, 3.7, -3.7, 2147483648, 4294967301, 1e10} <= seeds


@pytest.mark.parametrize("case", CASES, ids=lambda c: repr(c["seed"]))
def test_matches_js(case):
    assert to_int32(case["seed"]) == case["seed_int32"]
    rng = make_lcg(case["seed"])
    assert [rng() for _ in range(20)] == case["first20"]
    rng = make_lcg(case["seed"])
    items = list(range(20))
    assert shuffle(items, rng) is items
    assert items == case["shuffle_0_to_19"]
    assert rng() == case["next_value_after_shuffle"]


@pytest.mark.parametrize("value, expected", [
    (0.0, 0), (-0.0, 0), (math.nan, 0), (math.inf, 0), (-math.inf, 0), (2**31 - 1, 2**31 - 1),
    (2**31, -(2**31)), (-(2**31) - 1, 2**31 - 1), (2**32, 0), (-2.9, -2), (2.9, 2),
    (2**64 + 1, 0), (True, 1), (None, 42),
])
def test_to_int32(value, expected):
    # independent definition: truncate, then reduce modulo 2^32 into [-2^31, 2^31)
    if value is None:
        assert make_lcg(None)() == make_lcg(42)()
        return
    assert to_int32(value) == expected
    assert make_lcg(value)() == make_lcg(expected)()


def test_recurrence_and_range():
    rng, state = make_lcg(-123456), -123456
    for _ in range(1000):
        state = (state * 1664525 + 1013904223) % 2**31
        value = rng()
        assert value == state / (2**31 - 1) and 0.0 <= value <= 1.0


def test_shuffle_is_a_permutation_and_trivial_cases():
    assert shuffle([], make_lcg(1)) == [] and shuffle([7], make_lcg(1)) == [7]
    out = shuffle(list(range(500)), make_lcg(99))
    assert sorted(out) == list(range(500)) and out != list(range(500))


def _seed_before(state: int) -> int:
    """The seed whose next state is ``state`` (inverse of the LCG step)."""
    inverse = pow(1664525, -1, 2**31)
    return ((state - 1013904223) * inverse) % 2**31


def test_generator_value_one_grows_the_list_like_js():
    seed = _seed_before(2**31 - 1)
    assert make_lcg(seed)() == 1.0
    # JS: j = i + 1 = len on the first step, so arr[len] = arr[len - 1], arr[len - 1] = undefined
    rng = make_lcg(seed)
    out = shuffle([10, 11, 12], rng)
    assert len(out) == 4 and out[3] == 12 and None in out
