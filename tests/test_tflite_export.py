"""TFLite export: both head kinds convert to a static (1,16,96)->(1,1), builtin-ops-only .tflite
whose scores match torch and ONNX within 1e-3, and load in Home Assistant's runtime (pyopen_wakeword)."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

pytest.importorskip("litert_torch", reason="litert-torch (the tflite extra) is not installed")
pytest.importorskip("ai_edge_litert", reason="ai-edge-litert is not installed")

from core.errors import EasyOWWError  # noqa: E402
from core.tflite_export import (  # noqa: E402
    TFLiteExportError,
    TFLiteRunner,
    export_tflite,
    export_tflite_verbose,
    onnx_scores,
    tflite_ops,
    verify_tflite,
)

torch.set_num_threads(1)


class FlatDNN(nn.Module):
    """openWakeWord's flat head: flatten -> Linear/LayerNorm/ReLU blocks -> Linear -> sigmoid."""

    def __init__(self, h: int = 64) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Flatten(), nn.Linear(16 * 96, h), nn.LayerNorm(h), nn.ReLU(), nn.Dropout(0.3),
            nn.Linear(h, h), nn.LayerNorm(h), nn.ReLU(), nn.Linear(h, 1), nn.Sigmoid(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class ConvAttention(nn.Module):
    """Conv1d blocks + nn.MultiheadAttention over the 16 frames, mean pool, linear, sigmoid."""

    def __init__(self, c: int = 32) -> None:
        super().__init__()
        self.conv = nn.Sequential(nn.Conv1d(96, c, 3, padding=1), nn.BatchNorm1d(c), nn.ReLU(),
                                  nn.Conv1d(c, c, 3, padding=1), nn.ReLU())
        self.attn = nn.MultiheadAttention(c, 4, batch_first=True)
        self.norm = nn.LayerNorm(c)
        self.out = nn.Linear(c, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv(x.transpose(1, 2)).transpose(1, 2)
        a, _ = self.attn(h, h, h, need_weights=False)
        return torch.sigmoid(self.out(self.norm(h + a).mean(dim=1)))


def _real_looking(n: int = 24, seed: int = 1) -> np.ndarray:
    """Windows shaped like openWakeWord embeddings: smooth over time, per-dim offsets, spread ~5-10."""
    rng = np.random.default_rng(seed)
    base = rng.normal(0, 6, (n, 1, 96))
    drift = np.cumsum(rng.normal(0, 1.5, (n, 16, 96)), axis=1)
    return (base + drift).astype(np.float32)


def _onnx(model: nn.Module, path: Path) -> Path:
    torch.onnx.export(model.eval(), (torch.zeros(1, 16, 96),), str(path), input_names=["x"],
                      output_names=["y"], external_data=False, dynamo=True)
    return path


def _check_file(path: Path, model: nn.Module, feats: np.ndarray) -> float:
    runner = TFLiteRunner(path)
    assert runner.input_shape == (1, 16, 96) and runner.output_shape == (1, 1) and runner.is_static()
    assert runner.input["dtype"] == np.float32
    ops = tflite_ops(path)
    assert ops and not [o for o in ops if o.startswith("CUSTOM") or "FLEX" in o.upper()], ops
    with torch.no_grad():
        ref = model(torch.from_numpy(feats)).numpy()[:, 0]
    got = runner.predict(feats)
    diff = float(np.max(np.abs(got - ref)))
    assert diff <= 1e-3, diff
    return diff


@pytest.mark.parametrize("factory", [FlatDNN, ConvAttention], ids=["dnn", "conv_attention"])
def test_export_matches_torch_and_onnx(tmp_path: Path, factory) -> None:
    torch.manual_seed(0)
    model = factory()
    # Make scores non-trivial (not all ~0.5): scale the last layer so outputs spread over (0, 1).
    with torch.no_grad():
        last = model.net[-2] if isinstance(model, FlatDNN) else model.out
        last.weight.mul_(8)
    feats = _real_looking()
    onnx_path = _onnx(model, tmp_path / "head.onnx")
    t0 = time.perf_counter()
    info = export_tflite_verbose(model, tmp_path / "head.tflite", features=feats, onnx_path=onnx_path)
    print(f"\n{factory.__name__}: convert {info['convert_seconds']:.2f}s total {time.perf_counter() - t0:.2f}s "
          f"max diff torch {info['max_abs_diff']:.2e} onnx {info['max_abs_diff_onnx']:.2e} ops {info['ops']}")
    out = Path(info["path"])
    assert out.is_file() and not list(tmp_path.glob(".*.tmp*"))
    assert info["max_abs_diff"] <= 1e-3 and info["max_abs_diff_onnx"] <= 1e-3
    with torch.no_grad():
        ref = model.eval()(torch.from_numpy(feats)).numpy()[:, 0]
    assert np.ptp(ref) > 0.2, "scores should be spread so the comparison means something"
    _check_file(out, model, feats)
    # And against onnxruntime directly.
    assert np.max(np.abs(TFLiteRunner(out).predict(feats) - onnx_scores(onnx_path, feats))) <= 1e-3


def test_loads_in_home_assistant_runtime(tmp_path: Path) -> None:
    """pyopen_wakeword (wyoming-openwakeword / HA add-on runtime, libtensorflowlite_c) gives the same scores."""
    pyoww = pytest.importorskip("pyopen_wakeword")
    lib = Path(pyoww.__file__).parent / "lib" / "libtensorflowlite_c.so"
    if not lib.is_file():
        pytest.skip(f"pyopen_wakeword ships no {lib.name} for this platform")
    torch.manual_seed(3)
    model = ConvAttention()
    path = export_tflite(model, tmp_path / "ha.tflite")
    feats = _real_looking(4, seed=5)
    ow = pyoww.OpenWakeWord("ha", tflite_model=path, libtensorflowlite_c_path=lib)
    assert ow.interpreter and ow.model and ow.input_windows == 16
    with torch.no_grad():
        ref = model.eval()(torch.from_numpy(feats)).numpy()[:, 0]
    for f, r in zip(feats, ref, strict=True):
        ow.reset()
        probs = list(ow.process_streaming(f[None, None]))
        assert len(probs) == 1 and abs(probs[0] - r) <= 1e-3


def test_build_head_each_model_type(tmp_path: Path) -> None:
    heads = pytest.importorskip("core.heads")
    from core.config import TrainingConfig

    feats = _real_looking(16, seed=2)
    for kind in ("dnn", "temporal"):
        cfg = TrainingConfig.quick("tfl", "hey jarvis")
        cfg.model_type = kind
        cfg.layer_size = 32
        torch.manual_seed(0)
        model = heads.build_head(cfg)
        onnx_path = _onnx(model, tmp_path / f"{kind}.onnx")
        info = export_tflite_verbose(model, tmp_path / f"{kind}.tflite", features=feats, onnx_path=onnx_path)
        print(f"\nbuild_head({kind}): convert {info['convert_seconds']:.2f}s diff torch "
              f"{info['max_abs_diff']:.2e} onnx {info['max_abs_diff_onnx']:.2e}")
        _check_file(Path(info["path"]), model, feats)


def test_mismatch_raises_and_keeps_no_file(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = FlatDNN()
    path = export_tflite(model, tmp_path / "m.tflite")
    feats = _real_looking(4)
    with torch.no_grad():
        ref = model.eval()(torch.from_numpy(feats)).numpy()[:, 0]
    verify_tflite(path, ref, feats)  # passes
    with pytest.raises(TFLiteExportError, match="differ"):
        verify_tflite(path, ref + 0.01, feats)


def test_wrong_shape_model_is_rejected_and_old_file_removed(tmp_path: Path) -> None:
    class TwoOut(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(16 * 96, 2)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.sigmoid(self.fc(x.flatten(1)))

    target = tmp_path / "bad.tflite"
    target.write_bytes(b"stale file from an older model")
    with pytest.raises(EasyOWWError):
        export_tflite(TwoOut(), target)
    assert not target.exists() and not list(tmp_path.glob(".*.tmp*"))


def test_missing_extra_gives_clear_message(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import builtins

    real_import = builtins.__import__

    def fake_import(name, *args, **kwargs):
        if name == "litert_torch":
            raise ImportError("No module named 'litert_torch'", name="litert_torch")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)
    with pytest.raises(EasyOWWError, match=r"pip install 'easy-oww\[tflite\]'"):
        export_tflite(FlatDNN(), tmp_path / "x.tflite")
    assert not (tmp_path / "x.tflite").exists()


def test_run_tflite_export_from_trained_checkpoint(tmp_path: Path) -> None:
    """The project step: checkpoints/model_final.pt (as core.training saves it) -> models/<name>.tflite."""
    pytest.importorskip("core.training")
    from core.config import TrainingConfig
    from core.events import StageFinished
    from core.heads import build_head, head_spec
    from core.projects import Workspace
    from core.tflite_export import run_tflite_export

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
    assert isinstance(events[-1], StageFinished) and events[-1].ok
    _check_file(path, model.eval(), _real_looking(8, seed=4))


def test_run_tflite_export_without_training_is_clear(tmp_path: Path) -> None:
    pytest.importorskip("core.training")
    from core.config import TrainingConfig
    from core.projects import Workspace
    from core.tflite_export import run_tflite_export

    ws = Workspace(tmp_path / "ws")
    cfg = TrainingConfig.quick("tfl2", "hey jarvis")
    project = ws.create_project(cfg)
    with pytest.raises(EasyOWWError, match="No trained model"):
        run_tflite_export(project, cfg, None, None)
