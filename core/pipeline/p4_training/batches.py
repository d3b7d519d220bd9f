"""Training data in memory and balanced batches: half positives (real recordings drawn more often), half negatives (clips, unfinished wake words and earlier moments of the clips, negative-speech windows, the ACAV100M bank when downloaded), with optional hard-negative mining; the head's input dropout is applied here."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from core.errors import EasyOWWError
from core.pipeline.p3_features.store import (
    FeatureBank,
    acav_bank,
    load_features,
    load_sidecar,
)
from core.pipeline.p4_training.heads import Head
from core.project.config import TrainingConfig

REAL_WEIGHT = 4.0  # a real recording is drawn this many times as often as a synthetic clip


BANK_SHARE = 0.5  # share of each batch's negatives drawn from the ACAV100M bank, when present


SPEECH_SHARE = 0.5  # share of the other negatives drawn from the negative-speech stream windows


BANK_BLOCK = 8192  # rows of the bank held in memory at a time


BANK_REFRESH = 64  # steps between bank block refreshes


VAL_CAP = 20000  # rows per class used for validation during training


VAL_SPEECH_CAP = 2000  # negative-speech windows added to them (validation costs steps: keep it small)


RAM_FRACTION = 0.4  # keep train arrays in RAM when they take less than this share of free memory


# Hard-negative mining (off by default: +0.06 on two seeds, but one seed collapsed to 0.12, and it added
# nothing on top of focal loss): a share of each batch's clip/speech negatives drawn from the hardest ones.
HARD_SHARE = 0.0


HARD_POOL = 2048  # how many of the highest-scoring negatives form the hard set


HARD_EVERY = 500  # steps between re-scoring the negatives for the hard set


HARD_FROM = 0.2  # hard-negative mining starts after this share of the steps


# Unfinished wake words: training positives moved k = UNFINISHED_FRAMES frames (80 ms each) earlier, the front padded
# with their first frame, join the clip negatives (UNFINISHED_SHARE times as many as there are). The speech embedding
# only looks back, so such a window is exactly what a stream holds while the last 40-640 ms of the word are still to
# come (positives end 0-200 ms before their window's end); a head that fires there fires on anything that starts like
# the wake word ("a lexicon", "hey my crop"). Single heads on the same features, seeds 1-3, recall at <= 0.5 false
# accepts/h, development figures (bench/README.md, session 24): alexa dev 0.704 -> 0.721, test 0.831 -> 0.857; hey
# jarvis dev 0.483 -> 0.603, test 0.552 -> 0.605; hey mycroft dev 0.617 -> 0.692, test 0.527 -> 0.552 (half as many,
# k 4-8: about half the gain). No synthesis, no features: it costs nothing but memory. UNFINISHED_SHARE 0 turns it off.
UNFINISHED_SHARE = 1.0
UNFINISHED_FRAMES = (3, 8)
# Earlier moments of the negative clips: each clip negative is one window (its end, or a random place), but a stream
# holds every moment of it, and "hey my crop" fires while "hey my crop failed" is still being said. Clip-negative
# windows moved k = EARLIER_NEGATIVE_FRAMES frames earlier (exact in the same way, bar the k oldest frames, which
# repeat the window's first frame) join the negatives, EARLIER_NEGATIVE_SHARE times as many as there are. Single heads
# on the same features, seeds 1-3, recall at <= 0.5 false accepts/h, development figures (bench/README.md, session
# 25): hey mycroft dev 0.692 -> 0.723, test 0.552 -> 0.565; hey jarvis dev 0.603 -> 0.605, test 0.605 -> 0.629; alexa
# dev 0.721 -> 0.707, test 0.857 -> 0.870.
EARLIER_NEGATIVE_SHARE = 1.0
EARLIER_NEGATIVE_FRAMES = (1, 12)
MOVED_MAX_ROWS = 20000  # per kind, ~120 MB: moved windows live in RAM even when a big project's arrays are memory-mapped
# Input dropout is applied here rather than in the head: torch's per-element Bernoulli draw on the CPU took half of
# every training step (10 of 20 ms on 2 cores). Each row gets one of INPUT_MASK_ROWS masks drawn at random; the
# masks are drawn afresh every INPUT_MASK_REFRESH steps from the seed and the step, so a resumed run draws the same.
INPUT_MASK_ROWS = 4096


INPUT_MASK_REFRESH = 200


def _free_memory_bytes() -> int:
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return 4 << 30


# --------------------------------------------------------------------------- data
@dataclass
class TrainData:
    """Training arrays (tensors in RAM, or memory-mapped) and validation tensors."""

    pos: torch.Tensor | np.ndarray
    neg: torch.Tensor | np.ndarray | StackedRows  # clip negatives, then the moved windows (moved_negatives)
    pos_weights: torch.Tensor | None
    val_pos: torch.Tensor
    val_neg: torch.Tensor
    bank: FeatureBank | None = None
    n_real: int = 0
    in_ram: bool = True
    notes: list[str] = field(default_factory=list)
    speech: torch.Tensor | np.ndarray | None = None  # negative-speech windows (may be absent)


class StackedRows:
    """A memory-mapped array followed by rows held in RAM, indexed (by an index array or a slice) as one array."""

    def __init__(self, first: np.ndarray, extra: np.ndarray) -> None:
        self.first, self.extra = first, extra
        self.shape = (len(first) + len(extra), *first.shape[1:])

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, idx: np.ndarray | slice) -> np.ndarray:
        rows = np.arange(len(self))[idx] if isinstance(idx, slice) else np.asarray(idx)
        out = np.empty((len(rows), *self.shape[1:]), dtype=np.float32)
        mine = rows < len(self.first)
        out[mine] = self.first[rows[mine]]
        out[~mine] = self.extra[rows[~mine] - len(self.first)]
        return out


def earlier_windows(rows: np.ndarray, count: int, seed: int, frames: tuple[int, int], stream: int = 41) -> np.ndarray:
    """``count`` windows (drawn from ``rows`` with ``seed`` and ``stream``), each moved k frames earlier, k in
    ``frames`` (inclusive): row[k:] = window[:16 - k], and the first k frames repeat the window's first frame."""
    if count <= 0 or len(rows) == 0:
        return np.zeros((0, *rows.shape[1:]), dtype=np.float32)
    rng = np.random.default_rng([int(seed), int(stream)])
    idx = np.sort(rng.choice(len(rows), size=count, replace=count > len(rows)))
    ks = rng.integers(frames[0], frames[1] + 1, size=count)
    src = np.asarray(rows[idx], dtype=np.float32)
    n = src.shape[1]
    out = np.empty_like(src)
    for k in np.unique(ks):
        rows = ks == k
        out[rows, k:] = src[rows, : n - k]
        out[rows, :k] = src[rows, :1]
    return out


def moved_negatives(tp: np.ndarray, tn: np.ndarray, seed: int) -> np.ndarray:
    """The negatives made by moving windows earlier: unfinished wake words (from the positives ``tp``), then earlier
    moments of the clip negatives ``tn``; each kind a share of ``len(tn)``, at most MOVED_MAX_ROWS."""
    def count(share: float) -> int:
        return min(int(round(share * len(tn))), MOVED_MAX_ROWS)

    return np.concatenate([
        earlier_windows(tp, count(UNFINISHED_SHARE), seed, UNFINISHED_FRAMES, stream=41),
        earlier_windows(tn, count(EARLIER_NEGATIVE_SHARE), seed, EARLIER_NEGATIVE_FRAMES, stream=43),
    ])


def _val_subset(arr: np.ndarray, cap: int) -> torch.Tensor:
    if len(arr) > cap:
        idx = np.linspace(0, len(arr) - 1, cap).astype(np.int64)
        arr = arr[idx]
    return torch.from_numpy(np.array(arr, dtype=np.float32))


def load_train_data(project: Any, cfg: TrainingConfig, use_bank: bool = True) -> TrainData:
    fdir = project.features_dir(cfg)
    tp, tn = load_features(fdir, "train", "positive"), load_features(fdir, "train", "negative")
    vp, vn = load_features(fdir, "val", "positive"), load_features(fdir, "val", "negative")
    if len(tp) == 0 or len(tn) == 0:
        raise EasyOWWError(
            f"Training needs positive and negative clips; found {len(tp)} positive and {len(tn)} negative "
            "training rows. Add clips and run the clips and features phases again."
        )
    notes: list[str] = []
    sources = load_sidecar(fdir, "train", "positive")["sources"]
    real = np.array([s.startswith("real_") for s in sources], dtype=bool)
    weights = None
    if real.any() and not real.all():
        weights = torch.from_numpy(np.where(real, REAL_WEIGHT, 1.0).astype(np.float64))
    moved = moved_negatives(tp, tn, cfg.seed)
    held = tp.nbytes + tn.nbytes + moved.nbytes  # what training holds before the negative-speech windows
    in_ram = held < RAM_FRACTION * _free_memory_bytes()
    if in_ram:
        pos: torch.Tensor | np.ndarray = torch.from_numpy(np.array(tp, dtype=np.float32))
        neg: torch.Tensor | np.ndarray | StackedRows = torch.from_numpy(
            np.concatenate([np.asarray(tn, dtype=np.float32), moved]))
    else:
        pos, neg = tp, StackedRows(tn, moved)
        notes.append("training arrays are larger than free memory allows: reading them memory-mapped")
    if len(vp) == 0 or len(vn) == 0:
        notes.append("no validation clips for one class: validating on training rows (add more clips)")
        vp = vp if len(vp) else tp
        vn = vn if len(vn) else tn
    bank = acav_bank(project) if use_bank else None
    speech: torch.Tensor | np.ndarray | None = None
    val_neg = _val_subset(vn, VAL_CAP)
    if (fdir / "train_negative_speech.npy").is_file():
        ts = load_features(fdir, "train", "negative_speech")
        if len(ts):
            in_ram_s = in_ram and held + ts.nbytes < RAM_FRACTION * _free_memory_bytes()
            speech = torch.from_numpy(np.array(ts, dtype=np.float32)) if in_ram_s else ts
            if in_ram and not in_ram_s:
                pos, neg = torch.from_numpy(np.asarray(tp)), StackedRows(tn, moved)
                in_ram = False
        vs = load_features(fdir, "val", "negative_speech") if (fdir / "val_negative_speech.npy").is_file() else None
        if vs is not None and len(vs):
            val_neg = torch.cat([val_neg, _val_subset(vs, VAL_SPEECH_CAP)])
    return TrainData(
        pos,
        neg,
        weights,
        _val_subset(vp, VAL_CAP),
        val_neg,
        bank,
        int(real.sum()),
        in_ram,
        notes,
        speech,
    )


FEATURE_NOISE_ROWS = 8192  # noise windows drawn once; each batch row gets one of them at random


def feature_spread(data: TrainData, rows: int = 2048) -> torch.Tensor:
    """Each of the 96 features' standard deviation over a fixed, evenly spaced sample of training windows
    (positives and negatives alike): the scale of :func:`feature_noise_bank`."""
    parts = []
    for arr in (data.pos, data.neg, data.speech):
        if arr is not None and len(arr):
            idx = np.linspace(0, len(arr) - 1, min(rows, len(arr))).astype(np.int64)
            sample = arr[torch.from_numpy(idx).to(arr.device)] if isinstance(arr, torch.Tensor) else \
                torch.from_numpy(np.asarray(arr[idx], dtype=np.float32))
            parts.append(sample.float().cpu())
    x = torch.cat(parts).reshape(-1, parts[0].shape[-1])
    return x.std(dim=0)


def feature_noise_bank(data: TrainData, level: float, seed: int, device: torch.device) -> torch.Tensor | None:
    """Gaussian noise windows (FEATURE_NOISE_ROWS, 16, 96), each feature's at ``level`` times its spread; None
    when ``level`` is 0. Drawn once from ``seed`` (a resumed run draws the same), so that a step costs one gather."""
    if level <= 0:
        return None
    gen = torch.Generator().manual_seed(int(seed) + 17)
    spread = feature_spread(data)
    noise = torch.randn((FEATURE_NOISE_ROWS, 16, spread.shape[0]), generator=gen) * (float(level) * spread)
    return noise.to(device)


def input_dropout_masks(rate: float, seed: int, key: int, device: torch.device) -> torch.Tensor:
    """INPUT_MASK_ROWS dropout masks (rows, 16, 96): each feature 0 with probability ``rate``, else 1 / (1 - rate);
    the same for the same ``seed`` and ``key``."""
    gen = torch.Generator().manual_seed(int(np.random.default_rng([int(seed), int(key), 29]).integers(2**62)))
    keep = torch.rand((INPUT_MASK_ROWS, 16, 96), generator=gen) >= rate
    return (keep.float() * (1.0 / (1.0 - rate))).to(device)


class BatchSampler:
    """Balanced batches: half positives (real recordings up-weighted), half negatives; with ``feature_noise`` > 0,
    each row plus a window of :func:`feature_noise_bank` (drawn from ``seed``); with ``input_dropout`` > 0, each
    row times one of :func:`input_dropout_masks` (the head's input dropout, handed to the sampler)."""

    def __init__(self, data: TrainData, batch_size: int, seed: int, device: torch.device,
                 feature_noise: float = 0.0, input_dropout: float = 0.0) -> None:
        self.data = data
        self.device = device
        self.n_pos = batch_size // 2
        n_neg = batch_size - self.n_pos
        self.n_bank = int(round(n_neg * BANK_SHARE)) if data.bank is not None and len(data.bank) > 0 else 0
        rest = n_neg - self.n_bank
        self.n_hard = int(round(rest * HARD_SHARE))
        rest -= self.n_hard
        self.n_speech = int(round(rest * SPEECH_SHARE)) if data.speech is not None and len(data.speech) else 0
        self.n_neg = rest - self.n_speech
        self.hard: torch.Tensor | None = None  # rows of neg (0..len(neg)-1) then speech (len(neg)..)
        self.seed = seed
        self.gen = torch.Generator().manual_seed(seed)
        self._bank_key = -1
        self._bank_block: torch.Tensor | None = None
        # In RAM, positives, negatives and speech windows live in one tensor (the arrays become views of
        # it), so a batch is one gather instead of three.
        self.pool: torch.Tensor | None = None
        if data.in_ram:
            parts = [data.pos, data.neg] + ([data.speech] if isinstance(data.speech, torch.Tensor) else [])
            self.pool = torch.cat([t.to(device) for t in parts])  # type: ignore[union-attr]
            sizes = [len(t) for t in parts]
            views = torch.split(self.pool, sizes)
            data.pos, data.neg = views[0], views[1]
            if len(views) > 2:
                data.speech = views[2]
        elif isinstance(data.speech, torch.Tensor):
            data.speech = data.speech.to(device)
        # the pool holds the speech windows only when they were in RAM too
        self.pool_speech = self.pool is not None and self.pool.shape[0] > len(data.pos) + len(data.neg)
        self.x = torch.empty((batch_size, 16, 96), dtype=torch.float32, device=device)
        self.y = torch.cat([torch.ones(self.n_pos), torch.zeros(n_neg)]).to(device)[:, None]
        self.noise = feature_noise_bank(data, feature_noise, seed, device)
        self.input_dropout = float(input_dropout)
        self._mask_key = -1
        self._masks: torch.Tensor | None = None
        self._mask_rows = torch.empty_like(self.x) if self.input_dropout > 0 else None

    def _dropout(self, x: torch.Tensor, step: int) -> torch.Tensor:
        """``x`` (this step's batch, overwritten) times a dropout mask per row."""
        key = step // INPUT_MASK_REFRESH
        if key != self._mask_key:
            self._masks = input_dropout_masks(self.input_dropout, self.seed, key, self.device)
            self._mask_key = key
        assert self._masks is not None and self._mask_rows is not None
        pick = torch.randint(INPUT_MASK_ROWS, (len(x),), generator=self.gen)
        torch.index_select(self._masks, 0, pick.to(self.device), out=self._mask_rows)
        return x.mul_(self._mask_rows)

    def _rows(self, arr: torch.Tensor | np.ndarray, idx: torch.Tensor, out: torch.Tensor) -> None:
        if isinstance(arr, torch.Tensor):
            torch.index_select(arr, 0, idx.to(arr.device), out=out)
        else:
            order = np.argsort(idx.numpy())
            rows = np.asarray(arr[idx.numpy()[order]], dtype=np.float32)
            back = np.empty_like(rows)
            back[order] = rows
            out.copy_(torch.from_numpy(back))

    def _bank(self, step: int) -> torch.Tensor:
        key = step // BANK_REFRESH
        if key != self._bank_key:
            bank = self.data.bank
            assert bank is not None
            start = int(np.random.default_rng([self.seed, key]).integers(0, max(1, len(bank) - BANK_BLOCK)))
            self._bank_block = torch.from_numpy(bank.block(start, BANK_BLOCK)).to(self.device)
            self._bank_key = key
        assert self._bank_block is not None
        return self._bank_block

    def _hard_rows(self, start: int, end: int) -> None:
        """Hard negatives into ``x[start:end]``; ordinary clip negatives until the first refresh."""
        d = self.data
        n = end - start
        if self.hard is None:
            self._rows(d.neg, torch.randint(len(d.neg), (n,), generator=self.gen), self.x[start:end])
            return
        pick = self.hard[torch.randint(len(self.hard), (n,), generator=self.gen)]
        from_neg = pick < len(d.neg)
        out = self.x[start:end]
        if bool(from_neg.any()):
            rows = torch.empty((int(from_neg.sum()), 16, 96), dtype=torch.float32, device=self.device)
            self._rows(d.neg, pick[from_neg], rows)
            out[from_neg.to(self.device)] = rows
        if not bool(from_neg.all()):
            assert d.speech is not None
            rows = torch.empty((int((~from_neg).sum()), 16, 96), dtype=torch.float32, device=self.device)
            self._rows(d.speech, pick[~from_neg] - len(d.neg), rows)
            out[(~from_neg).to(self.device)] = rows

    @torch.no_grad()
    def refresh_hard(self, model: Head) -> None:
        """Score every clip and speech negative; the ``HARD_POOL`` highest form the hard set."""
        d = self.data
        was_training = model.training
        model.eval()
        parts = []
        for arr in (d.neg, d.speech):
            if arr is None or len(arr) == 0:
                continue
            for i in range(0, len(arr), 8192):
                block = arr[i : i + 8192]
                if not isinstance(block, torch.Tensor):
                    block = torch.from_numpy(np.asarray(block, dtype=np.float32))
                parts.append(model.logits(block.to(self.device))[:, 0].float().cpu())
        model.train(was_training)
        scores = torch.cat(parts)
        k = min(HARD_POOL, len(scores))
        self.hard = torch.topk(scores, k).indices.sort().values

    def batch(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        d = self.data
        if d.pos_weights is not None:
            pi = torch.multinomial(d.pos_weights, self.n_pos, replacement=True, generator=self.gen)
        else:
            pi = torch.randint(len(d.pos), (self.n_pos,), generator=self.gen)
        ni = torch.randint(len(d.neg), (self.n_neg,), generator=self.gen)
        at = self.n_pos + self.n_neg
        si = None
        if self.n_speech:
            assert d.speech is not None
            si = torch.randint(len(d.speech), (self.n_speech,), generator=self.gen)
        if self.pool is not None:  # one gather from the in-RAM pool
            parts = [pi, ni + len(d.pos)]
            if si is not None and self.pool_speech:
                parts.append(si + len(d.pos) + len(d.neg))
                at, si = at + self.n_speech, None
            torch.index_select(self.pool, 0, torch.cat(parts).to(self.pool.device), out=self.x[:at])
        else:
            self._rows(d.pos, pi, self.x[: self.n_pos])
            self._rows(d.neg, ni, self.x[self.n_pos : at])
        if si is not None:  # speech windows read memory-mapped
            assert d.speech is not None
            self._rows(d.speech, si, self.x[at : at + self.n_speech])
            at += self.n_speech
        if self.n_hard:
            self._hard_rows(at, at + self.n_hard)
            at += self.n_hard
        if self.n_bank:
            block = self._bank(step)
            bi = torch.randint(len(block), (self.n_bank,), generator=self.gen)
            torch.index_select(block, 0, bi.to(block.device), out=self.x[at:])
        x = self.x
        if self.noise is not None:
            ri = torch.randint(len(self.noise), (len(self.x),), generator=self.gen)
            x = self.x + self.noise[ri.to(self.noise.device)]
        if self.input_dropout > 0:
            x = self._dropout(x, step)
        return x, self.y
