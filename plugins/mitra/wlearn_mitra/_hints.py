"""What to install for an optional feature, named so that pip can get it.

wlearn-mitra is not on PyPI (it installs from this project's folder: ``pip install
./plugins/mitra``), so asking pip for ``wlearn-mitra[convert]`` by name finds nothing. A hint
names the packages of the extra instead: they install from PyPI into the environment wlearn-mitra is
already in. ``EXTRAS`` mirrors the extras of ``plugins/mitra/pyproject.toml`` (a test checks).
"""

from __future__ import annotations

#: Extra -> the PyPI packages it adds.
EXTRAS = {
    "convert": ("torch", "onnx", "safetensors"),
    "hub": ("huggingface_hub",),
    "int8": ("onnx",),
    "cache": ("onnx",),
    "openvino": ("openvino",),
    "progress": ("tqdm",),
    "dask": ("dask[array,dataframe]", "distributed"),
    "pretrain": ("torch", "onnx", "safetensors", "schedulefree", "scikit-learn"),
}


def install_hint(*extras: str) -> str:
    """``pip install ...`` for the packages of ``extras``, e.g. ``pip install onnx (wlearn-mitra's
    int8 extra)``."""
    packages = dict.fromkeys(p for extra in extras for p in EXTRAS[extra])  # ordered, unique
    names = " ".join(f"'{p}'" if "[" in p else p for p in packages)
    which = " and ".join(extras)
    return f"pip install {names} (wlearn-mitra's {which} extra{'s' if len(extras) > 1 else ''})"
