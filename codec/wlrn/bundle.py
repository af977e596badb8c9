"""The ``.wlrn`` byte layout: encode, decode and validate bundles.

Layout (all integers little-endian)::

    0   4  magic  b"WLRN"
    4   4  uint32 format version (1)
    8   4  uint32 manifest length M
    12  4  uint32 TOC length T
    16  M  manifest: canonical JSON object
    16+M T  TOC: canonical JSON array of {id, offset, length, sha256[, mediaType]}
    16+M+T  blob region; TOC offsets are relative to its start

Decoding never copies blob bytes: artifacts are ``memoryview`` slices of the input.
"""

from __future__ import annotations

import hashlib
import os
import re
import struct
from collections.abc import Iterable, Mapping
from typing import Any, BinaryIO, Union

from . import _json
from .errors import BundleError

__all__ = [
    "BUNDLE_MAGIC", "BUNDLE_VERSION", "HEADER_SIZE", "MAX_JSON_BYTES", "Blobs",
    "encode_bundle", "decode_bundle", "validate_bundle", "read_input",
]

BUNDLE_MAGIC = b"WLRN"
BUNDLE_VERSION = 1
HEADER_SIZE = 16

#: Largest manifest or TOC accepted, in bytes. Parsed JSON can take ~20x its text size in
#: memory, so this bounds what a hostile bundle can make a reader allocate.
MAX_JSON_BYTES = 16 * 2**20

_HEADER = struct.Struct("<4sIII")
_SHA256_RE = re.compile(r"[0-9a-f]{64}")

BundleInput = Union[bytes, bytearray, memoryview, "os.PathLike[str]", str, BinaryIO]


class Blobs(dict):
    """Artifact bytes by id: ``blobs["weights"]`` is a zero-copy ``memoryview``.

    ``blobs.region`` is the whole blob region, and slicing (``blobs[a:b]``) slices it, so
    loaders written for the region-style API of @wlearn/core 0.1 keep working.
    """

    region: memoryview

    def __init__(self, views: Iterable[tuple[str, memoryview]] = (),
                 region: memoryview | None = None) -> None:
        super().__init__(views)
        self.region = memoryview(b"") if region is None else region

    def __getitem__(self, key: Any) -> memoryview:
        if isinstance(key, slice):
            return self.region[key]
        return super().__getitem__(key)


def _as_bytes_view(data: Any) -> memoryview:
    try:
        view = memoryview(data)
    except TypeError:
        raise BundleError(f"a bundle must be bytes-like, got {type(data).__name__}") from None
    if not view.c_contiguous:
        raise BundleError("a bundle buffer must be C-contiguous")
    return view if view.format == "B" and view.ndim == 1 else view.cast("B")


def read_input(data: BundleInput) -> memoryview:
    """A byte view of a bundle given as bytes-like data, a path, or a binary file object."""
    if isinstance(data, (str, os.PathLike)):
        try:
            with open(data, "rb") as handle:
                return memoryview(handle.read())
        except OSError as exc:
            raise BundleError(f"cannot read bundle {os.fspath(data)!r}: {exc.strerror}") from None
    try:
        return _as_bytes_view(memoryview(data))
    except TypeError:
        pass
    if not hasattr(data, "read"):
        raise BundleError("a bundle must be bytes-like, a path or a binary file, got "
                          f"{type(data).__name__}")
    try:
        content = data.read()
    except OSError as exc:
        raise BundleError(f"cannot read bundle: {exc}") from None
    if isinstance(content, str):
        raise BundleError("bundle file objects must be opened in binary mode ('rb')")
    return _as_bytes_view(content)


# --- encoding -----------------------------------------------------------------------------

def _artifact_bytes(artifact_id: str, data: Any) -> memoryview:
    try:
        view = memoryview(data)
    except TypeError:
        raise BundleError(f"artifact {_json.quote(artifact_id)}: data must be bytes-like, "
                          f"got {type(data).__name__}") from None
    if not view.c_contiguous:
        view = memoryview(view.tobytes())
    return view if view.format == "B" and view.ndim == 1 else view.cast("B")


def encode_bundle(manifest: Mapping[str, Any], artifacts: Iterable[Mapping[str, Any]]) -> bytes:
    """Encode a bundle, byte for byte as ``encodeBundle`` of @wlearn/core.

    ``artifacts`` are ``{"id": str, "data": bytes-like, "mediaType"?: str}``; numpy arrays
    are written as their raw C-order bytes. Artifacts are sorted by id (UTF-16 order),
    ``bundleVersion`` is set to 1 and an empty or missing ``mediaType`` is left out.
    """
    if not isinstance(manifest, Mapping):
        raise BundleError(f"the manifest must be a dict, got {type(manifest).__name__}")
    prepared = []
    seen: set[str] = set()
    for index, artifact in enumerate(artifacts):
        if not isinstance(artifact, Mapping):
            raise BundleError(f"artifact {index} must be a dict with 'id' and 'data'")
        artifact_id = artifact.get("id")
        if not isinstance(artifact_id, str):
            raise BundleError(f"artifact {index}: 'id' must be a string")
        if artifact_id in seen:
            raise BundleError(f"Duplicate artifact id {_json.quote(artifact_id)}")
        seen.add(artifact_id)
        if "data" not in artifact:
            raise BundleError(f"artifact {_json.quote(artifact_id)} has no 'data'")
        media_type = artifact.get("mediaType")
        if media_type is not None and not isinstance(media_type, str):
            raise BundleError(f"artifact {_json.quote(artifact_id)}: 'mediaType' must be a string")
        prepared.append((artifact_id, _artifact_bytes(artifact_id, artifact["data"]), media_type))
    prepared.sort(key=lambda item: _json.utf16_key(item[0]))
    for (first, _, _), (second, _, _) in zip(prepared, prepared[1:]):
        if _json.utf16_key(first) == _json.utf16_key(second):
            raise BundleError(f"artifact ids {_json.quote(first)} and {_json.quote(second)} "
                              "are the same JavaScript string")

    toc = []
    offset = 0
    for artifact_id, view, media_type in prepared:
        entry: dict[str, Any] = {
            "id": artifact_id, "offset": offset, "length": view.nbytes,
            "sha256": hashlib.sha256(view).hexdigest(),
        }
        if media_type:
            entry["mediaType"] = media_type
        toc.append(entry)
        offset += view.nbytes

    manifest_bytes = _json.encode_json({**manifest, "bundleVersion": BUNDLE_VERSION})
    toc_bytes = _json.encode_json(toc)
    for what, text in (("Manifest", manifest_bytes), ("TOC", toc_bytes)):
        if len(text) > MAX_JSON_BYTES:  # readers would refuse it
            raise BundleError(f"{what} too large: {len(text):,} bytes exceeds the limit of "
                              f"{MAX_JSON_BYTES:,}; store large data as an artifact")
    header = _HEADER.pack(BUNDLE_MAGIC, BUNDLE_VERSION, len(manifest_bytes), len(toc_bytes))
    return b"".join([header, manifest_bytes, toc_bytes, *(view for _, view, _ in prepared)])


# --- decoding -----------------------------------------------------------------------------

def _check_placement(index: int, entry: Any, region_length: int) -> None:
    if not isinstance(entry, dict):
        raise BundleError(f"TOC entry {index} is not an object")
    artifact_id = entry.get("id")
    if not isinstance(artifact_id, str):
        raise BundleError(f"TOC entry {index}: 'id' must be a string")
    name = f"TOC entry {_json.quote(artifact_id)}"
    for field in ("offset", "length"):
        value = entry.get(field)
        if type(value) is not int or value < 0:  # bools and floats are refused too
            raise BundleError(f"{name}: '{field}' must be a non-negative integer, got "
                              f"{_json.dumps(value)[:40] if field in entry else 'nothing'}")
    if entry["offset"] + entry["length"] > region_length:
        raise BundleError(f"{name} out of bounds: offset={entry['offset']}, "
                          f"length={entry['length']}, blobRegion={region_length}")


def _check_fields(entry: dict[str, Any]) -> None:
    name = f"TOC entry {_json.quote(entry['id'])}"
    sha = entry.get("sha256")
    if not isinstance(sha, str) or not _SHA256_RE.fullmatch(sha):
        raise BundleError(f"{name}: 'sha256' must be 64 lowercase hex digits")
    media_type = entry.get("mediaType")
    if "mediaType" in entry and (not isinstance(media_type, str) or not media_type):
        raise BundleError(f"{name}: 'mediaType' must be a non-empty string when present")


def _check_overlaps(toc: list[dict[str, Any]]) -> None:
    # Zero-length artifacts occupy no bytes, so they never overlap (as in @wlearn/core).
    spans = sorted((e["offset"], e["offset"] + e["length"], e["id"]) for e in toc if e["length"])
    for (_, end, first), (start, _, second) in zip(spans, spans[1:]):
        if start < end:
            raise BundleError(f"TOC entries {_json.quote(first)} and {_json.quote(second)} "
                              "overlap")


def _kind(value: Any) -> str:
    names = {dict: "an object", list: "an array", str: "a string", bool: "a boolean",
             type(None): "null"}
    return names.get(type(value), "a number")


def decode_bundle(data: BundleInput) -> tuple[dict[str, Any], list[dict[str, Any]], Blobs]:
    """Decode a bundle without checking hashes: ``(manifest, toc, blobs)``.

    ``data`` is bytes-like (bytes, bytearray, memoryview, mmap, ...), a path or a binary
    file. ``blobs`` maps each artifact id to a zero-copy ``memoryview`` of the input. Every
    structural problem raises :class:`BundleError` (see ``spec/wlrn.md`` for the list).
    """
    buf = read_input(data)
    size = buf.nbytes
    if size < HEADER_SIZE:
        raise BundleError(f"Bundle too small: {size} bytes (minimum {HEADER_SIZE})")
    magic, version, manifest_length, toc_length = _HEADER.unpack_from(buf)
    if magic != BUNDLE_MAGIC:
        raise BundleError(f"Invalid bundle magic (expected WLRN): got {magic!r}")
    if version != BUNDLE_VERSION:
        raise BundleError(f"Unsupported bundle version: {version} (expected {BUNDLE_VERSION})")
    for what, length in (("Manifest", manifest_length), ("TOC", toc_length)):
        if length > MAX_JSON_BYTES:
            raise BundleError(f"{what} too large: {length:,} bytes exceeds the limit of "
                              f"{MAX_JSON_BYTES:,} (wlearn.bundle.MAX_JSON_BYTES)")
    blob_start = HEADER_SIZE + manifest_length + toc_length
    if blob_start > size:
        raise BundleError(f"Bundle truncated: header declares {blob_start} bytes (manifest "
                          f"{manifest_length}, TOC {toc_length}) but got {size}")

    manifest_end = HEADER_SIZE + manifest_length
    manifest = _json.parse_strict(buf[HEADER_SIZE:manifest_end], "manifest")
    if not isinstance(manifest, dict):
        raise BundleError(f"Invalid manifest: must be a JSON object, got {_kind(manifest)}")
    toc = _json.parse_strict(buf[manifest_end:blob_start], "TOC")
    if not isinstance(toc, list):
        raise BundleError(f"Invalid TOC: must be a JSON array, got {_kind(toc)}")

    region = buf[blob_start:].toreadonly()  # loaders must not write into the caller's buffer
    region_length = region.nbytes
    ids: set[str] = set()
    for index, entry in enumerate(toc):
        _check_placement(index, entry, region_length)
        if entry["id"] in ids:
            raise BundleError(f"Duplicate artifact id {_json.quote(entry['id'])} in the TOC")
        ids.add(entry["id"])
    _check_overlaps(toc)
    for entry in toc:
        _check_fields(entry)
    blobs = Blobs(((e["id"], region[e["offset"]:e["offset"] + e["length"]]) for e in toc),
                  region)
    return manifest, toc, blobs


def validate_bundle(data: BundleInput) -> tuple[dict[str, Any], list[dict[str, Any]], Blobs]:
    """:func:`decode_bundle`, then check every artifact's SHA-256; same result."""
    manifest, toc, blobs = decode_bundle(data)
    for entry in toc:
        actual = hashlib.sha256(blobs[entry["id"]]).hexdigest()
        if actual != entry["sha256"]:
            raise BundleError(f"SHA-256 mismatch for {_json.quote(entry['id'])}: "
                              f"expected {entry['sha256']}, got {actual}")
    return manifest, toc, blobs
