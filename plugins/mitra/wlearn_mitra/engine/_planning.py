"""Planning one predict: which graphs, how wide, how many rows a chunk. The memory model
(what a support set, a query row and the support cache cost) and the wide-data policy live
here and only here; other docstrings point to this one.

The query side's cost grows with the query rows and is bounded by chunking
(:mod:`._chunks`). The support side's does not: every support row attends across its
features (rows x features^2) and every feature across the support rows (features x rows^2),
and with the support cache the encoded keys/values of every layer stay alive
(2 x layers x rows x features x dim floats).

Without a budget (``max_memory_mb=None``, the default) the plan gives the model's plain
answer, as the JS package and AutoGluon compute it: all features together (up to
:data:`MAX_FEATURES`), through the support cache when the encoded set fits ``cache_mb``, and
query chunks of :data:`DEFAULT_MEMORY_MB`. Its memory is then what the support set
costs; when that is more than the machine has available, the predict is refused before
anything is allocated, naming the budget or support size that would run.

With a budget, the budget bounds the whole predict, and the plan picks, in this order, the
first that fits:

1. all features through the support cache (encoder + decoder pair), when the engine has it;
2. all features through the single graph (nothing kept between chunks);
3. the widest feature subset that fits, through the single graph: ensemble members then see
   different subsets of that width (:func:`._preprocess.feature_subsets`), at least
   enough members that every feature is seen by one.

Data wider than :data:`MAX_FEATURES` (the model's comfortable width) is split the same way
whatever the budget, "all features" then meaning subsets of :data:`MAX_FEATURES`: with the
pair, each member's subset is encoded once and its query chunks decoded against it (one
member's encoded set alive at a time: encode, decode every chunk, drop it, next member), not
run again with every chunk through the single graph. When not even one feature fits, the plan refuses before anything is
allocated, saying what to change. Estimates are deliberately generous; they were calibrated
on measured peaks of ONNX Runtime (bench/README.md, "Wide data").
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

from wlearn.errors import ResourceLimitError, ValidationError

from ._chunks import MIN_CHUNK_ROWS
from ..graphs._onnxinfo import ModelShape

#: Query-side memory of one chunk when no budget is given (MB, on top of the weights).
DEFAULT_MEMORY_MB = 1024

#: The bucketing step compares every value with 999 quantiles.
N_QUANTILES = 999


def bytes_per_query_row(shape: ModelShape, n_support: int, n_features: int) -> int:
    """A deliberately generous estimate of the activation bytes one query row costs.

    Per row: the (F+1) token states and MLP hidden layers (``dim`` and ``4 dim`` wide, a few
    alive at once), the row-attention scores against every support row (one per head and
    feature, plus the softmax's copy), and the quantile comparison of the embedding step.
    Calibrated against measured peaks of ONNX Runtime on the full-size model
    (see bench/README.md), where it errs on the high side.
    """
    tokens = n_features + 1
    states = tokens * shape.dim * 4 * 24
    scores = tokens * shape.n_heads * max(n_support, 1) * 4 * 3
    bucket = max(n_features, 1) * N_QUANTILES * 9
    return states + scores + bucket


#: Widest feature set one member sees: AutoGluon runs Mitra up to 500 features, and the
#: released weights were pretrained on far fewer; wider data is split across members.
MAX_FEATURES = 500

MB = 2**20

#: Query rows a chunk has room for when members get feature subsets (unless even the
#: narrowest subset leaves less). Fixed, so the plan never depends on the query rows.
SUBSET_CHUNK_ROWS = 16


@dataclass(frozen=True)
class Plan:
    """How one predict runs."""

    width: int  # features each ensemble member sees (all of them when they fit)
    rows: int  # query rows per chunk
    cached: bool  # through the support encoder + query decoder pair
    members: int  # ensemble members (n_estimators, more when features are split)


def support_bytes(shape: ModelShape, n_support: int, n_features: int) -> int:
    """Activation bytes of the support side of one pass (single graph or encoder).

    Per support token (row x feature): its states and MLP layers (16 ``dim``-wide float32
    copies alive at the peak) and its row-attention scores against every support row; per
    support row: its feature-attention scores, (features + 1)^2 per head. Calibrated on the
    full-size model (512 rows: 18 MB per feature measured, 21 MB estimated) and the tiny one
    (500 features x 512 rows: 4.5 GB measured, 5.2 GB estimated).
    """
    tokens = n_features + 1
    per_token = shape.dim * 4 * 16 + shape.n_heads * 4 * n_support * 5 // 4
    feature_attention = shape.n_heads * tokens * tokens * 4
    return n_support * (tokens * per_token + feature_attention)


def cache_bytes(shape: ModelShape, n_layers: int, n_support: int, n_features: int) -> int:
    """Bytes of one encoded support set: every layer's keys and values of every token."""
    return 2 * n_layers * n_support * (n_features + 1) * shape.dim * 4


def query_row_bytes(shape: ModelShape, n_support: int, n_features: int) -> int:
    """One query row's activations: :func:`bytes_per_query_row` plus its feature attention."""
    tokens = n_features + 1
    return bytes_per_query_row(shape, n_support, n_features) + shape.n_heads * tokens**2 * 4 * 3


def single_first_fits(shape: ModelShape, n_support: int, n_features: int, n_query: int,
                      cache_layers: int) -> bool:
    """Whether a support set's first predict may run the single graph over all ``n_query``
    rows at once: when that run's query side is estimated no larger than what the support
    cache's way holds besides the support pass (the encoded set, plus a chunk of
    :data:`DEFAULT_MEMORY_MB`). The pair then opens only when a support set comes back
    (:class:`~wlearn_mitra.engine.MitraEngine`); a query side larger than that is decoded in
    chunks against the encoded set, as before."""
    stored = cache_bytes(shape, cache_layers, n_support, n_features)
    per_row = query_row_bytes(shape, n_support, n_features)
    return n_query * per_row <= stored + DEFAULT_MEMORY_MB * MB


def _fits(fixed: int, per_row: int, budget: float, rows: int = MIN_CHUNK_ROWS) -> bool:
    return fixed + rows * per_row <= budget


def _widest(cost, limit: int, budget: float, rows: int) -> int:
    """The widest feature count in 1..limit whose ``cost(width)`` leaves room for ``rows``
    query rows (costs grow with the width), 0 if none."""
    low, high = 0, limit + 1  # fits at low (0 trivially), not at high
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (middle, high) if _fits(*cost(middle), budget, rows) else (low, middle)
    return low


def plan(
    shape: ModelShape,
    n_support: int,
    n_features: int,
    *,
    max_memory_mb: float | None,
    chunk_size: int | None = None,
    n_estimators: int = 1,
    cache_layers: int | None = None,
    cache_mb: float | None = None,
    open_bytes: int = 0,
    available_mb: float | None = None,
    max_features: int = MAX_FEATURES,
) -> Plan:
    """The plan for ``n_support`` support rows and ``n_features`` (preprocessed) features.

    ``cache_layers``: the layers of the engine's support cache, None without one;
    ``cache_mb``: the cache's bound (an encoded set larger than that is not kept, so without a
    budget the single graph runs instead). ``open_bytes``: weights the single graph would add
    when the plan needs it and it is not open yet (counted against a budget).
    ``available_mb``: the memory the machine has available, None when unknown.
    ``chunk_size`` fixes the query rows per chunk (the support side is still planned).
    Raises ValidationError when the budget is not a positive finite number,
    ResourceLimitError when it is too small for even one feature of this support set, or,
    without a budget, when the plain run needs more than ``available_mb`` (each message
    gives what would do).
    """
    if max_memory_mb is not None and (
            isinstance(max_memory_mb, bool) or not isinstance(max_memory_mb, numbers.Real)
            or not 0 < max_memory_mb < math.inf):
        raise ValidationError(f"max_memory_mb must be a positive finite number of megabytes or "
                              f"None, got {max_memory_mb!r}")
    if chunk_size is not None and (
            isinstance(chunk_size, bool) or not isinstance(chunk_size, numbers.Integral)
            or chunk_size < 1):
        raise ValidationError(f"chunk_size must be a positive integer, got {chunk_size!r}")
    widest = max(1, min(n_features, int(max_features)))
    if max_memory_mb is None:
        return _plain(shape, n_support, n_features, widest, chunk_size, n_estimators,
                      cache_layers, cache_mb, open_bytes, available_mb)
    budget_mb = max_memory_mb
    budget = budget_mb * MB

    def single(width: int) -> tuple[int, int]:
        return (support_bytes(shape, n_support, width) + open_bytes,
                query_row_bytes(shape, n_support, width))

    cached = False
    width = widest
    if cache_layers:
        # one member's encoded set alive at a time (the engine drops it before the next)
        stored = cache_bytes(shape, cache_layers, n_support, widest)
        encode = support_bytes(shape, n_support, widest) + stored
        per_row = query_row_bytes(shape, n_support, widest)
        if encode <= budget and _fits(stored, per_row, budget):
            cached = True
    if not cached and not _fits(*single(widest), budget):
        # Members are narrower anyway: leave room for a useful chunk of query rows too, as
        # each chunk of the single graph repeats the support pass.
        low = _widest(single, widest, budget, SUBSET_CHUNK_ROWS)
        low = low or _widest(single, widest, budget, MIN_CHUNK_ROWS)
        if low == 0:
            fixed, per_row = single(1)
            need = math.ceil((fixed + MIN_CHUNK_ROWS * per_row) / MB * 100) / 100
            raise ResourceLimitError(
                f"a support set of {n_support} rows needs about {need:g} MB of working "
                f"memory even one feature at a time, more than max_memory_mb={budget_mb:g}; "
                f"raise max_memory_mb to at least {need:g}, or fit with a smaller max_support"
            )
        width = low
    if cached:
        fixed = cache_bytes(shape, cache_layers, n_support, width)
        per_row = query_row_bytes(shape, n_support, width)
    else:
        fixed, per_row = single(width)
    rows = _chunk_rows(chunk_size, budget - fixed, per_row)
    return Plan(width=width, rows=rows, cached=cached,
                members=_members(n_estimators, n_features, width))


def _chunk_rows(chunk_size: int | None, room: float, per_row: int) -> int:
    """``chunk_size`` when given, else the query rows that fit ``room`` bytes (at least
    :data:`MIN_CHUNK_ROWS`)."""
    return int(chunk_size) if chunk_size is not None else max(MIN_CHUNK_ROWS, int(room // per_row))


def _members(n_estimators: int, n_features: int, width: int) -> int:
    """Enough members that every feature is seen, and at least ``n_estimators``."""
    return max(int(n_estimators), -(-n_features // width))


def _plain(shape, n_support, n_features, width, chunk_size, n_estimators, cache_layers,
           cache_mb, open_bytes, available_mb) -> Plan:
    """No budget: every feature up to the model's width together, refused (before anything
    is allocated) only when that needs more than the machine has available. Members on
    feature subsets (data wider than the model's width) go through the support cache as
    whole data does: each member's encoded set must fit ``cache_mb``, and only one member's
    is alive at a time."""
    stored = cache_bytes(shape, cache_layers, n_support, width) if cache_layers else 0
    cached = bool(cache_layers) and (cache_mb is None or stored <= cache_mb * MB)
    per_row = query_row_bytes(shape, n_support, width)
    rows = _chunk_rows(chunk_size, DEFAULT_MEMORY_MB * MB, per_row)
    support = support_bytes(shape, n_support, width)
    if cached:
        need = max(support + stored, stored + rows * per_row)
    else:
        need = support + open_bytes + rows * per_row
    if available_mb is not None and need > available_mb * MB:
        raise ResourceLimitError(
            f"predicting with this support set ({n_support} rows x {width} features) needs "
            f"about {math.ceil(need / MB)} MB, more than the {available_mb:.0f} MB this "
            "machine has available; fit with a smaller max_support, or pass max_memory_mb to "
            "bound the predict (members then see feature subsets that fit)"
        )
    return Plan(width=width, rows=rows, cached=cached,
                members=_members(n_estimators, n_features, width))


def available_memory_mb() -> float | None:
    """The memory the machine can give without swapping (Linux's MemAvailable), in MB;
    None where that is not known."""
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) / 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def full_width_mb(shape: ModelShape, n_support: int, n_features: int) -> float:
    """The budget (MB, rounded up) that runs all ``n_features`` together in the single graph."""
    fixed = support_bytes(shape, n_support, n_features)
    per_row = query_row_bytes(shape, n_support, n_features)
    return math.ceil((fixed + MIN_CHUNK_ROWS * per_row) / MB)
