"""A structure-aware mutator for ONNX model bytes (protobuf wire format).

The model is read as a tree of fields (a length-delimited field that parses as a message is
treated as one), one field is changed (a varint, a string, a length, a nested message, the
``mitra.config`` metadata JSON, a field dropped or repeated) and the tree is written back, so
the lengths of every enclosing message stay right unless a mutation breaks them on purpose.
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from wlrn_mutator import INTS, mutate_json

# A field: [number, wire type, value]; value is an int (varint), bytes (fixed or opaque),
# or a list of fields (a nested message).
Field = list


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    for _ in range(10):
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7
    raise ValueError("varint too long")


def _write_varint(value: int) -> bytes:
    value &= (1 << 64) - 1
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def parse(buf: bytes, depth: int = 0) -> list[Field]:
    """The fields of one message; raises ValueError or IndexError if it is not one."""
    fields, pos = [], 0
    while pos < len(buf):
        key, pos = _varint(buf, pos)
        number, wire = key >> 3, key & 7
        if number == 0:
            raise ValueError("field number 0")
        if wire == 0:
            value, pos = _varint(buf, pos)
        elif wire == 1 or wire == 5:
            size = 8 if wire == 1 else 4
            if pos + size > len(buf):
                raise ValueError("truncated")
            value, pos = buf[pos:pos + size], pos + size
        elif wire == 2:
            length, pos = _varint(buf, pos)
            if pos + length > len(buf):
                raise ValueError("truncated")
            value, pos = buf[pos:pos + length], pos + length
            if depth < 8 and value and _printable_ratio(value) < 0.9:
                try:
                    value = parse(value, depth + 1)
                except (ValueError, IndexError):
                    pass
        else:
            raise ValueError(f"wire type {wire}")
        fields.append([number, wire, value])
    return fields


def _printable_ratio(data: bytes) -> float:
    return sum(32 <= b < 127 for b in data[:64]) / min(len(data), 64)


def write(fields: list[Field]) -> bytes:
    out = bytearray()
    for number, wire, value in fields:
        out += _write_varint((number << 3) | wire)
        if wire == 0:
            out += _write_varint(value)
        elif wire == 2:
            body = write(value) if isinstance(value, list) else value
            out += _write_varint(len(body)) + body
        else:
            out += value
    return bytes(out)


def _all_fields(fields: list[Field], out: list | None = None) -> list[tuple[list, int]]:
    """(containing list, index) of every field in the tree."""
    out = [] if out is None else out
    for index, item in enumerate(fields):
        out.append((fields, index))
        if isinstance(item[2], list):
            _all_fields(item[2], out)
    return out


NAMES = [b"x_support", b"y_support", b"x_query", b"padding_obs_support", b"output", b"keys",
         b"location", b"weights.bin", b"../outside.bin", b"/etc/passwd",
         b"x_embedding.x_embedding.bias", b"y_embedding.y_mask.weight", b"mitra.config",
         b"layer.0.keys", b"", b"\xff\xfe"]


def _mutate_config(text: bytes, rng: random.Random) -> bytes:
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        value = {"dim": 32, "n_heads": 4}
    value = mutate_json(value, rng)
    if rng.random() < 0.3 and isinstance(value, dict):
        value[rng.choice(["dim", "n_heads"])] = rng.choice(
            INTS + [0.5, 1e300, "32", None, float("inf"), float("nan"), -32])
    return json.dumps(value, allow_nan=True).encode()


def mutate(data: bytes, rng: random.Random, seeds: Sequence[bytes], max_size: int) -> bytes:
    try:
        fields = parse(data)
    except (ValueError, IndexError):
        fields = None
    if not fields or rng.random() < 0.02:
        return rng.choice(seeds)[:max_size]
    for _ in range(rng.choice([1, 1, 2, 3])):
        _mutate_fields(fields, rng, seeds)
    out = write(fields)
    if rng.random() < 0.05:  # a raw break: truncation or a stray byte
        cut = rng.randrange(len(out) + 1)
        out = out[:cut] + (bytes([rng.randrange(256)]) if rng.random() < 0.5 else b"") + out[
            cut + (1 if rng.random() < 0.5 else 0):]
    return out if len(out) <= max_size else rng.choice(seeds)[:max_size]


def _mutate_fields(fields: list[Field], rng: random.Random, seeds: Sequence[bytes]) -> None:
    every = _all_fields(fields)
    if not every:
        return
    parent, index = rng.choice(every)
    number, wire, value = parent[index]
    op = rng.random()
    if isinstance(value, bytes) and value.startswith(b"{") and op < 0.5:
        parent[index][2] = _mutate_config(value, rng)
    elif op < 0.15:
        del parent[index]
    elif op < 0.25:
        parent.insert(index, [number, wire, value])  # a repeated field
    elif op < 0.35:
        parent[index][0] = rng.choice([1, 2, 5, 7, 8, 11, 14, number + 1, max(1, number - 1)])
    elif wire == 0:
        parent[index][2] = rng.choice(INTS + [value + 1, max(0, value - 1), 2**64 - 1, 2**63])
    elif isinstance(value, list):
        donor_bytes = rng.choice(seeds)
        try:
            donor = parse(donor_bytes)
        except (ValueError, IndexError):
            donor = []
        donors = [p[i] for p, i in _all_fields(donor) if p[i][:2] == [number, wire]]
        if donors and op < 0.6:
            parent[index][2] = rng.choice(donors)[2]
        else:
            parent[index][2] = write(value)[:rng.randrange(len(write(value)) + 1)]
    elif wire == 2:
        choice = rng.randrange(4)
        if choice == 0:
            parent[index][2] = rng.choice(NAMES)
        elif choice == 1:
            parent[index][2] = value + rng.choice(NAMES)
        elif choice == 2 and value:
            buf = bytearray(value)
            buf[rng.randrange(len(buf))] = rng.randrange(256)
            parent[index][2] = bytes(buf)
        else:
            # a run of continuation bytes: the longest varint a reader may meet
            parent[index][2] = b"\xff" * rng.choice([9, 10, 11, 64, 4096])
    else:
        parent[index][2] = bytes(rng.randrange(256) for _ in range(len(value)))
    if rng.random() < 0.1:
        parent.append([rng.choice([1, 2, 5, 7, 11, 14]), 2, rng.choice(NAMES)])

