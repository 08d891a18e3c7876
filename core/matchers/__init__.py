"""The matchers behind one call (core.matchers.match.match_pair): EfficientLoFTR (PyTorch, ONNX Runtime, OpenVINO),
and detector-based ones behind one protocol (core.matchers.detector): XFeat and LighterGlue, DISK / ALIKED with
LightGlue, SIFT as COLMAP does it; which can run here (registry); the matcher's child process; the settings that decide
an output."""
