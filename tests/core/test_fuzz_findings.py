"""Bundles the fuzz campaign (tests/fuzz) found crashing a reader, minimised by hand."""

from __future__ import annotations

import pytest
import wlrn

import wlearn
from wlearn import BundleError
from wlearn.bundle import NESTED_BUNDLE_MEDIA_TYPE


def _outer(requires_of_nested, requires_of_outer=()):
    # A legacy nested manifest (no "artifacts"), whose free-form "requires" the codec keeps.
    nested = wlrn.encode_bundle({"typeId": "test.inner@1", "requires": requires_of_nested}, [])
    return wlrn.encode_bundle(
        {"typeId": "test.outer@1", "requires": list(requires_of_outer)},
        [{"id": "child", "data": nested, "mediaType": NESTED_BUNDLE_MEDIA_TYPE}])


@pytest.mark.parametrize("requires", [[1], [1, "x.y@1"], 5, {"a": 1}, None])
def test_nested_legacy_requires_that_are_not_strings(requires):
    # Used to raise TypeError (quoting or sorting an int, iterating an int) out of
    # validate_bundle. A legacy manifest's requires names no loaders: the outer bundle must
    # list the nested typeId and nothing else.
    data = _outer(requires)
    with pytest.raises(BundleError, match='missing nested loader "test.inner@1"'):
        wlearn.validate_bundle(data)
    manifest, _, _ = wlearn.validate_bundle(_outer(requires, ["test.inner@1"]))
    assert manifest["typeId"] == "test.outer@1"


def _declared(toc_id, declared_id):
    import hashlib
    import json

    from ._build import raw_bundle

    data = b"abcd"
    fields = {"length": 4, "sha256": hashlib.sha256(data).hexdigest(),
              "mediaType": "application/octet-stream"}
    manifest = {"typeId": "t.x.y@1", "bundleVersion": 1, "requires": [], "params": {},
                "artifacts": [{"id": declared_id, **fields}]}
    toc = [{"id": toc_id, "offset": 0, **fields}]
    return raw_bundle(json.dumps(manifest), json.dumps(toc), data)


@pytest.mark.parametrize("toc_id", [5, True, None, ["a"]])
def test_ids_that_are_not_strings_in_the_03_form(toc_id):
    # The codec reads them as @wlearn/core does; naming one in an error used to raise
    # TypeError out of decode_bundle.
    with pytest.raises(BundleError, match="declaration does not match TOC entry"):
        wlearn.decode_bundle(_declared(toc_id, "a"))
    manifest, toc, _ = wlearn.decode_bundle(_declared(toc_id, toc_id))
    assert toc[0]["id"] == toc_id
    # the 0.3 form itself has string ids only
    with pytest.raises(BundleError, match="id"):
        wlearn.validate_bundle(_declared(toc_id, toc_id), allow_legacy_manifest=False)
