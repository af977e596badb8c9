"""wlearn: the .wlrn model-bundle format and its loader registry."""

from __future__ import annotations

from . import rng
from ._json import decode_json, encode_json
from .bundle import (
    BUNDLE_MAGIC, BUNDLE_VERSION, HEADER_SIZE, Blobs, decode_bundle, encode_bundle,
    validate_bundle,
)
from .errors import (
    BundleError, DisposedError, NotFittedError, RegistryError, ValidationError, WlearnError,
)
from .registry import available_loaders, get_registry, load, register
from .view import Artifact, Bundle

__version__ = "0.4.0"

__all__ = [
    "BUNDLE_MAGIC", "BUNDLE_VERSION", "HEADER_SIZE", "Blobs",
    "encode_bundle", "decode_bundle", "validate_bundle", "encode_json",
    "decode_json",
    "register", "load", "get_registry", "available_loaders", "rng", "Bundle", "Artifact",
    "WlearnError", "BundleError", "RegistryError", "ValidationError", "NotFittedError",
    "DisposedError",
]
