"""Names and places of the Mitra graphs: the split pair's tensors and files.

Shared by the converter that writes graphs and the engine that runs them, and importing
nothing of either, so data flows one way: ``convert`` -> ``_layout`` <- ``engine``.

Each layer's keys and values are a tensor of their own (``keys_0`` ... ``values_{L-1}``): a
stacked [L, ...] tensor would need every layer's copy alive beside it while it is built. Pairs
from before that change take ``keys`` / ``values`` stacked; :func:`cache_layers` tells them apart.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable

#: The single graph's inputs (the JS package's interface), in order.
INPUT_NAMES = ("x_support", "y_support", "x_query", "padding_obs_support")
#: The support encoder's inputs: everything but the query rows.
ENCODER_INPUTS = ("x_support", "y_support", "padding_obs_support")
#: The support set's bucketing statistics: the first encoder outputs / decoder inputs.
STAT_NAMES = ("quantiles", "n_valid", "mean", "var")


def cache_names(n_layers: int) -> tuple[str, ...]:
    """The converter's encoder outputs = decoder inputs after ``x_query``, in this order: the
    statistics, then ``keys_0`` ... ``keys_{L-1}``, then ``values_0`` ... ``values_{L-1}``."""
    keys = tuple(f"keys_{layer}" for layer in range(n_layers))
    values = tuple(f"values_{layer}" for layer in range(n_layers))
    return (*STAT_NAMES, *keys, *values)


def cache_layers(decoder_inputs: Iterable[str]) -> int | None:
    """L when these are the inputs of a converter's query decoder taking L layers'
    keys/values one by one (``x_query`` + :func:`cache_names`), else None."""
    names = set(decoder_inputs)
    n_layers = sum(name.startswith("keys_") for name in names)
    if n_layers and names == {"x_query", *cache_names(n_layers)}:
        return n_layers
    return None


def split_paths(onnx_path: str | os.PathLike) -> tuple[Path, Path]:
    """The split pair of ``model.onnx``: ``model.encoder.onnx``, ``model.decoder.onnx`` (where
    the converter writes it and the engine looks for it)."""
    path = Path(onnx_path)
    stem = path.name[: -len(".onnx")] if path.name.endswith(".onnx") else path.name
    return path.with_name(f"{stem}.encoder.onnx"), path.with_name(f"{stem}.decoder.onnx")
