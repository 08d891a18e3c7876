"""The matchers behind one call (core.matchers.match.match_pair): EfficientLoFTR (PyTorch, ONNX Runtime,
OpenVINO), SIFT; the matcher's child process; the settings that decide an output."""
