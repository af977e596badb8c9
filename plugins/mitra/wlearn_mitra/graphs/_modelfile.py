"""Where a model's bytes come from, and its identity (:mod:`._identity`, what caches are
keyed by)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Union

from wlearn.errors import ValidationError

from ._identity import model_buffer as buffer
from ._identity import model_identity

#: A model's bytes, or its path (left for the runtime to read: no Python copy).
ModelSource = Union[bytes, Path]


def model_source(onnx: object) -> ModelSource:
    """``onnx`` (a path or the model's bytes) as a :data:`ModelSource`."""
    if isinstance(onnx, (bytes, bytearray, memoryview)):
        return bytes(onnx)
    if isinstance(onnx, (str, os.PathLike)):
        path = Path(onnx)
        if not path.is_file():
            raise ValidationError(f"ONNX model file not found: {path}")
        # absolute: graphs open lazily, possibly after the working directory changed
        return path.absolute()
    raise ValidationError(
        "onnx must be a path, the model's bytes or an onnxruntime.InferenceSession, "
        f"not {type(onnx).__name__}"
    )


def sha256_of(source: ModelSource) -> str:
    """The model's identity: SHA-256 of its bytes, covering its external data if any."""
    with buffer(source) as view:
        return model_identity(source, view)
