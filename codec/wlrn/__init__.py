"""wlrn: the ``.wlrn`` bundle codec of ``@wlearn/core``, byte for byte.

``encode_bundle`` writes exactly what ``encodeBundle`` of ``@wlearn/core`` 0.1.0 writes (its
canonical JSON included); ``decode_bundle`` / ``validate_bundle`` read what it writes, treating
every input as untrusted. This distribution has no dependencies and no registry, so it installs
beside either Python core, PyPI's ``wlearn`` 0.3 or this project's ``wlearn`` 0.4: plugins that
must write JavaScript-identical bundles (``wlearn-mitra``) encode with it whichever core is
installed. See ``spec/wlrn.md``.
"""

from __future__ import annotations

from . import rng
from ._json import decode_json, encode_json
from .bundle import (
    BUNDLE_MAGIC, BUNDLE_VERSION, HEADER_SIZE, MAX_JSON_BYTES, Blobs, BundleInput,
    decode_bundle, encode_bundle, read_input, validate_bundle,
)
from .errors import (
    BundleError, DisposedError, NotFittedError, RegistryError, ValidationError, WlearnError,
)

__version__ = "0.4.0"

__all__ = [
    "BUNDLE_MAGIC", "BUNDLE_VERSION", "HEADER_SIZE", "MAX_JSON_BYTES", "Blobs", "BundleInput",
    "encode_bundle", "decode_bundle", "validate_bundle", "read_input", "encode_json",
    "decode_json", "rng",
    "WlearnError", "BundleError", "RegistryError", "ValidationError", "NotFittedError",
    "DisposedError",
]
