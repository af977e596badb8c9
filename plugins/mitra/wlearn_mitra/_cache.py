"""The support-set cache: encode a support set once, decode any number of query rows.

The converter's split export writes ``<stem>.encoder.onnx`` (support set -> the per-layer
row-attention keys/values and the bucketing statistics) and ``<stem>.decoder.onnx`` (query rows
+ those tensors -> output) next to ``<stem>.onnx``; see spec/mitra-onnx.md.

Each layer's keys and values are a tensor of their own (``keys_0`` ... ``values_{L-1}``): a
stacked [L, ...] tensor would need every layer's copy alive beside it while it is built. Pairs
from before that change take ``keys`` / ``values`` stacked; :func:`cache_layers` tells them apart.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Iterable

import numpy as np

#: The support set's bucketing statistics: the first encoder outputs / decoder inputs.
STAT_NAMES = ("quantiles", "n_valid", "mean", "var")
ENCODER_INPUTS = ("x_support", "y_support", "padding_obs_support")

#: Default bound on the encoded support sets kept between predicts.
DEFAULT_CACHE_MB = 2048


def cache_names(n_layers: int) -> tuple[str, ...]:
    """Encoder outputs = decoder inputs after ``x_query``, in this order: the statistics, then
    ``keys_0`` ... ``keys_{L-1}``, then ``values_0`` ... ``values_{L-1}``."""
    keys = tuple(f"keys_{layer}" for layer in range(n_layers))
    values = tuple(f"values_{layer}" for layer in range(n_layers))
    return (*STAT_NAMES, *keys, *values)


def cache_layers(decoder_inputs: Iterable[str]) -> int | None:
    """L when these are the inputs of a query decoder taking L layers' keys/values one by one
    (``x_query`` + :func:`cache_names`), else None (e.g. the older stacked ``keys``)."""
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


def derived_paths(folder: Path, sha256: str) -> tuple[Path, Path]:
    """Where a split pair derived from the single graph with this hash is kept."""
    return folder / f"{sha256}.encoder.onnx", folder / f"{sha256}.decoder.onnx"


def derive_split(single: Path | bytes, folder: Path, sha256: str) -> tuple[Path, Path]:
    """Re-export a single graph's weights as the split pair (needs the ``convert`` extra)."""
    from wlearn.errors import ValidationError

    from ._hints import install_hint

    try:
        from .convert.checkpoint import load_model
        from .convert.export import export_split
    except ImportError as exc:
        raise ValidationError(
            f"deriving the support cache needs torch and onnx: {install_hint('convert')} ({exc})"
        ) from exc
    encoder, decoder = derived_paths(folder, sha256)
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder) as scratch:
        source = single
        if isinstance(single, bytes):
            source = Path(scratch) / "model.onnx"
            source.write_bytes(single)
        temp = Path(scratch) / "encoder.onnx", Path(scratch) / "decoder.onnx"
        export_split(load_model(source), *temp)
        # decoder first: a pair is only looked for once its encoder exists
        os.replace(temp[1], decoder)
        os.replace(temp[0], encoder)
    return encoder, decoder


def support_key(x_support: np.ndarray, y_support: np.ndarray) -> str:
    """A digest of exactly what the encoder is fed."""
    digest = hashlib.sha256()
    for array in (x_support, y_support):
        digest.update(str((array.dtype.str, array.shape)).encode())
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()


class SupportCache:
    """Encoded support sets, least recently used dropped first, bounded in bytes.

    Safe to share between threads (a Dask worker runs tasks on several).
    """

    def __init__(self, max_mb: float = DEFAULT_CACHE_MB) -> None:
        self.max_bytes = int(max_mb * 2**20)
        self._entries: OrderedDict[str, tuple[np.ndarray, ...]] = OrderedDict()
        self._lock = threading.Lock()

    def _nbytes(self) -> int:
        return sum(sum(a.nbytes for a in e) for e in self._entries.values())

    @property
    def nbytes(self) -> int:
        with self._lock:
            return self._nbytes()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: str) -> tuple[np.ndarray, ...] | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                self._entries.move_to_end(key)
            return entry

    def put(self, key: str, entry: tuple[np.ndarray, ...]) -> None:
        """Keep ``entry`` if it fits the bound, dropping older ones to make room."""
        size = sum(a.nbytes for a in entry)
        with self._lock:
            self._entries.pop(key, None)
            if size > self.max_bytes:
                return
            while self._entries and self._nbytes() + size > self.max_bytes:
                self._entries.popitem(last=False)
            self._entries[key] = entry

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
