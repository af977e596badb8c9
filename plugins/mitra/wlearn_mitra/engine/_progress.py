"""Private: progress reporting of one predict (a callable, or a tqdm bar)."""

from __future__ import annotations

import sys
import warnings
from typing import Any, Callable

from wlearn.errors import ValidationError

from .._hints import install_hint
from ..exceptions import user_stacklevel


Progress = Callable[[int, int], Any]


class Reporter:
    """Calls ``progress(done, total)`` and/or drives a tqdm bar.

    ``progress`` may be None (silent), a callable, or True (a tqdm bar on stderr; without tqdm
    installed, a warning saying so, and no bar).
    """

    def __init__(
        self, progress: "Progress | bool | None", total: int, desc: str, members: int = 1
    ) -> None:
        self.total = total
        # The bar counts query rows (a row is done when every member has run it); the
        # callback counts each row once per member, as before.
        self.members = max(int(members), 1)
        self.callback: Progress | None = None
        self.bar = None
        if progress is True:
            try:
                from tqdm.auto import tqdm
            except ImportError:
                tqdm = None
                warnings.warn(
                    f"progress=True draws a tqdm bar, but tqdm is not installed: "
                    f"{install_hint('progress')}. Predicting without a progress bar.",
                    UserWarning, stacklevel=user_stacklevel(),
                )
            if tqdm is not None:
                if self.members > 1:
                    desc = f"{desc} ({self.members} members)"
                self.bar = tqdm(total=total // self.members, desc=desc, unit="row",
                                file=sys.stderr)
        elif callable(progress):
            self.callback = progress
        elif progress not in (None, False):
            raise ValidationError("progress must be None, True or a callable(done, total)")
        self.done = 0

    def advance(self, rows: int) -> None:
        self.done += rows
        if self.bar is not None:
            self.bar.update(self.done // self.members - self.bar.n)
        if self.callback is not None:
            self.callback(self.done, self.total)

    def part(self, start: int, size: int) -> "Progress | bool":
        """A callable ``(done, total)`` reporting one part of this predict (one node of a
        class hierarchy, one block of rows) as ``size`` of this reporter's units from
        ``start``; False (a silent ``progress``) when nothing listens."""
        if self.bar is None and self.callback is None:
            return False

        def report(done: int, total: int) -> None:
            self.advance(start + (size * done) // max(total, 1) - self.done)

        return report

    def finish(self) -> None:
        """Report everything done (what a part skipped included)."""
        if self.done < self.total:
            self.advance(self.total - self.done)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()

    def __enter__(self) -> "Reporter":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
