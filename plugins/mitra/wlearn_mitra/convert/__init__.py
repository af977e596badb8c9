"""Mitra checkpoint -> ONNX converter (needs the ``convert`` extra: torch, onnx, safetensors).

>>> from wlearn_mitra.convert import convert, verify
>>> convert("path/to/mitra-classifier", "mitra-classifier.onnx")  # doctest: +SKIP
>>> verify("path/to/mitra-classifier", "mitra-classifier.onnx").ok  # doctest: +SKIP

Importing this package needs no torch; the names below load their module on first use.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "Tab2D": "tab2d",
    "EncodedSupport": "tab2d",
    # the former name of EncodedSupport (the engine's SupportCache is another class)
    "SupportCache": ("tab2d", "EncodedSupport"),
    "convert": "export",
    "export_onnx": "export",
    "export_split": "export",
    "split_paths": "export",  # re-exported from .._layout
    "verify": "verify",
    "VerifyReport": "verify",
    "load_checkpoint": "checkpoint",
    "load_model": "checkpoint",
    "build_model": "checkpoint",
    "save_checkpoint": "checkpoint",
    "random_checkpoint": "checkpoint",
    "read_onnx_weights": "onnx_weights",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module, attribute = module if isinstance(module, tuple) else (module, name)
    try:
        value = getattr(importlib.import_module(f".{module}", __name__), attribute)
    except ImportError as exc:
        from .._hints import install_hint

        hint = f"the converter needs: {install_hint('convert')}"
        raise ImportError(f"{exc}; {hint}") from exc
    globals()[name] = value
    return value
