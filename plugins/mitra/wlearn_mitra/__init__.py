"""Mitra on ONNX Runtime for wlearn."""
