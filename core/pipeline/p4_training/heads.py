"""Classifier heads: (B, 16, 96) openWakeWord features -> (B, 1) wake-word probability.

``forward`` returns a probability (sigmoid inside, as openWakeWord models do);
``logits`` returns the pre-sigmoid score, which training uses for a stable loss.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from core.errors import ConfigError
from core.project.config import TrainingConfig

N_FRAMES = 16
EMB_DIM = 96


class Head(nn.Module):
    """Base: subclasses implement ``logits``."""

    def logits(self, x: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.logits(x))

    def input_dropout(self) -> float:
        """The rate of the head's own dropout on its input windows (0 when it has none)."""
        drop = getattr(self, "input_drop", None)
        return float(drop.p) if isinstance(drop, nn.Dropout) else 0.0

    def set_input_dropout(self, rate: float) -> None:
        """Training sets it to 0 while the batch sampler applies the same dropout, several times faster on the CPU
        (:class:`~core.pipeline.p4_training.batches.BatchSampler`), and back afterwards."""
        drop = getattr(self, "input_drop", None)
        if isinstance(drop, nn.Dropout):
            drop.p = float(rate)


class DNNHead(Head):
    """openWakeWord's flat architecture (with dropout after each hidden block)."""

    def __init__(self, layer_size: int = 128, n_blocks: int = 1, dropout: float = 0.3,
                 input_dropout: float = 0.0) -> None:
        super().__init__()
        self.input_drop = nn.Dropout(input_dropout)
        layers: list[nn.Module] = [
            nn.Flatten(),
            nn.Linear(N_FRAMES * EMB_DIM, layer_size),
            nn.LayerNorm(layer_size),
            nn.ReLU(),
            nn.Dropout(dropout),
        ]
        for _ in range(n_blocks):
            layers += [
                nn.Linear(layer_size, layer_size),
                nn.LayerNorm(layer_size),
                nn.ReLU(),
                nn.Dropout(dropout),
            ]
        layers.append(nn.Linear(layer_size, 1))
        self.net = nn.Sequential(*layers)

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(self.input_drop(x))


class TemporalHead(Head):
    """Conv1d blocks over the 16 frames, one self-attention layer, mean pool, linear.

    Width is ``channels // 2`` (64 for the default layer_size 128): a full 128-wide
    attention head costs ~4x the compute for no measured gain on small data.
    """

    def __init__(self, channels: int = 128, n_blocks: int = 1, dropout: float = 0.3, heads: int = 4,
                 input_dropout: float = 0.0) -> None:
        super().__init__()
        self.input_drop = nn.Dropout(input_dropout)
        width = max(8, channels // 2)
        self.heads = heads if width % heads == 0 else 1
        self.proj = nn.Linear(EMB_DIM, width)
        self.convs = nn.ModuleList(nn.Conv1d(width, width, kernel_size=3, padding=1) for _ in range(n_blocks))
        self.conv_norms = nn.ModuleList(nn.LayerNorm(width) for _ in range(n_blocks))
        self.qkv = nn.Linear(width, 3 * width)
        self.attn_out = nn.Linear(width, width)
        self.attn_drop = nn.Dropout(dropout)
        self.norm = nn.LayerNorm(width)
        self.drop = nn.Dropout(dropout)
        self.out = nn.Linear(width, 1)

    def _attention(self, h: torch.Tensor) -> torch.Tensor:
        """Multi-head self-attention written out (exports to plain ONNX ops, any batch size)."""
        c = h.shape[-1]
        d = c // self.heads
        q, k, v = self.qkv(h).reshape(-1, N_FRAMES, 3, self.heads, d).permute(2, 0, 3, 1, 4)  # (B, H, 16, d)
        w = torch.softmax(torch.matmul(q, k.transpose(-1, -2)) * (1.0 / math.sqrt(d)), dim=-1)
        a = torch.matmul(self.attn_drop(w), v).permute(0, 2, 1, 3).reshape(-1, N_FRAMES, c)
        return self.attn_out(a)

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.proj(self.input_drop(x)))  # (B, 16, W)
        for conv, norm in zip(self.convs, self.conv_norms, strict=True):
            h = h + torch.relu(norm(conv(h.transpose(1, 2)).transpose(1, 2)))
        h = self.norm(h + self._attention(h))
        return self.out(self.drop(h.mean(dim=1)))


class EnsembleHead(Head):
    """Several heads trained with different seeds; the mean of their logits. On the same features, single heads
    differ a lot from seed to seed at low false-accept rates; their mean is steadier and about as good as the
    best of them."""

    def __init__(self, members: list[Head]) -> None:
        super().__init__()
        if not members:
            raise ConfigError("An ensemble needs at least one head.")
        self.members = nn.ModuleList(members)

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        return torch.stack([m.logits(x) for m in self.members]).mean(0)


def ensemble_spec(member: dict[str, Any], size: int) -> dict[str, Any]:
    return {"model_type": "ensemble", "members": [dict(member) for _ in range(size)]}


def head_spec(cfg: TrainingConfig) -> dict[str, Any]:
    """What defines a head's shape (stored in checkpoints so a mismatch is caught)."""
    layer_size, n_blocks = cfg.head_size()
    return {
        "model_type": cfg.model_type,
        "layer_size": layer_size,
        "n_blocks": n_blocks,
        "dropout": float(cfg.dropout),
        "input_dropout": float(cfg.input_dropout),
    }


def build_head(cfg: TrainingConfig | dict[str, Any]) -> Head:
    """The head named by ``cfg.model_type`` ("dnn" or "temporal")."""
    spec = cfg if isinstance(cfg, dict) else head_spec(cfg)
    kind = spec["model_type"]
    if kind == "ensemble":
        return EnsembleHead([build_head(m) for m in spec["members"]])
    input_dropout = float(spec.get("input_dropout", 0.0))  # specs saved before it existed had none
    if kind == "dnn":
        return DNNHead(spec["layer_size"], spec["n_blocks"], spec["dropout"], input_dropout)
    if kind == "temporal":
        return TemporalHead(spec["layer_size"], spec["n_blocks"], spec["dropout"], input_dropout=input_dropout)
    raise ConfigError(f"model_type: {kind!r} is not a known head; use 'dnn' or 'temporal'.")
