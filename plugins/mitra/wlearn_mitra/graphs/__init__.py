"""Private: the ONNX files (where a model comes from, its identity and sizes, derived graphs, the cache folder)."""
