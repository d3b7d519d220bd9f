"""Phase 5, export: the trained head as ONNX (openWakeWord) and TFLite (Home Assistant)."""
