"""Private: the runtimes that run ONNX graphs, one module per runtime behind one interface (_graph)."""
