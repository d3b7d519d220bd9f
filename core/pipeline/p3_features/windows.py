"""What each item embeds to: a clip placed in a 2 s window over very low noise (speech end jittered), an unseen-voice item with its padding, a negative-speech passage as a stream sliced into windows; compute_chunk does a batch."""

from __future__ import annotations

import threading
import zlib
from pathlib import Path

import numpy as np

from core.errors import AudioError
from core.events import check_cancel
from core.pipeline.p3_features.embedder import (
    CHUNK,
    EMB_DIM,
    MEL_CONTEXT,
    N_FRAMES,
    SR,
    WINDOW_SAMPLES,
    FeatureExtractor,
    as_int16_values,
    stream_windows,
)
from core.pipeline.p3_features.plan import (
    STREAM_LEAD_S,
    STREAM_STRIDE,
    is_stream_key,
    is_unseen_key,
)

PAD_NOISE_LSB = 3.0  # std of the very low noise (int16 units, about -80 dBFS) under every window


END_JITTER_S = 0.2


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


def unseen_padding(seed: int, rel: str, positive: bool) -> tuple[np.ndarray, np.ndarray]:
    """Low noise before and after an unseen-set item (1 s each side of a wake word, as a live stream).

    Copies in a room or over noise (``*_augmented/``) get none: they carry their own second of that room and
    noise each side, and a jump from near-silence into a noisy room, which no microphone in a home hears, would
    be measured as a false accept of the model."""
    if "_augmented/" in rel.replace("\\", "/"):
        return np.zeros(0), np.zeros(0)
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
