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
import stat
import struct
import sys
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

#: Largest manifest or TOC wlearn expects, in bytes. @wlearn/core writes and reads larger
#: ones, so by default they are read (parsed JSON takes some 20 times its text size in memory,
#: a bound that grows with the input) and reported as unusual; ``strict=True`` refuses them.
MAX_JSON_BYTES = 16 * 2**20
#: The header's uint32 length fields cannot say more.
MAX_SECTION_BYTES = 2**32 - 1

_HEADER = struct.Struct("<4sIII")
_SHA256_RE = re.compile(r"[0-9a-f]{64}")

BundleInput = Union[bytes, bytearray, memoryview, "os.PathLike[str]", str, BinaryIO]


class Blobs(dict):
    """Artifact bytes by id: ``blobs["weights"]`` is a zero-copy ``memoryview``.

    ``blobs.region`` is the whole blob region, and slicing (``blobs[a:b]``) slices it, so
    loaders written for the region-style API of @wlearn/core 0.1 keep working.
    """

    region: memoryview
    #: What the bundle holds that wlearn never writes but @wlearn/core does (``spec/wlrn.md``
    #: section 4, "Read and reported"), one sentence each; empty for a usual bundle.
    unusual: tuple[str, ...]

    def __init__(self, views: Iterable[tuple[str, memoryview]] = (),
                 region: memoryview | None = None, unusual: Iterable[str] = ()) -> None:
        super().__init__(views)
        self.region = memoryview(b"") if region is None else region
        self.unusual = tuple(unusual)

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
                mode = os.fstat(handle.fileno()).st_mode
                if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):  # a terminal, /dev/zero: no end
                    raise BundleError(f"cannot read bundle {os.fspath(data)!r}: it is a "
                                      "device, not a file")
                return memoryview(handle.read())
        except OSError as exc:
            raise BundleError(f"cannot read bundle {os.fspath(data)!r}: {exc.strerror}") from None
        except ValueError:  # a NUL in the path
            raise BundleError(f"cannot read bundle {os.fspath(data)!r}: the path holds a NUL "
                              "character") from None
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

#: ``struct`` codes of the items @wlearn/core's typed arrays hold: bool, integers, floats.
#: :func:`_plain_numbers` takes them in "<" order, in native order on a little-endian
#: machine, and the one-byte codes in any order.
_NUMBER_CODES = frozenset("bBhHiIlLqQnNefd?c")


def _plain_numbers(fmt: str) -> bool:
    order, code = (fmt[0], fmt[1:]) if fmt[:1] in "@=<>!" else ("@", fmt)
    if code not in _NUMBER_CODES:
        return False
    return (code in "bB?c" or order == "<"
            or (order in "@=" and sys.byteorder == "little"))


def check_items(artifact_id: str, view: memoryview) -> None:
    """BundleError unless ``view``'s items are plain little-endian numbers (bytes, or arrays
    of bool, integer or float items): what @wlearn/core's typed arrays hold. Anything else
    (objects, strings, complex, big-endian) would be written as raw memory no reader reads."""
    if not _plain_numbers(view.format):
        raise BundleError(
            f"artifact {_json.quote(artifact_id)}: its items (buffer format {view.format!r}) "
            "are not little-endian numbers, and only bytes or arrays of bool, integer or "
            "float items are written (as they lie in memory); convert first, e.g. with "
            "numpy's .astype('<f4')")


def artifact_view(artifact_id: str, data: Any, not_bytes_like: str | None = None) -> memoryview:
    """A view of artifact ``data`` whose items :func:`check_items` accepts, nothing copied
    (its ``nbytes`` is what will be written). BundleError ``not_bytes_like`` (by default the
    codec's own message) when ``data`` has no buffer."""
    try:
        view = memoryview(data)
    except (TypeError, ValueError):  # numpy raises ValueError for datetime64 and the like
        raise BundleError(not_bytes_like or f"artifact {_json.quote(artifact_id)}: data must "
                          f"be bytes-like, got {type(data).__name__}") from None
    check_items(artifact_id, view)
    return view


def byte_view(view: memoryview) -> memoryview:
    """``view`` as contiguous unsigned bytes, in memory order; copied only when it is not
    contiguous."""
    if not view.c_contiguous:
        view = memoryview(view.tobytes())
    return view if view.format == "B" and view.ndim == 1 else view.cast("B")


def _js_falsy(value: Any) -> bool:
    """False where JavaScript's truthiness is false: undefined/null, false, 0, -0, NaN, ''."""
    if value is None or value is False or value == "":
        return True
    return (isinstance(value, (int, float)) and not isinstance(value, bool)
            and (value == 0 or value != value))


def encode_bundle(manifest: Mapping[str, Any], artifacts: Iterable[Mapping[str, Any]]) -> bytes:
    """Encode a bundle, byte for byte as ``encodeBundle`` of @wlearn/core.

    ``artifacts`` are ``{"id": str, "data": bytes-like, "mediaType"?: str}``; numpy arrays
    are written as their raw C-order bytes. Artifacts are sorted by id (UTF-16 order),
    ``bundleVersion`` is set to 1 and a ``mediaType`` JavaScript finds falsy (missing,
    ``None``, ``""``, ``False``, ``0``, NaN) is left out, as @wlearn/core does.
    """
    if not isinstance(manifest, Mapping):
        raise BundleError(f"the manifest must be a dict, got {type(manifest).__name__}")
    if isinstance(artifacts, (Mapping, str, bytes)) or not isinstance(artifacts, Iterable):
        raise BundleError(f"artifacts must be a list of dicts with 'id' and 'data', got "
                          f"{type(artifacts).__name__}")
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
        if _js_falsy(media_type):
            media_type = None  # JavaScript's ``if (art.mediaType)`` drops these
        elif not isinstance(media_type, str):
            raise BundleError(f"artifact {_json.quote(artifact_id)}: 'mediaType' must be a string")
        prepared.append((artifact_id, byte_view(artifact_view(artifact_id, artifact["data"])), media_type))
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
        if len(text) > MAX_SECTION_BYTES:  # the header cannot hold its length
            raise BundleError(f"{what} too large: {len(text):,} bytes exceeds the limit of "
                              f"{MAX_SECTION_BYTES:,}; store large data as an artifact")
    header = _HEADER.pack(BUNDLE_MAGIC, BUNDLE_VERSION, len(manifest_bytes), len(toc_bytes))
    return b"".join([header, manifest_bytes, toc_bytes, *(view for _, view, _ in prepared)])


# --- decoding -----------------------------------------------------------------------------

def _entry_name(index: int, entry: dict[str, Any]) -> str:
    artifact_id = entry.get("id")
    return (f"TOC entry {_json.quote(artifact_id)}" if isinstance(artifact_id, str)
            else f"TOC entry {index}")


def _check_placement(index: int, entry: Any, region_length: int, strict: bool) -> None:
    if not isinstance(entry, dict):
        raise BundleError(f"TOC entry {index} is not an object")
    if "id" not in entry or (strict and not isinstance(entry["id"], str)):
        raise BundleError(f"TOC entry {index}: 'id' must be a string")
    name = _entry_name(index, entry)
    for field in ("offset", "length"):
        value = entry.get(field)
        if type(value) is not int or value < 0:  # bools and floats are refused too
            got = (f"{value!r} (a float)" if isinstance(value, float)  # JSON would say 0
                   else _json.dumps(value)[:40] if field in entry else "nothing")
            raise BundleError(f"{name}: '{field}' must be a non-negative integer, got {got}")
    if entry["offset"] + entry["length"] > region_length:
        raise BundleError(f"{name} out of bounds: offset={entry['offset']}, "
                          f"length={entry['length']}, blobRegion={region_length}")


def _check_fields(index: int, entry: dict[str, Any], strict: bool) -> None:
    name = _entry_name(index, entry)
    sha = entry.get("sha256")
    if not isinstance(sha, str) or not _SHA256_RE.fullmatch(sha):
        raise BundleError(f"{name}: 'sha256' must be 64 lowercase hex digits")
    media_type = entry.get("mediaType")
    if "mediaType" in entry and (_js_falsy(media_type)  # no writer produces these
                                 or (strict and not isinstance(media_type, str))):
        raise BundleError(f"{name}: 'mediaType' must be a non-empty string when present")


def _check_overlaps(toc: list[dict[str, Any]]) -> None:
    # Zero-length artifacts occupy no bytes, so they never overlap (as in @wlearn/core).
    spans = sorted((e["offset"], e["offset"] + e["length"], i)
                   for i, e in enumerate(toc) if e["length"])
    for (_, end, first), (start, _, second) in zip(spans, spans[1:]):
        if start < end:
            raise BundleError(f"TOC entries {_show(toc[first]['id'])} and "
                              f"{_show(toc[second]['id'])} overlap")


def _show(value: Any) -> str:
    """A short JSON rendering of a value from a bundle, for messages."""
    if isinstance(value, str):
        return _json.quote(value) if len(value) <= 60 else _json.quote(value[:57]) + "..."
    if isinstance(value, (dict, list)):
        return f"{_kind(value)} of {len(value)}"
    return _json.dumps(value)


def _kind(value: Any) -> str:
    names = {dict: "an object", list: "an array", str: "a string", bool: "a boolean",
             type(None): "null"}
    return names.get(type(value), "a number")


def _artifact_views(toc: list[dict[str, Any]], region: memoryview,
                    unusual: list[str]) -> Iterable[tuple[str, memoryview]]:
    """Blob views by id. JavaScript looks artifacts up with ``toc.find(e => e.id === id)``,
    so a repeated id names its first entry, and an entry whose id is not a string is reached
    only through the region."""
    first: dict[str, int] = {}
    for index, entry in enumerate(toc):
        artifact_id = entry["id"]
        if not isinstance(artifact_id, str):
            unusual.append(f"TOC entry {index} has {_kind(artifact_id)} as id ({_show(artifact_id)}):"
                           " its bytes are only reachable as blobs.region[offset:offset + length]")
            continue
        if artifact_id in first:
            unusual.append(f"artifact id {_show(artifact_id)} is used by TOC entries "
                           f"{first[artifact_id]} and {index}: blobs[{_show(artifact_id)}] is "
                           f"entry {first[artifact_id]}, the one JavaScript's toc.find returns")
            continue
        first[artifact_id] = index
        if "mediaType" in entry and not isinstance(entry["mediaType"], str):
            unusual.append(f"{_entry_name(index, entry)} has {_kind(entry['mediaType'])} as "
                           f"mediaType ({_show(entry['mediaType'])})")
        yield artifact_id, region[entry["offset"]:entry["offset"] + entry["length"]]


def decode_bundle(data: BundleInput, *, strict: bool = False
                  ) -> tuple[dict[str, Any], list[dict[str, Any]], Blobs]:
    """Decode a bundle without checking hashes: ``(manifest, toc, blobs)``.

    ``data`` is bytes-like (bytes, bytearray, memoryview, mmap, ...), a path or a binary
    file. ``blobs`` maps each artifact id to a zero-copy ``memoryview`` of the input. Every
    structural problem raises :class:`BundleError` (see ``spec/wlrn.md`` for the list).

    Bundles @wlearn/core writes but wlearn never does (JSON sections over 16 MiB or nested
    deeper than 256 levels, repeated artifact ids, an id or mediaType that is not a string)
    are read as JavaScript reads them and described in ``blobs.unusual``; with
    ``strict=True`` they raise :class:`BundleError` instead.
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
    blob_start = HEADER_SIZE + manifest_length + toc_length
    if blob_start > size:
        raise BundleError(f"Bundle truncated: header declares {blob_start} bytes (manifest "
                          f"{manifest_length}, TOC {toc_length}) but got {size}")
    unusual: list[str] = []
    # Memory for parsing grows with these lengths, which the input's own size bounds (above).
    for what, length in (("Manifest", manifest_length), ("TOC", toc_length)):
        if length > MAX_JSON_BYTES:
            message = (f"{what} too large: {length:,} bytes exceeds the limit of "
                       f"{MAX_JSON_BYTES:,} (wlearn.bundle.MAX_JSON_BYTES)")
            if strict:
                raise BundleError(message)
            unusual.append(f"{message}; read anyway, as JavaScript does")

    manifest_end = HEADER_SIZE + manifest_length
    max_depth = _json.MAX_DEPTH if strict else None
    manifest, depth = _json.parse_json(buf[HEADER_SIZE:manifest_end], "manifest",
                                       max_depth=max_depth)
    if depth:
        unusual.append(f"the manifest is nested {depth:,} levels deep (wlearn writes at most "
                       f"{_json.MAX_DEPTH})")
    if not isinstance(manifest, dict):
        raise BundleError(f"Invalid manifest: must be a JSON object, got {_kind(manifest)}")
    toc, depth = _json.parse_json(buf[manifest_end:blob_start], "TOC", max_depth=max_depth)
    if depth:
        unusual.append(f"the TOC is nested {depth:,} levels deep (wlearn writes at most "
                       f"{_json.MAX_DEPTH})")
    if not isinstance(toc, list):
        raise BundleError(f"Invalid TOC: must be a JSON array, got {_kind(toc)}")

    region = buf[blob_start:].toreadonly()  # loaders must not write into the caller's buffer
    region_length = region.nbytes
    ids: set[str] = set()
    for index, entry in enumerate(toc):
        _check_placement(index, entry, region_length, strict)
        if strict:
            if entry["id"] in ids:
                raise BundleError(f"Duplicate artifact id {_json.quote(entry['id'])} in the TOC")
            ids.add(entry["id"])
    _check_overlaps(toc)
    for index, entry in enumerate(toc):
        _check_fields(index, entry, strict)
    blobs = Blobs(_artifact_views(toc, region, unusual), region)
    blobs.unusual = tuple(unusual)
    return manifest, toc, blobs


def validate_bundle(data: BundleInput, *, strict: bool = False
                    ) -> tuple[dict[str, Any], list[dict[str, Any]], Blobs]:
    """:func:`decode_bundle`, then check every artifact's SHA-256; same result."""
    manifest, toc, blobs = decode_bundle(data, strict=strict)
    for entry in toc:
        start = entry["offset"]
        actual = hashlib.sha256(blobs.region[start:start + entry["length"]]).hexdigest()
        if actual != entry["sha256"]:
            raise BundleError(f"SHA-256 mismatch for {_show(entry['id'])}: "
                              f"expected {entry['sha256']}, got {actual}")
    return manifest, toc, blobs
