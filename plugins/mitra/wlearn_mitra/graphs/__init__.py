"""Private: the ONNX files (a model's source, identity, sizes, derived graphs, cache folder)."""
