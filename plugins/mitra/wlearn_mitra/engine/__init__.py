"""The Mitra engine: how one predict runs (see :class:`MitraEngine`).

``MitraEngine`` is public: it runs a Mitra ONNX model on a support set already encoded for the
model (class indices, or targets in the model's scale) and knows nothing of labels, bundles or
estimators. The modules of this folder are private.
"""

from ._engine import MAX_CLASSES, MitraEngine, OnnxSource, softmax
from ._graphset import open_session

__all__ = ["MitraEngine", "MAX_CLASSES", "OnnxSource", "open_session", "softmax"]
