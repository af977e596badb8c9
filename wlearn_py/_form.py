"""The rules of PyPI wlearn 0.3's manifest form (``spec/wlrn.md``, "The 0.3 manifest form"):
its limits, typeIds, portable numbers, ``requires``, ``artifacts`` declarations and the strict
form. Private: :mod:`wlearn.bundle` applies them."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

from wlrn import _json
from wlrn.bundle import BUNDLE_VERSION

from .errors import BundleError

#: The bounds of PyPI's wlearn 0.3 (``DEFAULT_BUNDLE_LIMITS``); ``limits=`` overrides any.
DEFAULT_BUNDLE_LIMITS = {
    "max_bundle_bytes": 1024 * 1024 * 1024,
    "max_manifest_bytes": 16 * 1024 * 1024,
    "max_toc_bytes": 16 * 1024 * 1024,
    "max_artifacts": 10000,
    "max_artifact_bytes": 1024 * 1024 * 1024,
    "max_nesting_depth": 32,
    "max_decoded_bytes": 4 * 1024 * 1024 * 1024,
}
DEFAULT_MEDIA_TYPE = "application/octet-stream"
NESTED_BUNDLE_MEDIA_TYPE = "application/x-wlearn-bundle"

_TYPE_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*@[0-9]+")
_MAX_SAFE_INTEGER = 2**53 - 1
_DECLARATION_KEYS = ("id", "length", "sha256", "mediaType")
_TOC_KEYS = frozenset(("id", "offset", "length", "sha256", "mediaType"))



def _limits(limits: Mapping[str, int] | None) -> dict[str, int]:
    resolved = dict(DEFAULT_BUNDLE_LIMITS)
    if limits is not None:
        if not isinstance(limits, Mapping):
            raise BundleError("limits must be a dict")
        resolved.update((k, limits[k]) for k in DEFAULT_BUNDLE_LIMITS if k in limits)
    for name, value in resolved.items():
        if type(value) is not int or value < 0:
            raise BundleError(f"Invalid bundle limit {name}: {value!r}")
    return resolved


def _check_type_id(type_id: Any, field: str = "manifest.typeId") -> None:
    if not isinstance(type_id, str) or _TYPE_ID_RE.fullmatch(type_id) is None:
        raise BundleError(f'{field} must be a versioned typeId such as "wlearn.model@1", '
                          f"got {_json.dumps(type_id)[:80] if type_id is not None else 'none'}")


def _check_portable(value: Any, path: str, depth: int = 0) -> None:
    """0.3 writes only JSON's own values (no tuples), finite numbers and integers JavaScript
    holds exactly; so do we, rather than let the JS encoder turn NaN into null."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return
    if isinstance(value, int):
        if abs(value) > _MAX_SAFE_INTEGER:
            raise BundleError(f"{path} contains an integer outside the portable safe range")
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise BundleError(f"{path} must contain only finite numbers")
        if value.is_integer() and abs(value) > _MAX_SAFE_INTEGER:
            raise BundleError(f"{path} contains an integer outside the portable safe range")
        return
    if not isinstance(value, (Mapping, list)):
        # As 0.3: a tuple (or any other value) would not read back as itself. 0.3's words.
        raise BundleError(f"{path} contains a value that is not representable in portable "
                          f"JSON ({type(value).__name__})")
    if depth >= _json.MAX_DEPTH:
        return  # the encoder reports the depth (and cycles) itself
    if isinstance(value, Mapping):
        for key, child in value.items():
            _check_portable(child, f"{path}.{key}", depth + 1)
    else:
        for index, child in enumerate(value):
            _check_portable(child, f"{path}[{index}]", depth + 1)



def _check_json_sizes(manifest_length: int, toc_length: int, bounds: dict[str, int]) -> None:
    for what, length, limit in (("Manifest", manifest_length, "max_manifest_bytes"),
                                ("TOC", toc_length, "max_toc_bytes")):
        if length > bounds[limit]:
            # 0.3's words first (callers may match on them), then the figures.
            raise BundleError(f"{what} exceeds maximum size {bounds[limit]} "
                              f"({length:,} bytes; limits[{limit!r}])")



def _check_requires(manifest: dict[str, Any]) -> None:
    requires = manifest["requires"]
    if not isinstance(requires, list):
        raise BundleError("manifest.requires must be a list")
    seen: set[str] = set()
    for type_id in requires:
        _check_type_id(type_id, "manifest.requires entry")
        if type_id in seen:
            raise BundleError(f"Duplicate manifest requirement {_json.quote(type_id)}")
        seen.add(type_id)


def _check_declarations(declarations: Any, toc: list[dict[str, Any]], strict: bool) -> None:
    if not isinstance(declarations, list):
        raise BundleError("manifest.artifacts must be a list")
    if len(declarations) != len(toc):
        raise BundleError(f"manifest.artifacts length does not match TOC: "
                          f"{len(declarations)} declared, {len(toc)} in the TOC")
    for declaration, entry in zip(declarations, toc):
        name = _json.dumps(entry["id"])  # ids JavaScript wrote may be any JSON value
        if not isinstance(declaration, dict):
            raise BundleError(f"manifest artifact declaration for TOC entry {name} is not an "
                              "object")
        if strict and set(declaration) != set(_DECLARATION_KEYS):
            raise BundleError("manifest artifact declaration must contain exactly: "
                              + ", ".join(sorted(_DECLARATION_KEYS)))
        for key in _DECLARATION_KEYS:
            # type-exact: JSON 1.0 and true are not the length 1
            declared, actual = declaration.get(key), entry.get(key)
            if declared != actual or type(declared) is not type(actual):
                raise BundleError(f"manifest artifact declaration does not match TOC entry "
                                  f"{name}: {key} {_json.dumps(declared)[:80]} declared, "
                                  f"{_json.dumps(actual)[:80]} in the TOC")


def _check_strict(manifest: dict[str, Any], toc: list[dict[str, Any]],
                  region_length: int) -> None:
    _check_type_id(manifest.get("typeId"))
    if manifest.get("bundleVersion") != BUNDLE_VERSION or \
            isinstance(manifest.get("bundleVersion"), bool):
        raise BundleError(f"Manifest bundleVersion must be {BUNDLE_VERSION}")
    for field in ("artifacts", "requires", "params"):
        if field not in manifest:
            raise BundleError(f"manifest.{field} is required")
    for index, entry in enumerate(toc):
        if set(entry) != _TOC_KEYS:
            raise BundleError(f"TOC entry {index} must contain exactly: "
                              + ", ".join(sorted(_TOC_KEYS)))
        if index and _json.utf16_key(toc[index - 1]["id"]) >= _json.utf16_key(entry["id"]):
            raise BundleError("TOC entries must be ordered by unique artifact id")
    covered = 0
    for entry in sorted(toc, key=lambda e: (e["offset"], e["length"])):
        if entry["offset"] > covered:
            raise BundleError(f"Unreferenced blob gap before artifact "
                              f"{_json.dumps(entry['id'])}")
        covered = max(covered, entry["offset"] + entry["length"])
    if covered != region_length:
        raise BundleError(f"Unreferenced trailing blob bytes: {region_length - covered}")

