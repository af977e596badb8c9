"""The wlearn exception hierarchy: every failure wlearn reports is a ``WlearnError``.

The classes the codec raises come from :mod:`wlrn.errors`, so one ``except`` catches a
failure whichever layer found it; the rest are those of PyPI's ``wlearn`` 0.3 core
(``wlearn/errors.py``), with the same names, messages and codes.
"""

from __future__ import annotations

from wlrn.errors import (
    BundleError, DisposedError, NotFittedError, RegistryError, ValidationError, WlearnError,
)

__all__ = ["WlearnError", "BundleError", "RegistryError", "ValidationError", "NotFittedError",
           "DisposedError", "ResourceLimitError", "CancelledError", "BackendError"]


class ResourceLimitError(WlearnError):
    """A memory, size or time budget was exceeded."""

    default_code = "ERR_RESOURCE_LIMIT"

    def __init__(self, message: str = "Resource limit exceeded.") -> None:
        super().__init__(message)


class CancelledError(WlearnError):
    """An operation was cancelled by its caller."""

    default_code = "ERR_CANCELLED"

    def __init__(self, message: str = "Operation cancelled.") -> None:
        super().__init__(message)


class BackendError(WlearnError):
    """A native or runtime backend failed."""

    default_code = "ERR_BACKEND"

    def __init__(self, message: str = "Backend operation failed.") -> None:
        super().__init__(message)
