"""TFLite export for Home Assistant's openWakeWord add-on (and wyoming-openwakeword).

The trained torch head is written straight to a ``.tflite`` flatbuffer by
:mod:`core.pipeline.p5_export.tflite_writer` (no converter): a single-signature file with a static
``(1, 16, 96)`` float32 input and a ``(1, 1)`` output, builtin ops only. Every file is
verified before it is kept: it is loaded with ``ai_edge_litert``'s interpreter, its shapes
and ops are checked, and its scores are compared with torch (and the ONNX model when
given) on real-looking features.
"""

from __future__ import annotations

import copy
import hashlib
import os
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from core.events import (
    PhaseFinished,
    PhaseStarted,
    Progress,
    Reporter,
    check_cancel,
    log,
    null_report,
)
from core.fsutil import atomic_path
from core.pipeline.p5_export.tflite_writer import (
    INPUT_SHAPE,
    OUTPUT_SHAPE,
    WRITER_NAME,
    WRITER_VERSION,
    TFLiteExportError,
    head_to_tflite,
)

PHASE = "tflite"
MAX_ABS_DIFF = 1e-3


def _import_interpreter() -> Any:
    try:
        from ai_edge_litert.interpreter import Interpreter, OpResolverType
    except ImportError as exc:
        raise TFLiteExportError(
            "Running or checking a .tflite model: reinstall easy-oww (ai-edge-litert is missing)."
        ) from exc
    return Interpreter, OpResolverType


# -- inspection -------------------------------------------------------------------------------------

def tflite_ops(path: str | os.PathLike[str]) -> list[str]:
    """Names of the operators a ``.tflite`` file uses (custom/flex ops as ``CUSTOM:<code>``)."""
    from ai_edge_litert import schema_py_generated as schema

    buf = Path(path).read_bytes()
    model = schema.Model.GetRootAs(buf, 0)
    names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    ops: list[str] = []
    for i in range(model.OperatorCodesLength()):
        oc = model.OperatorCodes(i)
        code = max(oc.BuiltinCode(), oc.DeprecatedBuiltinCode())
        if code == schema.BuiltinOperator.CUSTOM:
            custom = oc.CustomCode()
            ops.append(f"CUSTOM:{custom.decode() if isinstance(custom, bytes) else custom}")
        else:
            ops.append(names.get(code, f"UNKNOWN:{code}"))
    return sorted(set(ops))


class TFLiteRunner:
    """A loaded ``.tflite`` wake-word head: ``(N, 16, 96)`` features -> ``(N,)`` scores."""

    def __init__(self, path: str | os.PathLike[str], num_threads: int = 1) -> None:
        Interpreter, OpResolverType = _import_interpreter()
        self.path = Path(path)
        try:
            self.interpreter = Interpreter(
                model_path=str(self.path),
                num_threads=num_threads,
                experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES,
            )
            self.interpreter.allocate_tensors()
        except (ValueError, RuntimeError) as exc:
            raise TFLiteExportError(f"Cannot load the TFLite model {self.path}: {exc}") from exc
        inputs = self.interpreter.get_input_details()
        outputs = self.interpreter.get_output_details()
        if len(inputs) != 1 or len(outputs) != 1:
            raise TFLiteExportError(
                f"{self.path} has {len(inputs)} inputs and {len(outputs)} outputs; a wake-word head has one of each."
            )
        self.input = inputs[0]
        self.output = outputs[0]
        self.n_frames = int(self.input["shape"][1]) if len(self.input["shape"]) == 3 else 16

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(int(v) for v in self.input["shape"])

    @property
    def output_shape(self) -> tuple[int, ...]:
        return tuple(int(v) for v in self.output["shape"])

    def is_static(self) -> bool:
        sig_in = self.input.get("shape_signature", self.input["shape"])
        sig_out = self.output.get("shape_signature", self.output["shape"])
        return all(int(v) > 0 for v in list(sig_in) + list(sig_out))

    def predict_one(self, window: np.ndarray) -> float:
        """Score one ``(16, 96)`` or ``(1, 16, 96)`` feature window."""
        x = np.asarray(window, dtype=np.float32).reshape(self.input_shape)
        self.interpreter.set_tensor(self.input["index"], x)
        self.interpreter.invoke()
        return float(self.interpreter.get_tensor(self.output["index"]).reshape(-1)[0])

    def predict(self, features: np.ndarray) -> np.ndarray:
        feats = np.asarray(features, dtype=np.float32)
        return np.array([self.predict_one(f) for f in feats], dtype=np.float32)


# -- reference scores -------------------------------------------------------------------------------

def _torch_scores(model: Any, features: np.ndarray) -> np.ndarray:
    import torch

    with torch.no_grad():
        out = model(torch.from_numpy(np.ascontiguousarray(features, dtype=np.float32)))
    return out.reshape(len(features), -1)[:, 0].cpu().numpy().astype(np.float32)


def onnx_scores(onnx_path: str | os.PathLike[str], features: np.ndarray) -> np.ndarray:
    """Scores of an openWakeWord ONNX head, one window at a time (its batch dim may be static)."""
    from core.ort_session import onnx_session

    sess = onnx_session(onnx_path, threads=1)
    name = sess.get_inputs()[0].name
    out = [float(np.asarray(sess.run(None, {name: f[None].astype(np.float32)})[0]).reshape(-1)[0])
           for f in features]
    return np.array(out, dtype=np.float32)


def check_features(features: np.ndarray | None, n_random: int = 16, seed: int = 0) -> np.ndarray:
    """Features to compare scores on: the given ones plus random windows of embedding-like scale."""
    rng = np.random.default_rng(seed)
    parts = []
    if features is not None:
        f = np.asarray(features, dtype=np.float32)
        if f.ndim != 3 or f.shape[1:] != INPUT_SHAPE[1:]:
            raise TFLiteExportError(f"Check features must have shape (N, 16, 96), got {f.shape}.")
        parts.append(f)
    # openWakeWord embeddings are mostly within about +-30 with a spread of ~5-10.
    parts.append((rng.standard_normal((n_random, *INPUT_SHAPE[1:])) * 8.0).astype(np.float32))
    return np.concatenate(parts, axis=0)


# -- export -----------------------------------------------------------------------------------------

def verify_tflite(
    path: str | os.PathLike[str],
    reference: np.ndarray,
    features: np.ndarray,
    what: str = "torch",
    tol: float = MAX_ABS_DIFF,
) -> dict[str, Any]:
    """Check shapes, ops and scores of a ``.tflite`` head; raise :class:`TFLiteExportError` if any fail."""
    runner = TFLiteRunner(path)
    if runner.input_shape != INPUT_SHAPE or runner.output_shape != OUTPUT_SHAPE or not runner.is_static():
        raise TFLiteExportError(
            f"The TFLite model has input {runner.input_shape} / output {runner.output_shape} "
            f"(static: {runner.is_static()}); Home Assistant needs a static {INPUT_SHAPE} -> {OUTPUT_SHAPE}."
        )
    if runner.input["dtype"] != np.float32 or runner.output["dtype"] != np.float32:
        raise TFLiteExportError("The TFLite model must take and return float32 tensors.")
    ops = tflite_ops(path)
    bad = [op for op in ops if op.startswith(("CUSTOM", "UNKNOWN", "DELEGATE"))]
    if bad:
        raise TFLiteExportError(
            f"The TFLite model uses non-builtin ops {bad}; Home Assistant's runtime only has builtin ops."
        )
    scores = runner.predict(features)
    diff = float(np.max(np.abs(scores - reference))) if len(features) else 0.0
    if not np.isfinite(diff) or diff > tol:
        raise TFLiteExportError(
            f"The TFLite model's scores differ from {what} by up to {diff:.2e} (allowed {tol:.0e}); "
            "the file was not kept. Please report this with your config."
        )
    return {"ops": ops, "max_abs_diff": diff, "compared_on": int(len(features)),
            "input_shape": list(runner.input_shape), "output_shape": list(runner.output_shape)}


def export_tflite(
    model: Any,
    path: str | os.PathLike[str],
    report: Reporter | None = None,
    cancel: threading.Event | None = None,
    features: np.ndarray | None = None,
    onnx_path: str | os.PathLike[str] | None = None,
) -> dict[str, Any]:
    """Write a torch wake-word head ``(B,16,96)->(B,1)`` as a verified ``.tflite`` at ``path``.

    Only easy-oww's ``DNNHead`` and ``TemporalHead`` can be written. The file is written
    atomically and only kept if it loads with static shapes, builtin ops only, and scores
    within 1e-3 of torch (and of ``onnx_path`` if given) on ``features`` plus random windows.

    Returns a JSON-able summary: path, seconds, max diffs, ops, sha256.
    """
    report = report or null_report
    target = Path(path)
    check_cancel(cancel)
    _import_interpreter()

    net = copy.deepcopy(model).to("cpu").float().eval()
    feats = check_features(features)
    ref_torch = _torch_scores(net, feats)

    t0 = time.perf_counter()
    report(Progress(phase=PHASE, done=0, total=2, message="Writing the TFLite model"))
    try:
        try:
            data = head_to_tflite(net)
        except TFLiteExportError:
            raise
        except Exception as exc:  # a bug or an unusual module: show one clear message
            raise TFLiteExportError(
                f"Could not write this model as TFLite: {type(exc).__name__}: {exc}. Please report this."
            ) from exc
        convert_s = time.perf_counter() - t0
        with atomic_path(target) as tmp:
            tmp.write_bytes(data)
            check_cancel(cancel)
            report(Progress(phase=PHASE, done=1, total=2, message="Checking the TFLite model"))
            info = verify_tflite(tmp, ref_torch, feats, what="torch")
            if onnx_path is not None and Path(onnx_path).is_file():
                ref_onnx = onnx_scores(onnx_path, feats)
                info_onnx = verify_tflite(tmp, ref_onnx, feats, what=f"the ONNX model {Path(onnx_path).name}")
                info["max_abs_diff_onnx"] = info_onnx["max_abs_diff"]
            info["sha256"] = hashlib.sha256(data).hexdigest()
            info["size_bytes"] = len(data)
    except TFLiteExportError:
        # A stale file from an older model would not match the current one: remove it too.
        target.unlink(missing_ok=True)
        raise
    report(Progress(phase=PHASE, done=2, total=2, message=f"Wrote {target.name}"))
    info.update(path=str(target), convert_seconds=round(convert_s, 3),
                seconds=round(time.perf_counter() - t0, 3), converter=_converter_version())
    return info


def _converter_version() -> str:
    """What wrote the file (kept in the export summary and the model card)."""
    return f"{WRITER_NAME} {WRITER_VERSION}"


# -- the project-level step -------------------------------------------------------------------------

def _sample_project_features(project: Any, cfg: Any, per_file: int = 16, seed: int = 0) -> np.ndarray | None:
    """A few real feature windows from the project's features/*.npy (memory-mapped, never read whole)."""
    folder = project.features_dir(cfg)
    files = sorted(folder.glob("*.npy")) if folder.is_dir() else []
    rng = np.random.default_rng(seed)
    parts = []
    for f in files[:8]:
        try:
            arr = np.load(f, mmap_mode="r", allow_pickle=False)
        except (OSError, ValueError):
            continue
        if arr.ndim != 3 or arr.shape[1:] != INPUT_SHAPE[1:] or len(arr) == 0:
            continue
        idx = np.sort(rng.choice(len(arr), size=min(per_file, len(arr)), replace=False))
        parts.append(np.asarray(arr[idx], dtype=np.float32))
    return np.concatenate(parts) if parts else None


def load_trained_model(project: Any) -> Any:
    """The trained head from ``checkpoints/model_final.pt`` (via :func:`core.pipeline.p4_training.loop.load_trained_head`)."""
    from core.pipeline.p4_training.phase import load_trained_head

    model, _ = load_trained_head(project, "final")
    return model.eval()


def run_tflite_export(
    project: Any,
    cfg: Any,
    report: Reporter | None = None,
    cancel: threading.Event | None = None,
    **_: Any,
) -> dict[str, Any]:
    """Write ``models/<project>.tflite`` from the trained model; return a JSON-able summary."""
    report = report or null_report
    t0 = time.perf_counter()
    report(PhaseStarted(phase=PHASE, total=2, description="Exporting TFLite for Home Assistant"))
    try:
        model = load_trained_model(project)
        onnx_path = project.model_path(cfg, ".onnx")
        out = project.model_path(cfg, ".tflite")
        info = export_tflite(
            model, out, report, cancel,
            features=_sample_project_features(project, cfg),
            onnx_path=onnx_path if onnx_path.is_file() else None,
        )
    except BaseException as exc:
        report(PhaseFinished(phase=PHASE, ok=False, message=str(exc), seconds=time.perf_counter() - t0))
        raise
    msg = (f"TFLite model {out.name}: max score difference {info['max_abs_diff']:.1e} vs torch"
           + (f", {info['max_abs_diff_onnx']:.1e} vs ONNX" if "max_abs_diff_onnx" in info else ""))
    log(report, msg, PHASE)
    report(PhaseFinished(phase=PHASE, ok=True, message=msg, seconds=time.perf_counter() - t0))
    return {"tflite": info}
