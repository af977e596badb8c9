"""How this core reads a bundle to load it: :func:`read_bundle`, the one check every load path
shares (:func:`wlearn.load`, :class:`wlearn.Bundle`, ``wlearn validate`` and plugins' own
``load`` methods), so a bundle one of them refuses, all refuse."""

from __future__ import annotations

from typing import Any

from wlrn.bundle import MAX_SECTION_BYTES, read_input
from wlrn.bundle import decode_bundle as decode_js

from .bundle import BundleInput, decode_bundle, validate_bundle

__all__ = ["read_bundle"]


def read_bundle(data: BundleInput, *, verify: bool = True, strict: bool = False
                ) -> tuple[dict[str, Any], list[dict[str, Any]], Any]:
    """``(manifest, toc, blobs)`` of any bundle @wlearn/core can write and read.

    :func:`validate_bundle` (or :func:`decode_bundle` without ``verify``) with its 0.3 checks
    (``manifest.artifacts`` declarations must match the TOC, ``requires`` be typeIds, nested
    bundles be sound), but with size bounds that grow with the input instead of 0.3's fixed
    ``limits`` (a 16 MiB manifest, 10,000 artifacts), which JavaScript does not have. What is
    unusual is listed in ``blobs.unusual``; ``strict=True`` refuses it (``spec/wlrn.md``,
    "Read and reported"). Raises :class:`wlearn.errors.BundleError`.
    """
    view = read_input(data)
    if strict:
        decode_js(view, strict=True)
    size = max(view.nbytes, 1)
    # The sections' own bound is the codec's; a length past the input's end is H5, "Bundle
    # truncated" (bounding them by the input's size would misreport a cut file as too large).
    limits = {"max_bundle_bytes": size, "max_manifest_bytes": MAX_SECTION_BYTES,
              "max_toc_bytes": MAX_SECTION_BYTES, "max_artifacts": size,
              "max_artifact_bytes": size}
    return (validate_bundle if verify else decode_bundle)(view, limits=limits)
