"""wlearn: the ``.wlrn`` model-bundle format and its loader registry.

The bundle, registry and errors API of PyPI's ``wlearn`` 0.3 core (same module paths and
signatures; its results but for the differences listed in ``spec/wlrn.md`` section 8), plus
entry-point plugin discovery, the ``wlearn`` CLI and :class:`Bundle`. The byte-exact ``@wlearn/core`` codec it
is built on is :mod:`wlrn`.
"""

from __future__ import annotations

from wlrn import _json, decode_json, encode_json

from . import rng
from .bundle import (
    BUNDLE_MAGIC, BUNDLE_VERSION, DEFAULT_BUNDLE_LIMITS, HEADER_SIZE, Blobs, decode_bundle,
    encode_bundle, read_bundle_input, validate_bundle, write_bundle_output,
)
from .errors import (
    BackendError, BundleError, CancelledError, DisposedError, NotFittedError, RegistryError,
    ResourceLimitError, ValidationError, WlearnError,
)
from .reading import read_bundle
from .registry import assert_required_loaders, available_loaders, get_registry, load, register
from .view import Artifact, Bundle

__version__ = "0.4.0"

__all__ = [
    "BUNDLE_MAGIC", "BUNDLE_VERSION", "HEADER_SIZE", "DEFAULT_BUNDLE_LIMITS", "Blobs",
    "encode_bundle", "decode_bundle", "validate_bundle", "read_bundle_input",
    "write_bundle_output", "read_bundle", "encode_json", "decode_json",
    "register", "load", "get_registry", "available_loaders", "assert_required_loaders", "rng",
    "Bundle", "Artifact",
    "WlearnError", "BundleError", "RegistryError", "ValidationError", "NotFittedError",
    "DisposedError", "ResourceLimitError", "CancelledError", "BackendError",
]
