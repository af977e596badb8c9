"""The bundle API of PyPI's ``wlearn`` 0.3 core (``wlearn/bundle.py``), on the codec of
:mod:`wlrn`: same names and signatures, 0.3's results but for the differences listed in
``spec/wlrn.md`` section 8. The manifest form's rules are in :mod:`wlearn._form`; the core's
own reading policy (bounds that grow with the input) is :func:`wlearn.reading.read_bundle`.

What this adds to :mod:`wlrn` (see ``spec/wlrn.md``, section "The 0.3 manifest form"):

- ``encode_bundle`` writes the 0.3 manifest form: ``requires`` (sorted, including what nested
  bundles require), ``artifacts`` (one declaration per TOC entry: ``id``, ``length``,
  ``sha256``, ``mediaType``) and ``params`` (default ``{}``); ``mediaType`` defaults to
  ``application/octet-stream``. The text is canonical JSON, so the bytes are exactly what
  ``@wlearn/core``'s ``encodeBundle`` writes for that manifest (0.3 itself writes
  ``json.dumps`` text, which differs for non-ASCII strings and some numbers).
- ``decode_bundle`` checks the form's fields when present (declarations against the TOC,
  ``requires``, ``params``) and demands them when ``allow_legacy_manifest=False``.
- ``validate_bundle`` also checks every SHA-256 and, recursively, every nested bundle
  (mediaType ``application/x-wlearn-bundle``) under ``limits``' depth and decoded-size
  bounds, and that ``requires`` names every typeId the nested bundles need.

Decoding accepts everything ``@wlearn/core`` 0.1 writes (the legacy form); ``blobs`` is a
:class:`wlrn.Blobs`, which slices like 0.3's blob-region ``memoryview``
(``blobs[offset:offset + length]``) and also maps artifact ids to views.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from wlrn import _json
from wlrn.bundle import (
    BUNDLE_MAGIC, BUNDLE_VERSION, HEADER_SIZE, MAX_JSON_BYTES, Blobs, BundleInput, read_input,
)
from wlrn.bundle import decode_bundle as _decode_js
from wlrn.bundle import artifact_view, byte_view
from wlrn.bundle import encode_bundle as _encode_js

from ._form import (
    DEFAULT_BUNDLE_LIMITS, DEFAULT_MEDIA_TYPE, NESTED_BUNDLE_MEDIA_TYPE, _check_declarations,
    _check_json_sizes, _check_portable, _check_requires, _check_strict, _check_type_id, _limits,
)
from .errors import BundleError

__all__ = [
    "BUNDLE_MAGIC", "BUNDLE_VERSION", "HEADER_SIZE", "MAX_JSON_BYTES", "Blobs", "BundleInput",
    "DEFAULT_BUNDLE_LIMITS", "DEFAULT_MEDIA_TYPE", "NESTED_BUNDLE_MEDIA_TYPE",
    "encode_bundle", "decode_bundle", "validate_bundle", "read_bundle_input",
    "write_bundle_output", "read_input",
]


# --- input and output ---------------------------------------------------------------------

def read_bundle_input(data: Any, max_bytes: int | None = None) -> Any:
    """Bundle bytes from a str or PathLike path (at most ``max_bytes``, else
    :class:`BundleError`); any other input is returned as it is. As in 0.3, a missing or
    unreadable file raises the ``OSError``."""
    if isinstance(data, (str, os.PathLike)):
        path = Path(data)
        if max_bytes is not None and path.stat().st_size > max_bytes:
            raise BundleError(f"Bundle exceeds maximum size {max_bytes}")
        with path.open("rb") as handle:
            result = handle.read(-1 if max_bytes is None else max_bytes + 1)
        if max_bytes is not None and len(result) > max_bytes:
            raise BundleError(f"Bundle exceeds maximum size {max_bytes}")
        return result
    return data


def write_bundle_output(data: bytes, path: str | os.PathLike[str] | None = None) -> bytes:
    """Write ``data`` to ``path`` when one is given; return ``data``."""
    if path is not None:
        Path(path).write_bytes(data)
    return data


def _bounded_view(data: BundleInput, bounds: dict[str, int]) -> memoryview:
    if isinstance(data, (str, os.PathLike)):
        try:
            size = os.stat(data).st_size
        except OSError as exc:
            raise BundleError(f"cannot read bundle {os.fspath(data)!r}: {exc.strerror}") from None
        if size > bounds["max_bundle_bytes"]:
            raise BundleError(f"Bundle exceeds maximum size {bounds['max_bundle_bytes']}")
    view = read_input(data)
    if view.nbytes > bounds["max_bundle_bytes"]:
        raise BundleError(f"Bundle exceeds maximum size {bounds['max_bundle_bytes']}")
    return view



# --- encoding -----------------------------------------------------------------------------

class _Tree:
    """Shared state of one validation: bytes decoded so far over all nesting levels."""

    def __init__(self) -> None:
        self.decoded_bytes = 0


def encode_bundle(manifest: Mapping[str, Any], artifacts: Iterable[Mapping[str, Any]], *,
                  limits: Mapping[str, int] | None = None) -> bytes:
    """Encode a bundle in the 0.3 manifest form.

    ``manifest`` needs a versioned ``typeId``; ``artifacts`` are ``{"id", "data",
    "mediaType"?}`` (``data`` bytes-like, numpy arrays as their raw bytes). Nested bundles
    (mediaType ``application/x-wlearn-bundle``) must themselves be in the 0.3 form; their
    typeIds and requirements join ``requires``. Raises :class:`BundleError` for anything 0.3
    refuses, including a bundle beyond ``limits``.
    """
    bounds = _limits(limits)
    if not isinstance(manifest, Mapping):
        raise BundleError("manifest must be a dict")
    _check_type_id(manifest.get("typeId"))
    if "params" in manifest and not isinstance(manifest["params"], Mapping):
        raise BundleError("manifest.params must be a dict")
    if "requires" in manifest and not isinstance(manifest["requires"], (list, tuple)):
        raise BundleError("manifest.requires must be a list")
    if isinstance(artifacts, Mapping) or not isinstance(artifacts, Iterable):
        raise BundleError("artifacts must be a list")
    artifacts = list(artifacts)
    if len(artifacts) > bounds["max_artifacts"]:
        raise BundleError(f"Too many artifacts: {len(artifacts)} "
                          f"(maximum {bounds['max_artifacts']})")
    requires = set(manifest.get("requires", ()))
    for type_id in requires:
        _check_type_id(type_id, "manifest.requires entry")

    tree = _Tree()
    prepared = []
    for index, artifact in enumerate(artifacts):
        if not isinstance(artifact, Mapping):
            raise BundleError(f"artifact {index} must be a dict")
        artifact_id = artifact.get("id")
        if not isinstance(artifact_id, str) or not artifact_id or len(artifact_id) > 1024:
            raise BundleError("artifact.id must be a non-empty string of at most 1024 "
                              "characters")
        media_type = artifact.get("mediaType", DEFAULT_MEDIA_TYPE)
        if not isinstance(media_type, str) or not media_type:
            raise BundleError(f"Artifact {_json.quote(artifact_id)} mediaType must be a "
                              "non-empty string")
        view = artifact_view(artifact_id, artifact.get("data"),
                             f"Artifact {_json.quote(artifact_id)} data must be bytes-like")
        if view.nbytes > bounds["max_artifact_bytes"]:  # before any copy
            raise BundleError(f"Artifact {_json.quote(artifact_id)} exceeds maximum size "
                              f"{bounds['max_artifact_bytes']}")
        view = byte_view(view)
        if media_type == NESTED_BUNDLE_MEDIA_TYPE:
            nested, _, _ = _validate(view, bounds, False, tree, 1)
            requires.add(nested["typeId"])
            requires.update(nested.get("requires", ()))
        prepared.append({"id": artifact_id, "data": view, "mediaType": media_type})

    # Declarations mirror the TOC, which the codec sorts by id in UTF-16 order.
    declared = sorted(prepared, key=lambda a: _json.utf16_key(a["id"]))
    full = {
        **manifest,
        "bundleVersion": BUNDLE_VERSION,
        "requires": sorted(requires),
        "artifacts": [{"id": a["id"], "length": a["data"].nbytes,
                       "sha256": hashlib.sha256(a["data"]).hexdigest(),
                       "mediaType": a["mediaType"]} for a in declared],
        "params": manifest.get("params", {}),
    }
    _check_portable(full, "manifest")
    data = _encode_js(full, prepared)
    manifest_length = int.from_bytes(data[8:12], "little")
    toc_length = int.from_bytes(data[12:16], "little")
    _check_json_sizes(manifest_length, toc_length, bounds)
    if len(data) > bounds["max_bundle_bytes"]:
        raise BundleError(f"Bundle exceeds maximum size {bounds['max_bundle_bytes']}")
    if tree.decoded_bytes + len(data) > bounds["max_decoded_bytes"]:
        raise BundleError("Decoded nested bundle bytes exceed maximum "
                          f"{bounds['max_decoded_bytes']}")
    return data


def _decode(view: memoryview, bounds: dict[str, int], allow_legacy: bool
            ) -> tuple[dict[str, Any], list[dict[str, Any]], Blobs]:
    # The limits on the JSON sections come after the magic and version checks (H3, H4 before
    # H5 in spec/wlrn.md), which the codec makes: a bundle of another version is named so.
    version = int.from_bytes(view[4:8], "little") if view.nbytes >= HEADER_SIZE else None
    if version == BUNDLE_VERSION and bytes(view[:4]) == BUNDLE_MAGIC:
        manifest_length = int.from_bytes(view[8:12], "little")
        toc_length = int.from_bytes(view[12:16], "little")
        _check_json_sizes(manifest_length, toc_length, bounds)
    # The 0.3 form's strict mode also refuses what only JavaScript writes (repeated or
    # non-string ids, non-string mediaTypes), as 0.3 does.
    manifest, toc, blobs = _decode_js(view, strict=not allow_legacy)
    if len(toc) > bounds["max_artifacts"]:
        raise BundleError(f"Too many artifacts: {len(toc)} (maximum {bounds['max_artifacts']})")
    for entry in toc:
        if entry["length"] > bounds["max_artifact_bytes"]:
            raise BundleError(f"Artifact {_json.dumps(entry['id'])} exceeds maximum size "
                              f"{bounds['max_artifact_bytes']}")
    if "params" in manifest and not isinstance(manifest["params"], dict):
        raise BundleError("manifest.params must be a dict")
    # "artifacts" marks the 0.3 form, where "requires" lists loader typeIds; in a legacy
    # manifest "requires" is @wlearn/core's free-form field (it writes ["onnx"]), kept as is.
    if "artifacts" in manifest:
        _check_declarations(manifest["artifacts"], toc, not allow_legacy)
        if "requires" in manifest:
            _check_requires(manifest)
    if not allow_legacy:
        _check_strict(manifest, toc, blobs.region.nbytes)
        _check_requires(manifest)
    return manifest, toc, blobs


def decode_bundle(data: BundleInput, *, limits: Mapping[str, int] | None = None,
                  allow_legacy_manifest: bool = True
                  ) -> tuple[dict[str, Any], list[dict[str, Any]], Blobs]:
    """Decode a bundle (bytes-like, path or binary file) without checking hashes:
    ``(manifest, toc, blobs)``.

    Structure as :func:`wlrn.decode_bundle`, plus ``limits`` and the 0.3 form's fields:
    ``manifest.artifacts`` must mirror the TOC, ``requires`` be unique versioned typeIds,
    ``params`` an object. With ``allow_legacy_manifest=False`` the bundle must be in the 0.3
    form: those three fields, a typeId, every TOC entry with a mediaType, ids in order and no
    unreferenced blob bytes. Raises :class:`BundleError` naming the rule.
    """
    bounds = _limits(limits)
    return _decode(_bounded_view(data, bounds), bounds, allow_legacy_manifest)


def _validate(view: memoryview, bounds: dict[str, int], allow_legacy: bool, tree: _Tree,
              depth: int) -> tuple[dict[str, Any], list[dict[str, Any]], Blobs]:
    if depth > bounds["max_nesting_depth"]:
        raise BundleError(f"Nested bundle depth {depth} exceeds maximum "
                          f"{bounds['max_nesting_depth']}")
    tree.decoded_bytes += view.nbytes
    if tree.decoded_bytes > bounds["max_decoded_bytes"]:
        raise BundleError("Decoded nested bundle bytes exceed maximum "
                          f"{bounds['max_decoded_bytes']}")
    manifest, toc, blobs = _decode(view, bounds, allow_legacy)
    if depth and "typeId" not in manifest:
        _check_type_id(None, "nested bundle manifest.typeId")
    needed: set[str] = set()
    for entry in toc:
        # By position: @wlearn/core writes repeated and non-string ids (blobs has the first).
        blob = blobs.region[entry["offset"]:entry["offset"] + entry["length"]]
        actual = hashlib.sha256(blob).hexdigest()
        if actual != entry["sha256"]:
            raise BundleError(f"SHA-256 mismatch for {_json.dumps(entry['id'])}: "
                              f"expected {entry['sha256']}, got {actual}")
        if entry.get("mediaType") == NESTED_BUNDLE_MEDIA_TYPE:
            try:
                nested, _, _ = _validate(blob, bounds, allow_legacy, tree, depth + 1)
            except BundleError as exc:
                raise BundleError(f"nested bundle {_json.dumps(entry['id'])}: {exc}") from None
            _check_type_id(nested.get("typeId"), "nested bundle manifest.typeId")
            needed.add(nested["typeId"])
            nested_requires = nested.get("requires")
            if "artifacts" in nested and isinstance(nested_requires, list):
                needed.update(nested_requires)  # loader typeIds, checked by _decode
    if needed and "requires" in manifest:
        if not isinstance(manifest["requires"], list):
            raise BundleError("manifest.requires must be a list")
        missing = needed.difference(r for r in manifest["requires"] if isinstance(r, str))
        if missing:
            raise BundleError(f"manifest.requires is missing nested loader "
                              f"{_json.quote(sorted(missing)[0])}")
    return manifest, toc, blobs


def validate_bundle(data: BundleInput, *, limits: Mapping[str, int] | None = None,
                    allow_legacy_manifest: bool = True
                    ) -> tuple[dict[str, Any], list[dict[str, Any]], Blobs]:
    """:func:`decode_bundle`, then every SHA-256, recursively through nested bundles (within
    ``max_nesting_depth`` levels and ``max_decoded_bytes`` decoded in all), and that
    ``requires``, when present, names every typeId the nested bundles need. Same result."""
    bounds = _limits(limits)
    return _validate(_bounded_view(data, bounds), bounds, allow_legacy_manifest, _Tree(), 0)
