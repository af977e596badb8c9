"""An object view of a decoded bundle: artifacts by id, as bytes, JSON or numpy arrays, all
without copying. The functional API (``decode_bundle`` and friends) stays the reference."""

from __future__ import annotations

from dataclasses import dataclass
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from wlrn import _json

from .bundle import BundleInput
from .errors import BundleError, ValidationError
from .reading import read_bundle  # re-exported: wlearn.view.read_bundle is its older home
from .registry import load_parts

if TYPE_CHECKING:
    import numpy as np

__all__ = ["Artifact", "Bundle", "read_bundle"]


@dataclass(frozen=True)
class Artifact:
    """One artifact: its TOC fields and a read-only, zero-copy view of its bytes."""

    id: str
    data: memoryview
    sha256: str
    media_type: str | None = None

    def __len__(self) -> int:
        return self.data.nbytes

    def __bytes__(self) -> bytes:
        return self.data.tobytes()

    def json(self) -> Any:
        """The artifact parsed as strict JSON (see ``spec/wlrn.md``)."""
        return _json.parse_strict(self.data, f"artifact {_json.quote(self.id)}")

    def array(self, dtype: Any, shape: tuple[int, ...] | int | None = None) -> np.ndarray:
        """The bytes as a read-only numpy array sharing memory with the bundle.

        Native-order dtypes are read little-endian, the byte order of .wlrn data written by
        JavaScript typed arrays; an explicit ``>`` is honoured. ``shape`` may use one -1.
        """
        import numpy as np

        try:
            kind = np.dtype(dtype)
        except TypeError as exc:
            raise ValidationError(f"invalid dtype {dtype!r}: {exc}") from None
        if kind.byteorder == "=":
            kind = kind.newbyteorder("<")
        if kind.itemsize == 0 or kind.hasobject:
            raise ValidationError(f"dtype {kind} cannot view raw bytes")
        if self.data.nbytes % kind.itemsize:
            raise BundleError(f"artifact {_json.quote(self.id)} has {self.data.nbytes} bytes, "
                              f"not a multiple of {kind.itemsize} ({kind})")
        flat = np.frombuffer(self.data, dtype=kind)
        if shape is None:
            return flat
        try:
            return flat.reshape(shape)
        except ValueError:
            raise BundleError(f"artifact {_json.quote(self.id)} holds {flat.size} {kind} "
                              f"values, which do not fill shape {shape}") from None


class Bundle:
    """A decoded bundle. ``Bundle(data)`` takes what :func:`wlearn.load` takes and checks every
    SHA-256 unless ``verify=False``.

    >>> bundle = Bundle("model.wlrn")                          # doctest: +SKIP
    >>> bundle.type_id, list(bundle.artifacts)                 # doctest: +SKIP
    >>> bundle.array("support_x", "<f4", (-1, bundle.manifest["metadata"]["nFeatures"]))
    """

    def __init__(self, data: BundleInput, *, verify: bool = True, strict: bool = False) -> None:
        self.manifest, self.toc, self.blobs = read_bundle(data, verify=verify, strict=strict)
        self.artifacts: dict[str, Artifact] = {}
        for e in self.toc:
            artifact_id = e["id"]
            if isinstance(artifact_id, str) and artifact_id not in self.artifacts:
                media_type = e.get("mediaType")
                self.artifacts[artifact_id] = Artifact(
                    artifact_id, self.blobs[artifact_id], e["sha256"],
                    media_type if isinstance(media_type, str) else None)

    @property
    def unusual(self) -> tuple[str, ...]:
        """What the bundle holds that wlearn never writes but @wlearn/core does (see
        ``decode_bundle``); empty for a usual bundle."""
        return self.blobs.unusual

    @property
    def type_id(self) -> str | None:
        type_id = self.manifest.get("typeId")
        return type_id if isinstance(type_id, str) else None

    def __getitem__(self, artifact_id: str) -> Artifact:
        if not isinstance(artifact_id, str):
            raise BundleError(f"artifact ids are strings, got {artifact_id!r}; the bundle has "
                              f"{', '.join(map(_json.quote, self.artifacts)) or 'none'}")
        try:
            return self.artifacts[artifact_id]
        except KeyError:
            raise BundleError(f"bundle has no artifact {_json.quote(artifact_id)}; it has "
                              f"{', '.join(map(_json.quote, self.artifacts)) or 'none'}") from None

    def __contains__(self, artifact_id: object) -> bool:
        return artifact_id in self.artifacts

    def __iter__(self) -> Iterator[str]:
        """The artifact ids, in TOC order (the first of repeated ids)."""
        return iter(self.artifacts)

    def __len__(self) -> int:
        return len(self.artifacts)

    def __bool__(self) -> bool:  # a bundle is something even with no artifacts
        return True

    def array(self, artifact_id: str, dtype: Any,
              shape: tuple[int, ...] | int | None = None) -> np.ndarray:
        """``bundle[artifact_id].array(dtype, shape)``."""
        return self[artifact_id].array(dtype, shape)

    def json(self, artifact_id: str) -> Any:
        """``bundle[artifact_id].json()``."""
        return self[artifact_id].json()

    def load(self, *, loader_options: Mapping[str, Any] | None = None) -> Any:
        """Build the model with the loader of this bundle's typeId, as :func:`wlearn.load`
        does (``loader_options`` too), without reading the bytes again."""
        return load_parts(self.manifest, self.toc, self.blobs, loader_options=loader_options)

    def __repr__(self) -> str:
        size = sum(len(a) for a in self.artifacts.values())
        return (f"<Bundle {self.type_id or '(no typeId)'}: {len(self.artifacts)} artifacts, "
                f"{size:,} bytes>")
