"""Property tests: valid bundles round-trip; mutated bundles only ever raise wlearn errors."""

from __future__ import annotations

import json
import struct

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import wlearn
import wlrn
from wlearn import WlearnError

scalars = (st.none() | st.booleans() | st.integers(-(2**53), 2**53)
           | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=8))
values = st.recursive(scalars, lambda c: st.lists(c, max_size=3)
                      | st.dictionaries(st.text(max_size=5), c, max_size=3), max_leaves=12)
# 0.3's form requires "params", when present, to be a dict: drawn as one, never as another value.
manifests = st.dictionaries(st.text(max_size=6).filter(lambda key: key != "params"), values,
                            max_size=4).map(lambda m: {**m, "typeId": "test.prop.model@1"})
manifests = st.tuples(manifests, st.none() | st.dictionaries(st.text(max_size=5), values,
                                                             max_size=3)).map(
    lambda mp: mp[0] if mp[1] is None else {**mp[0], "params": mp[1]})
artifact_lists = st.lists(
    st.fixed_dictionaries({"id": st.text(max_size=6), "data": st.binary(max_size=64)},
                          optional={"mediaType": st.sampled_from(["", "application/json", "x/y"])}),
    max_size=5, unique_by=lambda a: a["id"])


@st.composite
def bundles(draw):
    manifest, artifacts = draw(manifests), draw(artifact_lists)
    return manifest, artifacts, wlrn.encode_bundle(manifest, artifacts)


def _plain(value):
    return value + 0.0 if isinstance(value, float) else (
        [_plain(v) for v in value] if isinstance(value, list) else
        {k: _plain(v) for k, v in value.items()} if isinstance(value, dict) else value)


@settings(deadline=None)
@given(bundles())
def test_round_trip(case):
    manifest, artifacts, data = case
    got_manifest, toc, blobs = wlearn.validate_bundle(data)
    assert got_manifest == {**_plain(manifest), "bundleVersion": 1}
    assert {k: bytes(v) for k, v in blobs.items()} == {a["id"]: a["data"] for a in artifacts}
    assert [e["id"] for e in toc] == sorted((a["id"] for a in artifacts),
                                            key=lambda s: s.encode("utf-16-be"))
    assert all(("mediaType" in e) == bool(a.get("mediaType"))
               for e in toc for a in artifacts if a["id"] == e["id"])
    # blobs are laid out in TOC order without gaps, right after the JSON sections
    assert [e["offset"] for e in toc] == [sum(x["length"] for x in toc[:i]) for i in range(len(toc))]
    assert wlrn.encode_bundle(got_manifest, [
        {"id": e["id"], "data": blobs[e["id"]], "mediaType": e.get("mediaType")} for e in toc]) == data


def _only_wlearn_errors(data: bytes) -> None:
    for fn in (wlearn.decode_bundle, wlearn.validate_bundle):
        try:
            manifest, toc, blobs = fn(data)
        except WlearnError:
            continue
        assert isinstance(manifest, dict) and isinstance(toc, list)
        for entry in toc:  # JavaScript writes repeated and non-string ids: read by position
            start = entry["offset"]
            assert len(blobs.region[start:start + entry["length"]]) == entry["length"]
        for artifact_id, view in blobs.items():
            first = next(e for e in toc if e["id"] == artifact_id and type(e["id"]) is str)
            assert view.nbytes == first["length"]


mutation_settings = settings(max_examples=400, deadline=None,
                             suppress_health_check=[HealthCheck.too_slow])


@mutation_settings
@given(bundles(), st.data())
def test_byte_flips(case, data):
    raw = bytearray(case[2])
    for _ in range(data.draw(st.integers(1, 4))):
        raw[data.draw(st.integers(0, len(raw) - 1))] = data.draw(st.integers(0, 255))
    _only_wlearn_errors(bytes(raw))


@mutation_settings
@given(bundles(), st.data())
def test_truncation_and_insertion(case, data):
    raw = case[2]
    cut = data.draw(st.integers(0, len(raw)))
    _only_wlearn_errors(raw[:cut])
    _only_wlearn_errors(raw[:cut] + data.draw(st.binary(min_size=1, max_size=16)) + raw[cut:])


@mutation_settings
@given(bundles(), st.integers(0, 2**32 - 1), st.sampled_from([4, 8, 12]))
def test_header_fields(case, value, position):
    raw = bytearray(case[2])
    raw[position:position + 4] = struct.pack("<I", value)
    _only_wlearn_errors(bytes(raw))


json_texts = st.recursive(
    st.none() | st.booleans() | st.floats() | st.integers() | st.text(max_size=5),
    lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=4), c, max_size=3),
    max_leaves=10).map(json.dumps)  # NaN/Infinity tokens included on purpose


def _splice(manifest: bytes, toc: bytes, region: bytes) -> bytes:
    return b"WLRN" + struct.pack("<III", 1, len(manifest), len(toc)) + manifest + toc + region


@mutation_settings
@given(bundles(), json_texts, st.booleans())
def test_replaced_json_sections(case, text, replace_toc):
    raw = case[2]
    m_len, t_len = struct.unpack_from("<II", raw, 8)
    manifest, toc, region = raw[16:16 + m_len], raw[16 + m_len:16 + m_len + t_len], raw[16 + m_len + t_len:]
    if replace_toc:
        toc = text.encode()
    else:
        manifest = text.encode()
    _only_wlearn_errors(_splice(manifest, toc, region))


toc_fields = st.one_of(st.none(), st.booleans(), st.integers(-5, 300), st.floats(),
                       st.text(max_size=3), st.just([]), st.just({}))


@mutation_settings
@given(bundles(), st.data())
def test_toc_field_mutations(case, data):
    raw = case[2]
    m_len, t_len = struct.unpack_from("<II", raw, 8)
    toc = json.loads(raw[16 + m_len:16 + m_len + t_len])
    if not toc:
        return
    entry = toc[data.draw(st.integers(0, len(toc) - 1))]
    key = data.draw(st.sampled_from(["id", "offset", "length", "sha256", "mediaType"]))
    if data.draw(st.booleans()):
        entry.pop(key, None)
    else:
        entry[key] = data.draw(toc_fields)
    new_toc = json.dumps(toc, allow_nan=True).encode()
    _only_wlearn_errors(_splice(raw[16:16 + m_len], new_toc, raw[16 + m_len + t_len:]))


@mutation_settings
@given(st.binary(max_size=200))
def test_random_bytes_after_a_valid_header(tail):
    _only_wlearn_errors(b"WLRN\x01\x00\x00\x00" + tail)
    _only_wlearn_errors(tail)


@settings(max_examples=200, deadline=None)
@given(bundles(), st.data())
def test_load_raises_only_wlearn_errors(case, data):
    wlearn.register("test.prop.model@1", lambda manifest, toc, blobs: (manifest, dict(blobs)))
    raw = bytearray(case[2])
    raw[data.draw(st.integers(0, len(raw) - 1))] ^= data.draw(st.integers(1, 255))
    try:
        manifest, _ = wlearn.load(bytes(raw))
    except WlearnError:
        return
    assert manifest["typeId"] == "test.prop.model@1"
