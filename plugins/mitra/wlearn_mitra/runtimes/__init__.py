"""Private: the runtimes running ONNX graphs, one module each behind one interface (_graph)."""
