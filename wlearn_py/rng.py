"""The deterministic generator and shuffle of @wlearn/core; they live in :mod:`wlrn.rng`."""

from __future__ import annotations

from wlrn.rng import make_lcg, shuffle, to_int32

__all__ = ["make_lcg", "shuffle", "to_int32"]
