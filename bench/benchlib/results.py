"""Writing a benchmark's results file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def save_results(results: Any, path: str | Path) -> Path:
    """Write ``results`` as indented JSON to ``path`` (folders made as needed; values JSON
    cannot hold written as text), say where, and return the path."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=1, default=str))
    print(f"\nresults: {out}")
    return out
