"""One way to open an onnxruntime session: CPU, quiet, a set number of threads (features, streaming, exports)."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def onnx_session(src: str | Path | bytes, threads: int = 1) -> Any:
    """A quiet CPU onnxruntime session over a model file or its bytes (``threads`` intra-op threads)."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.log_severity_level = 3
    return ort.InferenceSession(src if isinstance(src, bytes) else str(src), so, providers=["CPUExecutionProvider"])
