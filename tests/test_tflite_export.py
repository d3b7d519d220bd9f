"""TFLite export: both head kinds are written (core.pipeline.p5_export.tflite_writer, no converter) as a static
(1,16,96)->(1,1), builtin-ops-only .tflite whose scores match torch and ONNX, and load in Home
Assistant's runtime (pyopen_wakeword)."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

pytest.importorskip("ai_edge_litert", reason="ai-edge-litert is not installed")

from core.errors import EasyOWWError  # noqa: E402
from core.pipeline.p4_training.heads import DNNHead, TemporalHead  # noqa: E402
from core.pipeline.p5_export.tflite_export import (  # noqa: E402
    TFLiteExportError,
    TFLiteRunner,
    export_tflite,
    onnx_scores,
    tflite_ops,
    verify_tflite,
)
from core.pipeline.p5_export.tflite_writer import head_to_tflite  # noqa: E402

torch.set_num_threads(1)

LN_OPS = {"MEAN", "SUB", "MUL", "ADD", "RSQRT"}
DNN_OPS = {"RESHAPE", "FULLY_CONNECTED", "LOGISTIC"} | LN_OPS
TEMPORAL_OPS = DNN_OPS | {"CONV_2D", "TRANSPOSE", "BATCH_MATMUL", "SOFTMAX"}
HEADS = {
    **{f"dnn{size}x{n}": (DNNHead, size, n) for size in (32, 128) for n in (0, 1, 2)},
    **{f"temporal{size}x{n}": (TemporalHead, size, n) for size in (32, 128) for n in (1, 2)},
}


def _head(kind: type[nn.Module], size: int, n_blocks: int, seed: int = 0, gain: float = 8.0) -> nn.Module:
    """A random head with non-identity LayerNorms and a last layer scaled so scores spread over (0, 1)."""
    torch.manual_seed(seed)
    model = kind(size, n_blocks, 0.3)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.LayerNorm):
                m.weight.normal_(1.0, 0.3)
                m.bias.normal_(0.0, 0.3)
        (model.net[-1] if isinstance(model, DNNHead) else model.out).weight.mul_(gain)
    return model.eval()


def _real_looking(n: int = 24, seed: int = 1) -> np.ndarray:
    """Windows shaped like openWakeWord embeddings: smooth over time, per-dim offsets, spread ~5-10."""
    rng = np.random.default_rng(seed)
    base = rng.normal(0, 6, (n, 1, 96))
    drift = np.cumsum(rng.normal(0, 1.5, (n, 16, 96)), axis=1)
    return (base + drift).astype(np.float32)


def _saturating(seed: int = 2) -> np.ndarray:
    """Extreme windows: large spreads and constants (probabilities pinned near 0 or 1)."""
    rng = np.random.default_rng(seed)
    big = (rng.standard_normal((6, 16, 96)) * 80).astype(np.float32)
    const = np.stack([np.full((16, 96), v, np.float32) for v in (-30.0, 0.0, 30.0, 1e3)])
    return np.concatenate([big, const])


def _onnx(model: nn.Module, path: Path) -> Path:
    from core.pipeline.p5_export.onnx_export import (
        export_onnx,  # the product's exporter (torch's legacy path: no onnxscript)
    )

    return export_onnx(model.eval(), path)


def _check_file(path: Path, model: nn.Module, feats: np.ndarray, tol: float = 1e-4) -> float:
    runner = TFLiteRunner(path)
    assert runner.input_shape == (1, 16, 96) and runner.output_shape == (1, 1) and runner.is_static()
    assert runner.input["dtype"] == np.float32 and runner.output["dtype"] == np.float32
    ops = tflite_ops(path)
    assert ops and not [o for o in ops if o.startswith(("CUSTOM", "UNKNOWN")) or "FLEX" in o.upper()], ops
    with torch.no_grad():
        ref = model.eval()(torch.from_numpy(feats)).numpy()[:, 0]
    diff = float(np.max(np.abs(runner.predict(feats) - ref)))
    assert diff <= tol, diff
    return diff


def _check_flatbuffer(data: bytes) -> None:
    """Version-1 builtin op codes (both code fields set), 16-byte-aligned constants, one signature."""
    from ai_edge_litert import schema_py_generated as schema

    model = schema.Model.GetRootAs(data, 0)
    assert schema.Model.ModelBufferHasIdentifier(data, 0) and model.SubgraphsLength() == 1
    for i in range(model.OperatorCodesLength()):
        oc = model.OperatorCodes(i)
        assert oc.Version() == 1 and oc.DeprecatedBuiltinCode() == min(oc.BuiltinCode(), 127)
    base = np.frombuffer(data, np.uint8).__array_interface__["data"][0]
    for i in range(1, model.BuffersLength()):
        arr = model.Buffers(i).DataAsNumpy()
        assert (arr.__array_interface__["data"][0] - base) % 16 == 0
    assert model.SignatureDefsLength() == 1
    assert model.SignatureDefs(0).SignatureKey() == b"serving_default"


@pytest.mark.parametrize("spec", list(HEADS.values()), ids=list(HEADS))
def test_every_head_matches_torch(tmp_path: Path, spec) -> None:
    kind, size, n_blocks = spec
    model = _head(kind, size, n_blocks)
    feats = _real_looking()
    rng = np.random.default_rng(3)
    random = (rng.standard_normal((16, 16, 96)) * 8).astype(np.float32)
    info = export_tflite(model, tmp_path / "head.tflite", features=np.concatenate([feats, _saturating()]))
    path = Path(info["path"])
    assert path.is_file() and not list(tmp_path.glob(".*.tmp*"))
    assert set(info["ops"]) == (DNN_OPS if kind is DNNHead else TEMPORAL_OPS)
    _check_flatbuffer(path.read_bytes())
    with torch.no_grad():
        ref = model(torch.from_numpy(feats)).numpy()[:, 0]
    assert np.ptp(ref) > 0.2, "scores should be spread so the comparison means something"
    diffs = [_check_file(path, model, f) for f in (feats, random, _saturating())]
    print(f"\n{kind.__name__}({size}, {n_blocks}): {info['size_bytes']} bytes, write {info['convert_seconds']:.3f}s, "
          f"max diff real {diffs[0]:.1e} random {diffs[1]:.1e} saturating {diffs[2]:.1e}")
    assert info["converter"].startswith("easy-oww tflite writer")


def test_dropout_is_ignored_and_training_mode_is_not_copied(tmp_path: Path) -> None:
    model = _head(TemporalHead, 32, 1)
    model.train()  # the export works on an eval copy; the caller's module keeps its mode
    path = Path(export_tflite(model, tmp_path / "t.tflite")["path"])
    assert model.training
    _check_file(path, model.eval(), _real_looking(8))


@pytest.mark.parametrize("kind", ["dnn", "temporal"])
def test_export_matches_torch_and_onnx(tmp_path: Path, kind: str) -> None:
    from core.pipeline.p4_training.heads import build_head
    from core.project.config import TrainingConfig

    cfg = TrainingConfig.quick("tfl", "hey jarvis")
    cfg.model_type = kind
    cfg.layer_size = 32
    torch.manual_seed(0)
    model = build_head(cfg)
    feats = _real_looking()
    onnx_path = _onnx(model, tmp_path / "head.onnx")
    t0 = time.perf_counter()
    info = export_tflite(model, tmp_path / "head.tflite", features=feats, onnx_path=onnx_path)
    print(f"\nbuild_head({kind}): write {info['convert_seconds']:.3f}s total {time.perf_counter() - t0:.2f}s "
          f"max diff torch {info['max_abs_diff']:.2e} onnx {info['max_abs_diff_onnx']:.2e} ops {info['ops']}")
    assert info["max_abs_diff"] <= 1e-4 and info["max_abs_diff_onnx"] <= 1e-4
    out = Path(info["path"])
    _check_file(out, model, feats)
    assert np.max(np.abs(TFLiteRunner(out).predict(feats) - onnx_scores(onnx_path, feats))) <= 1e-4


@pytest.mark.parametrize("kind", [DNNHead, TemporalHead], ids=["dnn", "temporal"])
def test_loads_in_home_assistant_runtime(tmp_path: Path, kind) -> None:
    """pyopen_wakeword (wyoming-openwakeword / HA add-on runtime, libtensorflowlite_c) gives the same scores."""
    pyoww = pytest.importorskip("pyopen_wakeword")
    lib = Path(pyoww.__file__).parent / "lib" / "libtensorflowlite_c.so"
    if not lib.is_file():
        pytest.skip(f"pyopen_wakeword ships no {lib.name} for this platform")
    model = _head(kind, 64, 1, seed=3)
    path = Path(export_tflite(model, tmp_path / "ha.tflite")["path"])
    feats = _real_looking(4, seed=5)
    ow = pyoww.OpenWakeWord("ha", tflite_model=path, libtensorflowlite_c_path=lib)
    assert ow.interpreter and ow.model and ow.input_windows == 16
    with torch.no_grad():
        ref = model.eval()(torch.from_numpy(feats)).numpy()[:, 0]
    for f, r in zip(feats, ref, strict=True):
        ow.reset()
        probs = list(ow.process_streaming(f[None, None]))
        assert len(probs) == 1 and abs(probs[0] - r) <= 1e-4


def test_mismatch_raises(tmp_path: Path) -> None:
    model = _head(DNNHead, 32, 1)
    path = Path(export_tflite(model, tmp_path / "m.tflite")["path"])
    feats = _real_looking(4)
    with torch.no_grad():
        ref = model(torch.from_numpy(feats)).numpy()[:, 0]
    verify_tflite(path, ref, feats)  # passes
    with pytest.raises(TFLiteExportError, match="differ"):
        verify_tflite(path, ref + 0.01, feats)


def test_unknown_module_is_a_clear_error(tmp_path: Path) -> None:
    class TwoOut(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(16 * 96, 2)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.sigmoid(self.fc(x.flatten(1)))

    with pytest.raises(TFLiteExportError, match="DNNHead, TemporalHead and EnsembleHead, not TwoOut"):
        head_to_tflite(TwoOut())
    target = tmp_path / "bad.tflite"
    target.write_bytes(b"stale file from an older model")
    with pytest.raises(EasyOWWError, match="TwoOut"):
        export_tflite(TwoOut(), target)
    assert not target.exists() and not list(tmp_path.glob(".*.tmp*"))


def test_wrong_output_shape_is_rejected_and_old_file_removed(tmp_path: Path) -> None:
    model = DNNHead(32, 0)
    model.net[-1] = nn.Linear(32, 2)
    target = tmp_path / "bad.tflite"
    target.write_bytes(b"stale file from an older model")
    with pytest.raises(TFLiteExportError, match=r"output has shape \(1, 2\)"):
        export_tflite(model, target)
    assert not target.exists() and not list(tmp_path.glob(".*.tmp*"))


def test_missing_runtime_gives_clear_message(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import builtins

    real_import = builtins.__import__

    def fake_import(name, *args, **kwargs):
        if name.startswith("ai_edge_litert"):
            raise ImportError(f"No module named {name!r}", name=name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)
    with pytest.raises(EasyOWWError, match=r"reinstall easy-oww \(ai-edge-litert is missing\)"):
        export_tflite(DNNHead(32, 0), tmp_path / "x.tflite")
    with pytest.raises(EasyOWWError, match=r"reinstall easy-oww \(ai-edge-litert is missing\)"):
        head_to_tflite(DNNHead(32, 0))
    assert not (tmp_path / "x.tflite").exists()


def test_run_tflite_export_from_trained_checkpoint(tmp_path: Path) -> None:
    """The project step: checkpoints/model_final.pt (as core.pipeline.p4_training.loop saves it) -> models/<name>.tflite."""
    pytest.importorskip("core.pipeline.p4_training.loop")
    from core.events import PhaseFinished
    from core.pipeline.p4_training.heads import build_head, head_spec
    from core.pipeline.p5_export.tflite_export import run_tflite_export
    from core.project.config import TrainingConfig
    from core.project.workspace import Workspace

    ws = Workspace(tmp_path / "ws")
    cfg = TrainingConfig.quick("tfl", "hey jarvis")
    cfg.layer_size = 32
    project = ws.create_project(cfg)
    torch.manual_seed(0)
    model = build_head(cfg)
    project.checkpoints_dir.mkdir(parents=True, exist_ok=True)
    torch.save({"spec": head_spec(cfg), "model": model.state_dict(), "fingerprint": cfg.fingerprint(),
                "summary": {}}, project.checkpoints_dir / "model_final.pt")
    feats_dir = project.features_dir(cfg)
    feats_dir.mkdir(parents=True, exist_ok=True)
    np.save(feats_dir / "val_positive.npy", _real_looking(10, seed=9))
    events: list = []
    out = run_tflite_export(project, cfg, events.append, None)
    path = project.model_path(cfg, ".tflite")
    assert out["tflite"]["path"] == str(path) and path.is_file()
    assert out["tflite"]["compared_on"] == 10 + 16  # project features + random windows
    assert isinstance(events[-1], PhaseFinished) and events[-1].ok
    _check_file(path, model.eval(), _real_looking(8, seed=4))


def test_run_tflite_export_without_training_is_clear(tmp_path: Path) -> None:
    pytest.importorskip("core.pipeline.p4_training.loop")
    from core.pipeline.p5_export.tflite_export import run_tflite_export
    from core.project.config import TrainingConfig
    from core.project.workspace import Workspace

    ws = Workspace(tmp_path / "ws")
    cfg = TrainingConfig.quick("tfl2", "hey jarvis")
    project = ws.create_project(cfg)
    with pytest.raises(EasyOWWError, match="No trained model"):
        run_tflite_export(project, cfg, None, None)
