"""The wlearn exception hierarchy: every failure wlearn reports is a ``WlearnError``."""

from __future__ import annotations


class WlearnError(Exception):
    """Base class of all wlearn errors. ``code`` is a stable machine-readable name."""

    default_code = "ERR_WLEARN"

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.code = code or self.default_code


class BundleError(WlearnError):
    """A bundle is malformed, truncated, inconsistent or cannot be encoded."""

    default_code = "ERR_BUNDLE"

    def __init__(self, message: str) -> None:
        super().__init__(message)


class RegistryError(WlearnError):
    """No loader for a typeId, or a plugin that failed to load."""

    default_code = "ERR_REGISTRY"

    def __init__(self, message: str) -> None:
        super().__init__(message)


class ValidationError(WlearnError, ValueError):
    """Input data or parameters are invalid. Unlike 0.3's, also a ``ValueError``: what
    scikit-learn and its callers expect of invalid parameters and data (``spec/wlrn.md``
    section 8)."""

    default_code = "ERR_VALIDATION"

    def __init__(self, message: str) -> None:
        super().__init__(message)


class NotFittedError(WlearnError):
    """A model was used before ``fit``.

    As in PyPI's wlearn 0.3, not an ``AttributeError``: a 0.3 plugin raising it from a
    property must not be silently swallowed by ``hasattr`` or ``getattr(obj, name, default)``.
    scikit-learn-style estimators raise a subclass that is also a ``ValueError`` and an
    ``AttributeError``, as scikit-learn's own ``NotFittedError`` is (wlearn-mitra's
    ``_errors.NotFittedError``); ``spec/wlrn.md`` section 8.
    """

    default_code = "ERR_NOT_FITTED"

    def __init__(self, message: str = "Model is not fitted. Call fit() first.") -> None:
        super().__init__(message)


class DisposedError(WlearnError):
    """A model was used after ``dispose``."""

    default_code = "ERR_DISPOSED"

    def __init__(self, message: str = "Model has been disposed.") -> None:
        super().__init__(message)
