"""The cache folder: where derived graphs are kept, and the care of its files.

Every file a cache writes is made again when it is missing or damaged (a cache is only a cache):
a damaged or unwritable one is discarded with a :class:`~wlearn_mitra.exceptions.CacheWarning`.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

from ..exceptions import CacheWarning, user_stacklevel


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/wlearn-mitra`` (``~/.cache/wlearn-mitra``): derived graphs by hash."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "wlearn-mitra"


#: What every message about a damaged or unwritable cache file says.
CACHE_NOTE = "a cache file: deleting it is always safe, it is made again when needed"


def cache_warning(message: str) -> None:
    """Warn with :class:`~wlearn_mitra.exceptions.CacheWarning` at the user's line."""
    warnings.warn(message, CacheWarning, stacklevel=user_stacklevel())


def discard(*paths: "str | os.PathLike") -> None:
    """Remove cache files (and an external ``.data`` beside one); gone already is fine, and a
    file that cannot be removed is left for the next attempt."""
    for path in paths:
        for each in (Path(path), Path(f"{path}.data")):
            try:
                each.unlink()
            except FileNotFoundError:
                pass
            except OSError:
                pass
