"""A structure-aware mutator for ``.wlrn`` bundles.

Blind byte mutation almost never gets past the SHA-256 check, so this mutator decodes the
bundle, changes its parts as a hostile writer would (JSON fields of the manifest and of JSON
artifacts, array lengths and contents, artifact ids, TOC fields, header fields) and encodes
it again with fresh hashes. Only a few mutations leave the codec's own fields inconsistent on
purpose, so most inputs reach the loaders. Independent of the codec under test: the bundle
is rebuilt byte by byte here, not with ``wlearn.encode_bundle``.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import struct
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

MAGIC = b"WLRN"
NESTED_MEDIA_TYPE = "application/x-wlearn-bundle"

#: Keys the Mitra bundle and the codec know, so inserted keys are ones the readers look at.
KEYS = [
    "typeId", "params", "metadata", "bundleVersion", "maxSupport", "seed", "nEstimators",
    "targetScaling", "task", "nFeatures", "nSupport", "nClasses", "onnxSha256", "classes",
    "labels", "version", "kind", "values", "categories", "featureNames", "feature_names",
    "columns", "codes", "unknown", "index", "name", "id", "offset", "length", "sha256",
    "mediaType", "requires", "artifacts",
]
TYPE_IDS = [
    "wlearn.mitra_onnx.classifier@1", "wlearn.mitra_onnx.regressor@1",
    "wlearn.mitra_onnx.classifier@2", "wlearn.nn.mlp.classifier@1", "x@1", "@", "",
]
ARTIFACT_IDS = ["meta", "support_x", "support_x_encoded", "support_y", "support_y_index",
                "support_y_f64", "categories", "x", ""]
INTS = [0, 1, -1, 2, 3, 7, 10, 11, 255, 256, 2**15, 2**16, 2**31 - 1, 2**31, -(2**31),
        -(2**31) - 1, 2**32, 2**53, -(2**53), 2**53 + 2, 10**18]
FLOATS = [0.5, -0.0, 1.5, 1e-310, 1e39, -1e39, 3.4028235e38, 1e300, -1e300, 2.0**-149]
STRINGS = ["", "a", "integer", "float", "string", "boolean", "category", "minmax", "none",
           "classification", "regression", "0", "-1", "1e3", "9" * 30, "x" * 64, "0" * 64,
           "\ud800", "\x00", "é", "NaN"]

F32_SPECIALS = [math.nan, math.inf, -math.inf, 0.0, -0.0, 1e-45, 3.4028235e38, -3.4028235e38,
                1.0, 1e30]
I32_SPECIALS = [0, 1, -1, 2, 9, 10, 11, 2**31 - 1, -(2**31), 255, 65536]


@dataclass
class Artifact:
    id: Any
    data: bytes
    media_type: Any = None
    extra: dict[str, Any] = field(default_factory=dict)  # TOC fields overridden raw


@dataclass
class Bundle:
    manifest: Any
    artifacts: list[Artifact]
    version: int = 1
    raw_manifest: bytes | None = None  # non-canonical JSON text, kept as is
    raw_toc: bytes | None = None
    trailer: bytes = b""  # region bytes no artifact claims
    # The 0.3 manifest form declares every artifact (id, length, sha256, mediaType): rewrite
    # the declarations to match, or the codec refuses every mutated artifact.
    sync_declarations: bool = True


# --- reading and writing ------------------------------------------------------------------

def parse(data: bytes) -> Bundle | None:
    """A bundle's parts, read leniently (no hash or bounds checks); None if not a bundle."""
    if len(data) < 16 or data[:4] != MAGIC:
        return None
    version, m_len, t_len = struct.unpack_from("<III", data, 4)
    start = 16 + m_len + t_len
    if start > len(data):
        return None
    try:
        manifest = json.loads(data[16:16 + m_len])
        toc = json.loads(data[16 + m_len:start])
    except (ValueError, RecursionError):
        return None
    if not isinstance(toc, list):
        return None
    region = data[start:]
    artifacts, used = [], 0
    for entry in toc:
        if not isinstance(entry, dict):
            continue
        offset, length = entry.get("offset"), entry.get("length")
        if type(offset) is not int or type(length) is not int or offset < 0 or length < 0:
            continue
        used = max(used, offset + length)
        artifacts.append(Artifact(entry.get("id"), region[offset:offset + length],
                                  entry.get("mediaType")))
    return Bundle(manifest, artifacts, version, trailer=region[used:] if used < len(region)
                  else b"")


def _canonical(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=True).encode("utf-8", "surrogatepass")


def _utf16(text: Any) -> bytes:
    return str(text).encode("utf-16-be", "surrogatepass")


def encode(bundle: Bundle) -> bytes:
    """The bundle's bytes with every hash, offset and length recomputed (unless overridden)."""
    order = sorted(bundle.artifacts, key=lambda a: _utf16(a.id))
    toc, offset = [], 0
    for artifact in order:
        entry: dict[str, Any] = {"id": artifact.id, "offset": offset,
                                 "length": len(artifact.data),
                                 "sha256": hashlib.sha256(artifact.data).hexdigest()}
        if artifact.media_type is not None:
            entry["mediaType"] = artifact.media_type
        entry.update(artifact.extra)
        toc.append(entry)
        offset += len(artifact.data)
    if bundle.sync_declarations and isinstance(bundle.manifest, dict) and isinstance(
            bundle.manifest.get("artifacts"), list):
        bundle.manifest["artifacts"] = [
            {key: entry.get(key) for key in ("id", "length", "sha256", "mediaType")}
            for entry in toc
        ]
    manifest = bundle.raw_manifest if bundle.raw_manifest is not None else _canonical(
        bundle.manifest)
    toc_text = bundle.raw_toc if bundle.raw_toc is not None else _canonical(toc)
    header = MAGIC + struct.pack("<III", bundle.version & 0xFFFFFFFF, len(manifest),
                                 len(toc_text))
    return b"".join([header, manifest, toc_text, *(a.data for a in order), bundle.trailer])


# --- JSON values ----------------------------------------------------------------------------

def _scalar(rng: random.Random) -> Any:
    pick = rng.randrange(7)
    if pick == 0:
        return rng.choice(INTS)
    if pick == 1:
        return rng.choice(FLOATS)
    if pick == 2:
        return rng.choice(STRINGS)
    if pick == 3:
        return rng.choice([None, True, False, [], {}])
    if pick == 4:
        return rng.choice(TYPE_IDS)
    if pick == 5:
        return rng.randint(-3, 40)
    return [rng.choice(INTS + STRINGS) for _ in range(rng.randint(1, 4))]


def _nodes(value: Any, path: tuple = ()) -> list[tuple]:
    """Every path in a JSON value, the root included."""
    out = [path]
    if isinstance(value, dict):
        for key, item in value.items():
            out += _nodes(item, path + (key,))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            out += _nodes(item, path + (index,))
    return out


def _get(value: Any, path: tuple) -> Any:
    for step in path:
        value = value[step]
    return value


def _nudge(value: Any, rng: random.Random) -> Any:
    """A value close to ``value``: off by one, another type of the same meaning, ..."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return rng.choice([value + 1, value - 1, -value, value * 2, value * 1000, float(value),
                           value + 0.5, str(value), 0])
    if isinstance(value, float):
        return rng.choice([value * 2, -value, math.floor(value), value + 1e-7, 0.0, str(value)])
    if isinstance(value, str):
        return rng.choice([value + "x", value[:-1], value.upper(), value * 2, value[::-1]])
    if isinstance(value, list):
        if value and rng.random() < 0.5:
            return value[:-1] if rng.random() < 0.5 else value + [value[-1]]
        return list(reversed(value)) if value else [rng.choice(INTS)]
    return _scalar(rng)


def mutate_json(value: Any, rng: random.Random) -> Any:
    """``value`` with one random change at a random place."""
    value = json.loads(json.dumps(value, allow_nan=True))  # a private copy
    path = rng.choice(_nodes(value))
    op = rng.randrange(8)
    if not path:
        if op == 0:
            return _scalar(rng)
        if op == 1:
            return [value]
        if op == 2 and isinstance(value, dict):
            # nesting near and beyond the parsers' depth limit
            depth = rng.choice([5, 255, 256, 257, 300])
            return {**value, rng.choice(KEYS): json.loads("[" * depth + "]" * depth)}
        if isinstance(value, dict):
            value[rng.choice(KEYS)] = _scalar(rng)
        return value
    parent, last = _get(value, path[:-1]), path[-1]
    if op <= 2:
        parent[last] = _nudge(parent[last], rng)
    elif op <= 4:
        parent[last] = _scalar(rng)
    elif op == 5:
        del parent[last]
    elif op == 6 and isinstance(parent, dict):
        parent[rng.choice(KEYS)] = parent[last]  # the same value under another known key
    else:
        target = parent[last]
        if isinstance(target, dict):
            target[rng.choice(KEYS)] = _scalar(rng)
        elif isinstance(target, list):
            target.insert(rng.randint(0, len(target)), _scalar(rng))
        else:
            parent[last] = [target, _scalar(rng)]
    return value


# --- arrays ---------------------------------------------------------------------------------

def mutate_array(data: bytes, rng: random.Random) -> bytes:
    """Array artifacts are float32 or int32: change elements, the length, or the bytes."""
    buf = bytearray(data)
    n = len(buf) // 4
    op = rng.randrange(7)
    if op == 0 and n:
        i = rng.randrange(n)
        buf[4 * i:4 * i + 4] = struct.pack("<f", rng.choice(F32_SPECIALS))
    elif op == 1 and n:
        i = rng.randrange(n)
        buf[4 * i:4 * i + 4] = struct.pack("<i", rng.choice(I32_SPECIALS))
    elif op == 2:  # whole elements more or fewer
        k = rng.choice([1, 1, 2, 4, 16])
        if rng.random() < 0.5 and n >= k:
            del buf[len(buf) - 4 * k:]
        else:
            buf += buf[:4 * k] if len(buf) >= 4 * k else bytes(4 * k)
    elif op == 3:  # a length that is not a multiple of 4
        if buf and rng.random() < 0.5:
            del buf[-1]
        else:
            buf.append(rng.randrange(256))
    elif op == 4 and buf:
        buf[rng.randrange(len(buf))] = rng.randrange(256)
    elif op == 5 and n:
        value = struct.pack("<f", rng.choice(F32_SPECIALS))
        buf[:] = value * n  # every element the same (constant columns, all NaN, ...)
    else:
        buf = bytearray()
    return bytes(buf)


def _is_json(data: bytes) -> bool:
    return data[:1] in (b"{", b"[")


def _rescale(bundle: Bundle, rng: random.Random) -> None:
    """Change nSupport (or nFeatures) and every array to match, so the loader goes deeper."""
    meta = next((a for a in bundle.artifacts if a.id == "meta"), None)
    if meta is None:
        return
    try:
        info = json.loads(meta.data)
    except ValueError:
        return
    if not isinstance(info, dict):
        return
    s, f = info.get("nSupport"), info.get("nFeatures")
    if type(s) is not int or type(f) is not int or s < 1 or f < 1 or s * f > 2**20:
        return
    new_s = max(1, rng.choice([1, 2, s - 1, s + 1, s * 2]))
    info["nSupport"] = new_s
    for artifact in bundle.artifacts:
        if artifact.id in ("support_x", "support_x_encoded"):
            artifact.data = (artifact.data * (new_s // s + 1))[:4 * new_s * f]
        elif artifact.id in ("support_y", "support_y_index"):
            artifact.data = (artifact.data * (new_s // s + 1))[:4 * new_s]
        elif artifact.id == "support_y_f64":
            artifact.data = (artifact.data * (new_s // s + 1))[:8 * new_s]
    meta.data = _canonical(info)


# --- the mutator ----------------------------------------------------------------------------

def _random_bytes_mutation(data: bytes, rng: random.Random, max_size: int) -> bytes:
    buf = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        op = rng.randrange(3)
        if op == 0 and buf:
            buf[rng.randrange(len(buf))] = rng.randrange(256)
        elif op == 1 and buf:
            start = rng.randrange(len(buf))
            del buf[start:start + rng.randint(1, 8)]
        else:
            at = rng.randint(0, len(buf))
            buf[at:at] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
    return bytes(buf[:max_size])


def mutate(data: bytes, rng: random.Random, seeds: Sequence[bytes], max_size: int) -> bytes:
    """One structure-aware mutation of ``data`` (a seed is picked when ``data`` is no bundle;
    a few inputs get blind byte changes instead, for the codec's own checks)."""
    bundle = parse(data)
    if bundle is None or rng.random() < 0.02:
        if rng.random() < 0.8 or not data:
            return rng.choice(seeds)[:max_size]
        bundle = None
    if bundle is None or rng.random() < 0.04:
        return _random_bytes_mutation(data, rng, max_size)
    for _ in range(rng.choice([1, 1, 1, 2, 3])):
        _mutate_bundle(bundle, rng, seeds, max_size)
    bundle.sync_declarations = rng.random() < 0.9
    out = encode(bundle)
    return out if len(out) <= max_size else rng.choice(seeds)[:max_size]


def _mutate_bundle(bundle: Bundle, rng: random.Random, seeds: Sequence[bytes],
                   max_size: int) -> None:
    op = rng.random()
    arts = bundle.artifacts
    nested = [a for a in arts if a.data[:4] == MAGIC]
    json_arts = [a for a in arts if _is_json(a.data)]
    array_arts = [a for a in arts if not _is_json(a.data) and a not in nested]
    if rng.random() < 0.08:  # nested bundles: mutate one inside, or nest another seed
        if nested and rng.random() < 0.7:
            inner = rng.choice(nested)
            inner.data = mutate(inner.data, rng, seeds, max_size)
        else:
            child = Artifact(rng.choice(["child", "model", "meta", "a" * 3]), rng.choice(seeds),
                             rng.choice([NESTED_MEDIA_TYPE] * 4 + [None]))
            arts.append(child)
            other = parse(child.data)
            requires = bundle.manifest.get("requires") if isinstance(bundle.manifest, dict) \
                else None
            if other is not None and isinstance(requires, list) and isinstance(
                    other.manifest, dict) and rng.random() < 0.8:
                requires.append(other.manifest.get("typeId"))
        return
    if op < 0.30 and json_arts:
        artifact = rng.choice(json_arts)
        try:
            artifact.data = _canonical(mutate_json(json.loads(artifact.data), rng))
        except (ValueError, RecursionError):
            artifact.data = _random_bytes_mutation(artifact.data, rng, 1 << 16)
    elif op < 0.45:
        bundle.manifest = mutate_json(bundle.manifest, rng)
    elif op < 0.65 and array_arts:
        artifact = rng.choice(array_arts)
        artifact.data = mutate_array(artifact.data, rng)
    elif op < 0.72:
        _rescale(bundle, rng)
    elif op < 0.80 and arts:  # ids: drop, rename, duplicate
        artifact = rng.choice(arts)
        choice = rng.randrange(4)
        if choice == 0:
            arts.remove(artifact)
        elif choice == 1:
            artifact.id = rng.choice(ARTIFACT_IDS)
        elif choice == 2:
            arts.append(Artifact(artifact.id, artifact.data, artifact.media_type))
        else:
            artifact.media_type = rng.choice(["", "application/json", 1, None, ["x"],
                                              NESTED_MEDIA_TYPE, "application/octet-stream"])
    elif op < 0.86:  # an artifact or the manifest from another seed
        other = parse(rng.choice(seeds))
        if other is not None:
            if other.artifacts and rng.random() < 0.7:
                donor = rng.choice(other.artifacts)
                mine = [a for a in arts if a.id == donor.id]
                if mine:
                    mine[0].data = donor.data
                else:
                    arts.append(donor)
            else:
                bundle.manifest = other.manifest
    elif op < 0.91 and arts:  # TOC fields the encoder would never write
        artifact = rng.choice(arts)
        key = rng.choice(["offset", "length", "sha256", "id", "mediaType", "extra"])
        artifact.extra[key] = rng.choice(
            [-1, 0, 1, len(artifact.data) + 1, 2**32, 2**53, 1.0, None, "0", "A" * 64, True])
    elif op < 0.95:  # JSON sections as other writers might spell them
        text = json.dumps(bundle.manifest, allow_nan=True, indent=rng.choice([None, 1]))
        if rng.random() < 0.3:
            text = text.replace("{", '{"typeId": 0, ', 1)  # a duplicate key, maybe
        bundle.raw_manifest = (b"\xef\xbb\xbf" if rng.random() < 0.1 else b"") + text.encode(
            "utf-8", "surrogatepass")
    elif op < 0.98:
        bundle.version = rng.choice([0, 2, 2**32 - 1, 1, 3])
    else:
        bundle.trailer += bytes(rng.randrange(256) for _ in range(rng.randint(1, 16)))
