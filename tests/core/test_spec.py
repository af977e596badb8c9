"""The test vectors printed in spec/wlrn.md, checked against the encoder and decoder."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

import wlearn
import wlrn

SPEC = (Path(__file__).resolve().parents[2] / "spec" / "wlrn.md").read_text(encoding="utf-8")
BLOCKS = re.findall(r"```text\n(vector: .*?)```", SPEC, re.S)


def _parse(block: str) -> dict:
    fields, key = {}, None
    for line in block.splitlines():
        match = re.match(r"(\w+):\s*(.*)", line)
        if match:
            key, value = match.groups()
            fields[key] = value
        else:
            fields[key] += line.strip()
    return fields


VECTORS = {v["vector"]: v for v in map(_parse, BLOCKS)}


def test_vectors_found():
    assert set(VECTORS) == {"minimal", "two-artifacts", "json"}


@pytest.mark.parametrize("name", [n for n in VECTORS if "bundle" in VECTORS[n]])
def test_bundle_vector(name):
    vector = VECTORS[name]
    artifacts = [dict(a, data=bytes.fromhex(a["data"])) for a in json.loads(vector["artifacts"])]
    expected = bytes.fromhex(vector["bundle"])
    assert wlrn.encode_bundle(json.loads(vector["manifest"]), artifacts) == expected
    manifest, toc, blobs = wlearn.validate_bundle(expected)
    assert {k: bytes(v) for k, v in blobs.items()} == {a["id"]: a["data"] for a in artifacts}


def test_json_vector():
    vector = VECTORS["json"]
    assert wlearn.encode_json(json.loads(vector["value"])) == bytes.fromhex(vector["encoded"])
