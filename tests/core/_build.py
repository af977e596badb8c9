"""Helpers that assemble bundles byte by byte, independently of the encoder."""

from __future__ import annotations

import hashlib
import json
import struct


def raw_bundle(manifest: bytes | str, toc: bytes | str, region: bytes = b"", *,
               magic: bytes = b"WLRN", version: int = 1, manifest_length: int | None = None,
               toc_length: int | None = None) -> bytes:
    manifest = manifest.encode() if isinstance(manifest, str) else manifest
    toc = toc.encode() if isinstance(toc, str) else toc
    header = magic + struct.pack(
        "<III", version, len(manifest) if manifest_length is None else manifest_length,
        len(toc) if toc_length is None else toc_length)
    return header + manifest + toc + region


def entry(artifact_id: str, offset: int, data: bytes, **extra) -> dict:
    return {"id": artifact_id, "offset": offset, "length": len(data),
            "sha256": hashlib.sha256(data).hexdigest(), **extra}


def bundle_with(entries: list, region: bytes, manifest: str = '{"typeId":"t.x.y@1"}') -> bytes:
    return raw_bundle(manifest, json.dumps(entries, separators=(",", ":")), region)


GOOD_REGION = b"abcdefgh"
GOOD_ENTRIES = [entry("a", 0, b"abcd"), entry("b", 4, b"efgh")]
GOOD = bundle_with(GOOD_ENTRIES, GOOD_REGION)
