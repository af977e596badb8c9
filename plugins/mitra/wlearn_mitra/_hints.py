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
    "progress": ("tqdm",),
    "dask": ("dask[array,dataframe]", "distributed"),
    "pretrain": ("torch", "onnx", "safetensors", "schedulefree", "scikit-learn"),
}


def install_hint(extra: str) -> str:
    """``pip install ...`` for the packages of ``extra``, e.g. ``pip install onnx (wlearn-mitra's
    int8 extra)``."""
    packages = " ".join(f"'{p}'" if "[" in p else p for p in EXTRAS[extra])
    return f"pip install {packages} (wlearn-mitra's {extra} extra)"
