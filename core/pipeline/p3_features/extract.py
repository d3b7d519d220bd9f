"""openWakeWord features for training: clips -> (N, 16, 96) float32 arrays.

The melspectrogram is computed the way a live microphone stream computes it (one call
per 80 ms chunk with 480 samples of context), because openWakeWord's melspectrogram model
clamps at (maximum over its whole input - 80 dB): a whole-clip or whole-batch call sees a
different maximum than live audio does. Embeddings (the expensive part) are batched.

Each clip is placed in a 2 s window (+480 samples of context), which yields exactly the 16
embedding frames the classifier reads; a positive's speech ends a small seeded random time
before the window's end, as at the moment a live detector should fire.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import threading
import time
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from core.assets.feature_models import FeatureModels, feature_models_for
from core.errors import AudioError, EasyOWWError
from core.events import Progress, Reporter, StageFinished, StageStarted, check_cancel, log, warn
from core.fsutil import atomic_path, atomic_write_text, remove_stale_temps
from core.pipeline.p1_clips.generator import UNSEEN_DIR
from core.project.config import TrainingConfig

STAGE = "features"
FEATURE_VERSION = 1
SR = 16000
CHUNK = 1280  # 80 ms: one embedding frame per chunk
MEL_CONTEXT = 480  # samples of history each chunk's melspectrogram sees (openWakeWord streaming)
N_FRAMES = 16
EMB_DIM = 96
MEL_WINDOW = 76  # mel frames per embedding
WINDOW_SAMPLES = 32000  # 2 s -> 25 chunks -> 16 embeddings
PAD_NOISE_LSB = 3.0  # std of the very low noise (int16 units, about -80 dBFS) under every window
END_JITTER_S = 0.2
SPLITS = ("train", "val")
CLASSES = ("positive", "negative")
# Long negative-speech passages are embedded as streams (each 80 ms frame once) and sliced into
# 16-frame windows every STREAM_STRIDE frames: "<split>_negative_speech.npy".
STREAM_CLASS = "negative_speech"
STREAM_FOLDERS = ("negative_speech", "negative_speech_augmented")
STREAM_STRIDE = 3
STREAM_LEAD_S = 1.0  # low noise before each passage, so windows also see speech starting
STREAM_CHUNK_FILES = 8
CLIP_FOLDERS = {
    "positive": ("positive", "positive_augmented"),
    "negative": ("negative", "negative_augmented"),
}
_AUG_SUFFIX = re.compile(r"_a\d+$")
UNSEEN_PREFIX = "unseen_"  # feature keys of the unseen-voice set: (T, 96) stream embeddings + offsets


# --------------------------------------------------------------------------- extraction engine
def _busy_cpus_now(sample_s: float = 0.25) -> float | None:
    """CPUs busy right now (all processes), from two /proc/stat readings; None where unavailable."""

    def read() -> tuple[int, int]:
        with open("/proc/stat", encoding="ascii") as fh:
            fields = [int(v) for v in fh.readline().split()[1:]]
        idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
        return sum(fields), idle

    try:
        total0, idle0 = read()
        time.sleep(sample_s)
        total1, idle1 = read()
    except (OSError, ValueError, IndexError):
        return None
    dt = total1 - total0
    if dt <= 0:
        return None
    import os

    cpus = os.cpu_count() or 1
    return cpus * (1.0 - (idle1 - idle0) / dt)


def auto_threads(cap: int = 2) -> int:
    """Compute threads to use: up to ``cap``, but 1 when the CPUs are already busy.

    Two spinning thread pools on two busy cores run ~10x slower than one thread. Busy means busy now
    (a 0.25 s /proc/stat sample), not the 1-minute load average, which still counts this run's own
    feature workers for a minute after they exit and would halve the training speed.
    """
    import os

    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    busy = _busy_cpus_now()
    if busy is None:
        try:
            busy = os.getloadavg()[0]
        except (OSError, AttributeError):
            busy = 0.0
    free = cpus - busy
    return max(1, min(cap, cpus, int(free + 0.5)))


def per_row_clamp_mel_bytes(path: Path) -> bytes | None:
    """openWakeWord's melspectrogram model with its -80 dB clamp taken per batch row instead of over the
    whole input: a batch of 80 ms chunks then gives exactly what one call per chunk gives, in one call.
    None when the graph is not the expected one (then chunks run one at a time)."""
    try:
        import onnx
        from onnx import helper
    except ImportError:  # pragma: no cover - onnx is a dependency
        return None
    model = onnx.load(str(path))
    nodes = list(model.graph.node)
    reduce = [n for n in nodes if n.op_type == "ReduceMax"]
    clips = [n for n in nodes if n.op_type == "Clip" and reduce and n.input[0] == reduce[0].input[0]]
    if len(reduce) != 1 or len(clips) != 1 or any(a.name == "axes" for a in reduce[0].attribute) \
            or len(reduce[0].input) != 1:
        return None
    red, clip = reduce[0], clips[0]
    opset = max((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), default=0)
    new_red = (helper.make_node("ReduceMax", [red.input[0]], list(red.output), axes=[1, 2, 3], keepdims=1)
               if opset < 18 else None)
    out: list = []
    for n in nodes:
        if n is red:
            if new_red is None:
                axes = "easy_oww_axes"
                out.append(helper.make_node("Constant", [], [axes], value=helper.make_tensor(
                    axes + "_v", onnx.TensorProto.INT64, [3], [1, 2, 3])))
                out.append(helper.make_node("ReduceMax", [red.input[0], axes], list(red.output), keepdims=1))
            else:
                out.append(new_red)
        elif n is clip:
            floor = "easy_oww_floored"
            out.append(helper.make_node("Max", [clip.input[0], clip.input[1]], [floor if len(clip.input) > 2
                                                                                   and clip.input[2] else clip.output[0]]))
            if len(clip.input) > 2 and clip.input[2]:
                out.append(helper.make_node("Min", [floor, clip.input[2]], [clip.output[0]]))
        else:
            out.append(n)
    del model.graph.node[:]
    model.graph.node.extend(out)
    return model.SerializeToString()


MEL_BATCH = 512  # 80 ms chunks per melspectrogram call


class FeatureExtractor:
    """Runs the two ONNX feature models; thread-safe for one caller at a time."""

    def __init__(self, models: FeatureModels, threads: int | None = None, embed_batch: int = 256) -> None:
        from core.ort_session import onnx_session

        self.models = models
        self._mel = onnx_session(models.melspec, 1)
        batched = per_row_clamp_mel_bytes(models.melspec)
        self._mel_batched = onnx_session(batched, 1) if batched is not None else None
        self.threads = threads or auto_threads()
        self._emb = onnx_session(models.embedding, max(1, self.threads))
        self.embed_batch = embed_batch
        self._lock = threading.Lock()

    # ---- melspectrogram, streamed in 80 ms chunks
    def mel_stream(self, audio: np.ndarray, context: np.ndarray | None = None) -> np.ndarray:
        """Melspectrogram frames (8 per 1280-sample chunk) exactly as openWakeWord streams them.

        ``audio`` holds int16-valued samples (any dtype); its length is cut to whole chunks.
        ``context``: the 480 samples before ``audio`` (zeros if None).
        """
        x = np.asarray(audio, dtype=np.float32)
        n_chunks = len(x) // CHUNK
        ctx = np.zeros(MEL_CONTEXT, np.float32) if context is None else np.asarray(context, np.float32)
        x = np.concatenate([ctx[-MEL_CONTEXT:], x[: n_chunks * CHUNK]])
        out = np.empty((n_chunks * 8, 32), np.float32)
        if self._mel_batched is not None and n_chunks > 1:
            segs = np.lib.stride_tricks.sliding_window_view(x, CHUNK + MEL_CONTEXT)[::CHUNK][:n_chunks]
            for b in range(0, n_chunks, MEL_BATCH):
                batch = np.ascontiguousarray(segs[b : b + MEL_BATCH])
                mel = self._mel_batched.run(None, {"input": batch})[0]  # (B, 1, 8, 32)
                out[b * 8 : (b + len(batch)) * 8] = mel.reshape(-1, 32)
        else:
            run = self._mel.run
            for i in range(n_chunks):
                seg = x[i * CHUNK : i * CHUNK + CHUNK + MEL_CONTEXT][None, :]
                out[i * 8 : i * 8 + 8] = run(None, {"input": seg})[0][0, 0]
        out /= 10.0
        out += 2.0
        return out

    def embed_mel_windows(self, windows: np.ndarray) -> np.ndarray:
        """(W, 76, 32) mel windows -> (W, 96) embeddings, batched."""
        out = np.empty((len(windows), EMB_DIM), np.float32)
        for i in range(0, len(windows), self.embed_batch):
            b = np.ascontiguousarray(windows[i : i + self.embed_batch], dtype=np.float32)[..., None]
            out[i : i + len(b)] = self._emb.run(None, {"input_1": b})[0].reshape(len(b), EMB_DIM)
        return out

    @staticmethod
    def mel_windows(mel: np.ndarray) -> np.ndarray:
        """All 76-frame mel windows ending on a chunk boundary (a strided view, no copy)."""
        if len(mel) < MEL_WINDOW:
            return np.empty((0, MEL_WINDOW, 32), np.float32)
        view = np.lib.stride_tricks.sliding_window_view(mel, MEL_WINDOW, axis=0)  # (F-75, 32, 76)
        ends = np.arange(8, len(mel) + 1, 8)
        ends = ends[ends >= MEL_WINDOW]
        return view[ends - MEL_WINDOW].transpose(0, 2, 1)

    def embed_stream(self, audio: np.ndarray) -> np.ndarray:
        """Embeddings (T, 96) of a long int16-valued stream, each 80 ms frame computed once.

        Frame ``t`` is what a live openWakeWord stream has as its newest embedding after
        chunk ``t + 9`` (the first 9 chunks only fill the 76-frame mel window).
        """
        with self._lock:
            mel = self.mel_stream(audio)
            return self.embed_mel_windows(self.mel_windows(mel))

    def clip_windows(self, windows: np.ndarray) -> np.ndarray:
        """(B, 480 + 32000) int16-valued windows -> (B, 16, 96) features."""
        with self._lock:
            mels = [self.mel_stream(w[MEL_CONTEXT:], context=w[:MEL_CONTEXT]) for w in windows]
            wins = np.concatenate([self.mel_windows(m) for m in mels]) if mels else np.empty((0, 76, 32))
            emb = self.embed_mel_windows(wins)
        return emb.reshape(len(windows), N_FRAMES, EMB_DIM)


def embed_stream(
    audio_16k: np.ndarray, models: FeatureModels | None = None, threads: int | None = None
) -> np.ndarray:
    """(T, 96) embeddings of a long 16 kHz stream (float in [-1, 1] or int16)."""
    from core.assets.feature_models import locate_feature_models

    ext = FeatureExtractor(models or locate_feature_models(None), threads=threads)
    return ext.embed_stream(as_int16_values(audio_16k))


def stream_windows(embeddings: np.ndarray, stride: int = 1) -> np.ndarray:
    """(N, 16, 96) windows sliced from (T, 96) stream embeddings (a read-only view, no re-embedding)."""
    emb = np.asarray(embeddings)
    if emb.ndim != 2 or emb.shape[1] != EMB_DIM:
        raise ValueError(f"expected (T, {EMB_DIM}) embeddings, got {emb.shape}")
    if len(emb) < N_FRAMES:
        return np.empty((0, N_FRAMES, EMB_DIM), emb.dtype)
    view = np.lib.stride_tricks.sliding_window_view(emb, N_FRAMES, axis=0)  # (T-15, 96, 16)
    return view[::stride].transpose(0, 2, 1)


def as_int16_values(audio: np.ndarray) -> np.ndarray:
    """Float audio in [-1, 1] -> int16; int16 passes through."""
    a = np.asarray(audio)
    if a.dtype == np.int16:
        return a
    return (np.clip(a.astype(np.float32), -1.0, 1.0) * 32767.0).round().astype(np.int16)


# --------------------------------------------------------------------------- clip placement
def clip_rng(seed: int, name: str) -> np.random.Generator:
    """A per-clip generator: the same clip gets the same placement in every run and chunking."""
    return np.random.default_rng([int(seed), zlib.crc32(name.encode("utf-8"))])


def speech_end(x: np.ndarray) -> int:
    """Sample index where the clip's sound ends (its length if it is all sound or all silence)."""
    from core.audio.files import speech_bounds

    b = speech_bounds(x.astype(np.float32) / 32768.0, SR)
    return len(x) if b is None else int(b[1])


def place_clip(clip: np.ndarray, rng: np.random.Generator, align: str = "end") -> np.ndarray:
    """Put an int16 clip in a (480 + 32000)-sample window over very low noise.

    ``end``: the clip's sound ends 0-200 ms before the window's end (positives, near misses).
    ``random``: anywhere in the window (a random crop if the clip is longer).
    """
    total = MEL_CONTEXT + WINDOW_SAMPLES
    out = rng.normal(0.0, PAD_NOISE_LSB, total)
    x = np.asarray(clip, dtype=np.float64)
    if align == "end":
        end = speech_end(clip)
        jitter = int(rng.integers(0, int(END_JITTER_S * SR) + 1))
        stop = total - jitter  # where the clip's sound end lands
        start = stop - end
        if start < 0:  # clip longer than the window: keep its end
            x = x[-start:]
            start = 0
        x = x[: total - start]
    else:
        if len(x) > total:
            off = int(rng.integers(0, len(x) - total + 1))
            x = x[off : off + total]
        start = int(rng.integers(0, total - len(x) + 1))
    out[start : start + len(x)] += x
    return np.clip(np.round(out), -32768, 32767).astype(np.float32)


def read_clip_int16(path: Path) -> np.ndarray:
    """Read a clip as int16 mono 16 kHz (converting other formats); clear AudioError if broken."""
    import soundfile as sf

    try:
        info = sf.info(str(path))
        if info.samplerate == SR and info.channels == 1 and info.subtype == "PCM_16":
            data, _ = sf.read(str(path), dtype="int16", always_2d=False)
            if len(data) == 0:
                raise AudioError(f"{path}: the clip holds no audio. Delete it and run the clips phase again.")
            return data
    except (sf.LibsndfileError, RuntimeError) as exc:
        raise AudioError(
            f"{path}: not a readable clip ({exc}). Delete it and run the clips phase again."
        ) from None
    from core.audio.files import load_clip

    return as_int16_values(load_clip(path, SR))


# --------------------------------------------------------------------------- splits
def source_id(path: str | Path) -> str:
    """The clip id an augmented copy was made from (``synth_00042_a0`` -> ``synth_00042``)."""
    return _AUG_SUFFIX.sub("", Path(path).stem)


def is_real(source: str) -> bool:
    return source.startswith("real_")


def assign_splits(sources: Sequence[str], seed: int, fraction: float, salt: str = "") -> dict[str, str]:
    """Map each source clip id to "train" or "val", deterministically.

    Real recordings and other clips are split separately, so real ones land in both splits
    (at least one in each when there are two or more).
    """
    groups: dict[str, list[str]] = {}
    for s in sorted(set(sources)):
        groups.setdefault("real" if is_real(s) else "other", []).append(s)
    out: dict[str, str] = {}
    for group, ids in groups.items():
        rng = np.random.default_rng([int(seed), zlib.crc32(f"{salt}:{group}".encode())])
        order = rng.permutation(len(ids))
        n_val = int(round(len(ids) * fraction))
        if len(ids) >= 2:
            n_val = min(max(n_val, 1), len(ids) - 1)
        else:
            n_val = 0
        val = {ids[i] for i in order[:n_val]}
        for s in ids:
            out[s] = "val" if s in val else "train"
    return out


@dataclass
class FeaturePlan:
    """Which clip goes to which output array, in row order."""

    clips_dir: Path
    rows: dict[str, list[str]]  # "<split>_<class>" -> clip paths relative to clips_dir

    def fingerprint(self, cfg: TrainingConfig) -> str:
        h = hashlib.sha256()
        h.update(json.dumps([FEATURE_VERSION, cfg.seed, cfg.validation_fraction, WINDOW_SAMPLES,
                             STREAM_STRIDE, STREAM_LEAD_S]).encode())
        for key in sorted(self.rows):
            h.update(key.encode())
            for rel in self.rows[key]:
                st = (self.clips_dir / rel).stat()
                h.update(f"{rel}:{st.st_size}:{st.st_mtime_ns}\n".encode())
        return h.hexdigest()[:16]

    @property
    def total(self) -> int:
        return sum(len(v) for v in self.rows.values())


def list_clips(clips_dir: Path) -> dict[str, list[str]]:
    """class -> sorted clip paths (relative to ``clips_dir``) from the clean and augmented folders."""
    out: dict[str, list[str]] = {}
    for cls, folders in CLIP_FOLDERS.items():
        files: list[str] = []
        for folder in folders:
            d = clips_dir / folder
            if d.is_dir():
                files += sorted(f"{folder}/{p.name}" for p in d.glob("*.wav") if not p.name.startswith("."))
        out[cls] = files
    return out


def _once_each(clips_dir: Path, clean: str, augmented: str) -> list[str]:
    """Passages in ``clean`` and ``augmented``, each once: its augmented copy where there is one."""
    aug = sorted(p.name for p in (clips_dir / augmented).glob("*.wav") if not p.name.startswith(".")) \
        if (clips_dir / augmented).is_dir() else []
    replaced = {_AUG_SUFFIX.sub("", Path(n).stem) for n in aug}
    files = sorted(f"{clean}/{p.name}" for p in (clips_dir / clean).glob("*.wav")
                   if not p.name.startswith(".") and p.stem not in replaced) if (clips_dir / clean).is_dir() else []
    return sorted(files + [f"{augmented}/{n}" for n in aug])


def list_streams(clips_dir: Path) -> list[str]:
    """Sorted negative-speech passages (relative to ``clips_dir``), clean and augmented."""
    files: list[str] = []
    for folder in STREAM_FOLDERS:
        d = clips_dir / folder
        if d.is_dir():
            files += sorted(f"{folder}/{p.name}" for p in d.glob("*.wav") if not p.name.startswith("."))
    return files


def plan_features(clips_dir: Path, cfg: TrainingConfig) -> FeaturePlan:
    clips = list_clips(clips_dir)
    clips[STREAM_CLASS] = list_streams(clips_dir)
    rows: dict[str, list[str]] = {f"{s}_{c}": [] for s in SPLITS for c in (*CLASSES, STREAM_CLASS)}
    for cls, files in clips.items():
        split_of = assign_splits([source_id(f) for f in files], cfg.seed, cfg.validation_fraction, salt=cls)
        for f in files:
            rows[f"{split_of[source_id(f)]}_{cls}"].append(f)
    for cls in CLASSES:  # the unseen-voice set: whole streams, never trained on
        if cls == "negative":  # passages: each once
            files = _once_each(clips_dir, f"{UNSEEN_DIR}/{cls}", f"{UNSEEN_DIR}/{cls}_augmented")
        else:  # wake words: clean and in a room / over noise
            files = []
            for folder in (f"{UNSEEN_DIR}/{cls}", f"{UNSEEN_DIR}/{cls}_augmented"):
                d = clips_dir / folder
                if d.is_dir():
                    files += sorted(f"{folder}/{p.name}" for p in d.glob("*.wav") if not p.name.startswith("."))
        if files:
            rows[f"{UNSEEN_PREFIX}{cls}"] = files
    return FeaturePlan(clips_dir, rows)


def is_unseen_key(key: str) -> bool:
    return key.startswith(UNSEEN_PREFIX)


def unseen_padding(seed: int, rel: str, positive: bool) -> tuple[np.ndarray, np.ndarray]:
    """Low noise before and after an unseen-set item (1 s each side of a wake word, as a live stream)."""
    rng = clip_rng(seed, rel)
    lead = rng.normal(0.0, PAD_NOISE_LSB, SR if positive else int(STREAM_LEAD_S * SR))
    tail = rng.normal(0.0, PAD_NOISE_LSB, SR if positive else int(0.5 * SR))
    return lead, tail


def stream_frames(n_samples: int) -> int:
    """How many embeddings :meth:`FeatureExtractor.embed_stream` gives for ``n_samples`` of audio."""
    return max(0, n_samples // CHUNK - 9)


def unseen_item_embeddings(ext: FeatureExtractor, path: Path, seed: int, rel: str, positive: bool) -> np.ndarray:
    """(T, 96) embeddings of one unseen-set item, padded and embedded exactly as a live stream."""
    x = read_clip_int16(path).astype(np.float32)
    lead, tail = unseen_padding(seed, rel, positive)
    audio = np.clip(np.round(np.concatenate([lead, x, tail])), -32768, 32767)
    return ext.embed_stream(audio)


def is_stream_key(key: str) -> bool:
    return key.endswith("_" + STREAM_CLASS)


def stream_file_windows(ext: FeatureExtractor, path: Path, seed: int, rel: str) -> np.ndarray:
    """(N, 16, 96) windows, every STREAM_STRIDE frames, of one passage embedded as a live stream."""
    x = read_clip_int16(path).astype(np.float32)
    rng = clip_rng(seed, rel)
    lead = rng.normal(0.0, PAD_NOISE_LSB, int(STREAM_LEAD_S * SR))
    tail = rng.normal(0.0, PAD_NOISE_LSB, int(0.5 * SR))
    audio = np.clip(np.round(np.concatenate([lead, x, tail])), -32768, 32767)
    emb = ext.embed_stream(audio)
    offset = int(rng.integers(0, STREAM_STRIDE))
    return np.ascontiguousarray(stream_windows(emb[offset:], STREAM_STRIDE), dtype=np.float32)


# --------------------------------------------------------------------------- phase
CHUNK_CLIPS = 128
POOL_MIN_CLIPS = 600  # fewer clips run in-process (worker start-up costs ~2 s)


def compute_chunk(ext: FeatureExtractor, clips_dir: Path, key: str, batch: list[str], seed: int,
                  cancel: threading.Event | None = None) -> np.ndarray:
    """Features of one chunk of ``key``'s files (clips or negative-speech passages); seeded per file."""
    if is_stream_key(key):
        parts = []
        for rel in batch:
            check_cancel(cancel)
            parts.append(stream_file_windows(ext, clips_dir / rel, seed, rel))
        return np.concatenate(parts) if parts else np.empty((0, N_FRAMES, EMB_DIM), np.float32)
    if is_unseen_key(key):
        parts = []
        for rel in batch:
            check_cancel(cancel)
            parts.append(unseen_item_embeddings(ext, clips_dir / rel, seed, rel, key.endswith("_positive")))
        return np.concatenate(parts) if parts else np.empty((0, EMB_DIM), np.float32)
    align_default = "end" if key.endswith("_positive") else None
    feats = np.empty((len(batch), N_FRAMES, EMB_DIM), np.float32)
    for bi in range(0, len(batch), 16):
        check_cancel(cancel)
        wins = []
        for rel in batch[bi : bi + 16]:
            rng = clip_rng(seed, rel)
            align = align_default or ("end" if rng.random() < 0.5 else "random")
            wins.append(place_clip(read_clip_int16(clips_dir / rel), rng, align))
        feats[bi : bi + len(wins)] = ext.clip_windows(np.stack(wins))
    return feats


def _cpus() -> int:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


_WORKER_EXT: FeatureExtractor | None = None


def _init_feature_worker(models: FeatureModels, threads: int) -> None:
    global _WORKER_EXT
    _WORKER_EXT = FeatureExtractor(models, threads=threads)


def _feature_worker_chunk(clips_dir: Path, key: str, batch: list[str], seed: int) -> tuple[np.ndarray, float]:
    assert _WORKER_EXT is not None
    t0 = time.monotonic()
    return compute_chunk(_WORKER_EXT, clips_dir, key, batch, seed), time.monotonic() - t0


def _pool_chunks(models: FeatureModels, threads: int, workers: int, clips_dir: Path,
                 todo: list[tuple[str, Path, list[str]]], seed: int, cancel: threading.Event | None,
                 finish: Any) -> None:
    """Compute ``todo`` chunks in ``workers`` processes; the parent writes each finished chunk.

    Each chunk depends only on its files and the seed, so the result does not depend on the order.
    """
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    ex = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
                             initializer=_init_feature_worker, initargs=(models, threads))
    try:
        it = iter(todo)
        pending: dict[Any, tuple[str, Path, list[str]]] = {}
        for item in it:
            pending[ex.submit(_feature_worker_chunk, clips_dir, item[0], item[2], seed)] = item
            if len(pending) >= workers * 2:
                break
        while pending:
            if cancel is not None and cancel.is_set():
                break
            finished, _ = wait(set(pending), timeout=0.25, return_when=FIRST_COMPLETED)
            for f in finished:
                key, chunk_path, batch = pending.pop(f)
                feats, secs = f.result()
                finish(key, chunk_path, batch, feats, secs)
                nxt = next(it, None)
                if nxt is not None:
                    pending[ex.submit(_feature_worker_chunk, clips_dir, nxt[0], nxt[2], seed)] = nxt
        check_cancel(cancel)
    finally:
        ex.shutdown(wait=True, cancel_futures=True)


def _partial_dir(features_dir: Path) -> Path:
    return features_dir / ".partial"


def features_ready(features_dir: Path) -> dict[str, Any] | None:
    """The manifest of finished features, or None."""
    path = features_dir / "manifest.json"
    if not path.is_file():
        return None
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
    for key in manifest.get("arrays", {}):
        if not (features_dir / f"{key}.npy").is_file():
            return None
    return manifest


def run_feature_phase(
    project: Any, cfg: TrainingConfig, report: Reporter, cancel: threading.Event | None, **kw: Any
) -> dict[str, Any]:
    """Compute features for every clip; resumable chunk by chunk; skips work already done."""
    t0 = time.monotonic()
    clips_dir = project.clips_dir(cfg)
    out_dir = project.features_dir(cfg)
    out_dir.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(out_dir)
    plan = plan_features(clips_dir, cfg)
    for cls in CLASSES:
        if not any(plan.rows[f"{s}_{cls}"] for s in SPLITS):
            raise EasyOWWError(
                f"No {cls} clips in {clips_dir}. Run the clips phase first (`easy-oww train {project.name}`)."
            )
    fp = plan.fingerprint(cfg)
    manifest = features_ready(out_dir)
    report(StageStarted(STAGE, total=plan.total, description="Computing openWakeWord features"))
    if manifest and manifest.get("fingerprint") == fp:
        report(Progress(STAGE, plan.total, plan.total, "features are up to date"))
        report(StageFinished(STAGE, True, "features are up to date", time.monotonic() - t0, "skipped"))
        return {**manifest["arrays_summary"], "skipped": True, "seconds": time.monotonic() - t0}

    models = feature_models_for(project)
    if models.warning:
        warn(report, models.warning, STAGE)
    partial = _partial_dir(out_dir) / fp
    if _partial_dir(out_dir).is_dir():
        for old in _partial_dir(out_dir).iterdir():
            if old.name != fp:
                shutil.rmtree(old, ignore_errors=True)
    partial.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(partial)
    todo: list[tuple[str, Path, list[str]]] = []
    done = 0
    for key, files in plan.rows.items():
        per = STREAM_CHUNK_FILES if is_stream_key(key) or is_unseen_key(key) else CHUNK_CLIPS
        for ci, start in enumerate(range(0, len(files), per)):
            chunk_path = partial / f"{key}_{ci:05d}.npy"
            batch = files[start : start + per]
            if chunk_path.is_file():
                done += len(batch)
            else:
                todo.append((key, chunk_path, batch))
    workers = kw.get("workers")
    n_todo = sum(len(b) for _, _, b in todo)
    if workers is None:
        workers = 2 if _cpus() >= 2 and n_todo >= POOL_MIN_CLIPS else 1
    threads = kw.get("threads") or (1 if workers > 1 else None)
    ext = None if workers > 1 else FeatureExtractor(models, threads=threads)
    stats = {"computed": 0, "t_compute": 0.0, "t_stream": 0.0, "done": done}
    t_phase = time.monotonic()

    def finish(key: str, chunk_path: Path, batch: list[str], feats: np.ndarray, secs: float) -> None:
        with atomic_path(chunk_path) as tmp:
            np.save(tmp, feats, allow_pickle=False)
        stats["done"] += len(batch)
        if is_stream_key(key) or is_unseen_key(key):
            stats["t_stream"] += secs
            msg = f"{key}: {len(feats)} windows from {len(batch)} passages"
        else:
            stats["computed"] += len(batch)
            stats["t_compute"] += secs
            rate = stats["computed"] / max(1e-9, time.monotonic() - t_phase) if workers > 1 else (
                stats["computed"] / stats["t_compute"] if stats["t_compute"] > 0 else 0.0)
            msg = f"{key}: {rate:.0f} clips/s"
        report(Progress(STAGE, stats["done"], plan.total, msg))

    if ext is not None:
        for key, chunk_path, batch in todo:
            tc = time.monotonic()
            feats = compute_chunk(ext, clips_dir, key, batch, cfg.seed, cancel)
            finish(key, chunk_path, batch, feats, time.monotonic() - tc)
    elif todo:
        _pool_chunks(models, threads or 1, workers, clips_dir, todo, cfg.seed, cancel, finish)
    computed, t_compute, t_stream = stats["computed"], stats["t_compute"], stats["t_stream"]
    check_cancel(cancel)
    summary: dict[str, Any] = {}
    shapes: dict[str, list[int]] = {}
    for key, files in plan.rows.items():
        per = STREAM_CHUNK_FILES if is_stream_key(key) or is_unseen_key(key) else CHUNK_CLIPS
        chunks = [partial / f"{key}_{ci:05d}.npy" for ci in range((len(files) + per - 1) // per)]
        n_rows = sum(np.load(c, mmap_mode="r", allow_pickle=False).shape[0] for c in chunks)
        shape = (n_rows, EMB_DIM) if is_unseen_key(key) else (n_rows, N_FRAMES, EMB_DIM)
        with atomic_path(out_dir / f"{key}.npy") as tmp:
            arr = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32, shape=shape)
            row = 0
            for c in chunks:
                part = np.load(c, allow_pickle=False)
                arr[row : row + len(part)] = part
                row += len(part)
            arr.flush()
            del arr
        sidecar: dict[str, Any] = {"files": files, "sources": [source_id(f) for f in files]}
        if is_unseen_key(key):
            positive = key.endswith("_positive")
            lengths = [stream_frames(sum(len(p) for p in unseen_padding(cfg.seed, f, positive))
                                     + _wav_frames(clips_dir / f)) for f in files]
            if sum(lengths) != n_rows:
                raise EasyOWWError(f"features for {key} have {n_rows} frames, expected {sum(lengths)}; "
                                   "delete the features folder and run the features phase again.")
            sidecar["offsets"] = np.concatenate([[0], np.cumsum(lengths)]).astype(int).tolist()
        atomic_write_text(out_dir / f"{key}.json", json.dumps(sidecar))
        summary[key] = n_rows
        shapes[key] = list(shape)
    atomic_write_text(
        out_dir / "manifest.json",
        json.dumps(
            {
                "version": FEATURE_VERSION,
                "fingerprint": fp,
                "arrays": shapes,
                "arrays_summary": summary,
                "feature_models": models.source,
            },
            indent=1,
        ),
    )
    shutil.rmtree(_partial_dir(out_dir), ignore_errors=True)
    seconds = time.monotonic() - t0
    rate = computed / t_compute if t_compute > 0 else 0.0
    log(report, f"features: {computed} clips at {rate:.0f} clips/s ({workers} process(es) x "
        f"{ext.threads if ext is not None else threads} thread(s))", STAGE)
    n_stream = sum(summary.get(f"{s}_{STREAM_CLASS}", 0) for s in SPLITS)
    if t_stream > 0:
        log(report, f"features: {n_stream} negative-speech windows in {t_stream:.0f} s", STAGE)
    report(StageFinished(STAGE, True, f"{plan.total} clips", seconds))
    return {**summary, "skipped": False, "seconds": seconds, "clips_per_second": rate, "computed": computed}


def _wav_frames(path: Path) -> int:
    import soundfile as sf

    return int(sf.info(str(path)).frames)


# --------------------------------------------------------------------------- reading back
def load_features(features_dir: Path, split: str, cls: str) -> np.ndarray:
    """A finished feature array, memory-mapped read-only."""
    path = Path(features_dir) / f"{split}_{cls}.npy"
    if not path.is_file():
        raise EasyOWWError(f"{path} is missing. Run the features phase first (`easy-oww train`).")
    arr = np.load(path, mmap_mode="r", allow_pickle=False)
    if arr.ndim != 3 or arr.shape[1:] != (N_FRAMES, EMB_DIM):
        raise EasyOWWError(
            f"{path}: shape {arr.shape}, expected (N, 16, 96). Delete it and run features again."
        )
    return arr


def load_sidecar(features_dir: Path, split: str, cls: str) -> dict[str, list[str]]:
    """``{"files": [...], "sources": [...]}`` for the rows of one feature array."""
    path = Path(features_dir) / f"{split}_{cls}.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        raise EasyOWWError(
            f"{path} is missing or damaged. Delete the features folder and run features again."
        ) from None
    return data


class FeatureBank:
    """A huge memory-mapped feature file (ACAV100M negatives, validation features); never read whole.

    Accepts (N, 16, 96) windows or a (T, 96) embedding stream (windows made with stride 1).
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        try:
            arr = np.load(self.path, mmap_mode="r", allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise EasyOWWError(
                f"{self.path}: not a readable .npy feature file ({exc}). Delete it and download it again."
            ) from None
        if arr.dtype not in (np.float16, np.float32):
            raise EasyOWWError(
                f"{self.path}: dtype {arr.dtype}, expected float16 or float32 openWakeWord features. "
                "Delete it and download it again."
            )
        if arr.ndim == 3 and arr.shape[1:] == (N_FRAMES, EMB_DIM):
            self.kind = "windows"
        elif arr.ndim == 2 and arr.shape[1] == EMB_DIM and arr.shape[0] >= N_FRAMES:
            self.kind = "stream"
        else:
            raise EasyOWWError(
                f"{self.path}: shape {arr.shape}, expected (N, 16, 96) or (T, 96). Delete it and download it again."
            )
        self.array = arr

    def __len__(self) -> int:
        return self.array.shape[0] if self.kind == "windows" else self.array.shape[0] - N_FRAMES + 1

    def block(self, start: int, n: int) -> np.ndarray:
        """Rows ``start .. start+n`` as float32 (N, 16, 96), read from disk in one contiguous read."""
        start = max(0, min(int(start), len(self) - 1))
        stop = min(len(self), start + int(n))
        if self.kind == "windows":
            return np.asarray(self.array[start:stop], dtype=np.float32)
        emb = np.asarray(self.array[start : stop + N_FRAMES - 1], dtype=np.float32)
        return np.ascontiguousarray(stream_windows(emb))

    def iter_blocks(self, size: int = 8192) -> Iterator[np.ndarray]:
        for s in range(0, len(self), size):
            yield self.block(s, size)


def acav_bank(project: Any) -> FeatureBank | None:
    """The workspace's ACAV100M negative features, when downloaded."""
    path = project.workspace.acav100m_features_path
    return FeatureBank(path) if Path(path).is_file() else None
