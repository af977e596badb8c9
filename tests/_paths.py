"""Where the test data shared with the JavaScript packages lies: ``../shared/fixtures`` beside
the repository (read-only; see its README.md). One home for the path, so that test modules
can name fixture files at collection time (parametrisation, module constants); inside tests
the session fixture ``fixtures_dir`` of ``tests/conftest.py`` gives the same folder."""

from __future__ import annotations

from pathlib import Path

#: The repository's parent folder holds ``shared/``.
SHARED = Path(__file__).resolve().parents[1] / ".." / "shared"


def fixtures_dir(*parts: str) -> Path:
    """``../shared/fixtures``, or a path inside it (``fixtures_dir("onnx")``)."""
    return SHARED.joinpath("fixtures", *parts)
