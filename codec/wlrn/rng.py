"""The deterministic generator and shuffle of @wlearn/core (``makeLCG`` / ``shuffle``).

Bundles written by the JavaScript packages pick rows with these, so the Python side must
produce the very same sequence for the same seed.
"""

from __future__ import annotations

import math
from collections.abc import Callable, MutableSequence
from typing import TypeVar

from .errors import ValidationError

__all__ = ["make_lcg", "shuffle", "to_int32"]

_A = 1664525
_C = 1013904223
_MASK = 0x7FFFFFFF

S = TypeVar("S", bound=MutableSequence)


def to_int32(value: float | int) -> int:
    """JavaScript's ``value | 0`` (ToInt32): truncate toward zero, wrap modulo 2^32 into the
    signed range; NaN and infinities give 0."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        try:
            value = float(value)  # numpy scalars and other real numbers
        except (TypeError, ValueError):
            raise ValidationError(f"seed must be a number, got {type(value).__name__}") from None
    if isinstance(value, int):
        if abs(value) > 2**53:
            value = float(value)  # JS sees the nearest double
    if isinstance(value, float):
        if not math.isfinite(value):
            return 0
        value = int(value)
    value &= 0xFFFFFFFF
    return value - 2**32 if value >= 2**31 else value


def make_lcg(seed: float | int | None = 42) -> Callable[[], float]:
    """A generator of floats in [0, 1]: ``s = (s * 1664525 + 1013904223) & 0x7fffffff``,
    returning ``s / 0x7fffffff``, with ``s`` starting at ``to_int32(seed)``.

    ``None`` means the default seed 42 (JavaScript's ``undefined``).
    """
    state = to_int32(42 if seed is None else seed)

    def rng() -> float:
        nonlocal state
        # Exact in Python ints; in JS the product stays below 2^53, so it is exact there too.
        state = (state * _A + _C) & _MASK
        return state / _MASK

    return rng


def shuffle(seq: S, rng: Callable[[], float]) -> S:
    """Fisher-Yates from the end, in place, exactly as @wlearn/core: for ``i`` from
    ``len - 1`` down to 1, swap ``seq[i]`` with ``seq[int(rng() * (i + 1))]``. Returns ``seq``.

    The generator can return exactly 1.0 (one state in 2^31). JavaScript then swaps with
    index ``i + 1``; on the first step that index is past the end, so JS grows the array by
    one and leaves a hole (``undefined``) at the end position. A list is treated the same way
    (``None`` for the hole) so results never diverge; a fixed-size sequence raises.
    """
    n = len(seq)
    for i in range(n - 1, 0, -1):
        j = int(rng() * (i + 1))
        if j == len(seq):
            if not hasattr(seq, "append"):
                raise ValidationError("the generator returned 1.0; this sequence cannot grow "
                                      "the way the JavaScript shuffle does")
            seq.append(seq[i])
            seq[i] = None
            continue
        seq[i], seq[j] = seq[j], seq[i]
    return seq
