"""Mitra checkpoint -> ONNX converter (needs the ``convert`` extra)."""
