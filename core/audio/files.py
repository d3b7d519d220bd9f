"""Audio I/O and the clip shaping every source goes through.

Read anything soundfile reads, downmix, resample to 16 kHz, trim silence,
normalise, fit to the clip length keeping the speech, and write 16-bit PCM WAV
atomically.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np
import soundfile as sf

from core.errors import AudioError
from core.fsutil import atomic_path

SAMPLE_RATE = 16000
MAX_SECONDS_DEFAULT = 600.0
_FRAME_MS = 10


def read_audio(path: str | Path, max_seconds: float | None = MAX_SECONDS_DEFAULT) -> tuple[np.ndarray, int]:
    """Read a file as float32, shape (samples,) or (samples, channels); errors name the file."""
    path = Path(path)
    if not path.is_file():
        raise AudioError(f"{path}: file not found.")
    try:
        info = sf.info(str(path))
    except (sf.LibsndfileError, RuntimeError, OSError) as exc:
        raise AudioError(
            f"{path}: not a readable audio file ({_short(exc)}). Re-export it as WAV (16-bit PCM) and try again."
        ) from None
    if info.frames <= 0:
        raise AudioError(f"{path}: the file holds no audio (0 samples). Record or export it again.")
    if info.samplerate < 4000 or info.samplerate > 384000:
        raise AudioError(
            f"{path}: sample rate {info.samplerate} Hz is not usable; record at 16 kHz or more (16000-48000 Hz)."
        )
    if max_seconds is not None and info.frames / info.samplerate > max_seconds:
        raise AudioError(
            f"{path}: {info.frames / info.samplerate:.0f} s long; clips must be under {max_seconds:.0f} s. "
            "Cut the recording into short takes."
        )
    try:
        data, sr = sf.read(str(path), dtype="float32", always_2d=False)
    except (sf.LibsndfileError, RuntimeError, OSError) as exc:
        raise AudioError(f"{path}: the audio data is damaged ({_short(exc)}). Record or export it again.") from None
    if data.size == 0:
        raise AudioError(f"{path}: the file holds no audio (0 samples). Record or export it again.")
    if not np.all(np.isfinite(data)):
        raise AudioError(f"{path}: contains NaN or infinite samples; re-export it as 16-bit PCM WAV.")
    return data, int(sr)


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:160]


def to_mono(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    if x.ndim == 2:
        x = x.mean(axis=1, dtype=np.float32)
    return np.ascontiguousarray(x)


def resample(x: np.ndarray, sr_in: int, sr_out: int = SAMPLE_RATE) -> np.ndarray:
    """High-quality resampling (soxr); returns float32."""
    if sr_in == sr_out:
        return np.asarray(x, dtype=np.float32)
    import soxr

    return soxr.resample(np.asarray(x, dtype=np.float32), sr_in, sr_out).astype(np.float32, copy=False)


def frame_rms_db(x: np.ndarray, sr: int, frame_ms: int = _FRAME_MS) -> np.ndarray:
    n = max(1, int(sr * frame_ms / 1000))
    frames = len(x) // n
    if frames == 0:
        return np.array([_db(np.sqrt(np.mean(np.square(x)))) if len(x) else -120.0])
    f = x[: frames * n].reshape(frames, n)
    rms = np.sqrt(np.mean(np.square(f, dtype=np.float64), axis=1))
    return 20 * np.log10(np.maximum(rms, 1e-6))


def _db(v: float) -> float:
    return float(20 * np.log10(max(float(v), 1e-6)))


def speech_bounds(
    x: np.ndarray, sr: int, top_db: float = 35.0, floor_db: float = -60.0, pad_ms: int = 50
) -> tuple[int, int] | None:
    """(start, end) sample indices of the non-silent part, or None if all silent.

    A frame counts as sound when it is within ``top_db`` of the loudest frame and above
    the absolute ``floor_db``.
    """
    db = frame_rms_db(x, sr)
    peak = float(db.max())
    if peak < floor_db:
        return None
    active = np.flatnonzero(db >= max(peak - top_db, floor_db))
    n = max(1, int(sr * _FRAME_MS / 1000))
    pad = int(sr * pad_ms / 1000)
    start = max(0, int(active[0]) * n - pad)
    end = min(len(x), (int(active[-1]) + 1) * n + pad)
    return start, end


def trim_silence(x: np.ndarray, sr: int, top_db: float = 35.0) -> np.ndarray:
    bounds = speech_bounds(x, sr, top_db=top_db)
    if bounds is None:
        return x[:0]
    return x[bounds[0] : bounds[1]]


def normalize(x: np.ndarray, peak_dbfs: float = -1.0) -> np.ndarray:
    peak = float(np.max(np.abs(x))) if len(x) else 0.0
    if peak <= 1e-6:
        return x.astype(np.float32, copy=True)
    return (x * (10 ** (peak_dbfs / 20) / peak)).astype(np.float32)


def fit_length(x: np.ndarray, n: int, align: str = "center", rng: np.random.Generator | None = None) -> np.ndarray:
    """Trim or zero-pad to exactly ``n`` samples.

    Longer input keeps the loudest ``n``-sample window (the speech). Shorter input is
    padded: ``center`` centres it, ``end`` puts it at the end, ``random`` at a random offset.
    """
    x = np.asarray(x, dtype=np.float32)
    if len(x) == n:
        return x.copy()
    if len(x) > n:
        energy = np.concatenate([[0.0], np.cumsum(np.square(x, dtype=np.float64))])
        window = energy[n:] - energy[:-n]
        start = int(np.argmax(window))
        return x[start : start + n].copy()
    out = np.zeros(n, dtype=np.float32)
    room = n - len(x)
    if align == "end":
        off = room
    elif align == "random":
        off = int((rng or np.random.default_rng()).integers(0, room + 1))
    else:
        off = room // 2
    out[off : off + len(x)] = x
    return out


def to_int16(x: np.ndarray) -> np.ndarray:
    return (np.clip(x, -1.0, 1.0) * 32767.0).round().astype(np.int16)


def write_wav(path: str | Path, x: np.ndarray, sr: int = SAMPLE_RATE) -> Path:
    """Write mono 16-bit PCM WAV atomically (temp file + rename)."""
    path = Path(path)
    data = x if x.dtype == np.int16 else to_int16(x)
    with atomic_path(path) as tmp:
        sf.write(str(tmp), data, sr, subtype="PCM_16", format="WAV")
    return path


def load_clip(path: str | Path, sr: int = SAMPLE_RATE) -> np.ndarray:
    """Read a clip as mono float32 at ``sr`` (resampling if needed)."""
    data, file_sr = read_audio(path)
    return resample(to_mono(data), file_sr, sr)


def prepare_clip(
    x: np.ndarray, sr: int, clip_samples: int, source: str = "audio", top_db: float = 35.0
) -> np.ndarray:
    """Mono 16 kHz -> trimmed -> normalised -> fitted clip; AudioError if there is no sound."""
    mono = resample(to_mono(x), sr, SAMPLE_RATE)
    trimmed = trim_silence(mono, SAMPLE_RATE, top_db=top_db)
    if len(trimmed) < int(0.05 * SAMPLE_RATE):
        raise AudioError(f"{source}: silent (no sound above -60 dBFS). Record it again closer to the microphone.")
    return fit_length(normalize(trimmed), clip_samples)


def process_file(in_path: str | Path, out_path: str | Path, clip_duration_ms: int = 1000) -> Path:
    """Read any audio file and write the training clip for it."""
    data, sr = read_audio(in_path)
    clip = prepare_clip(data, sr, int(SAMPLE_RATE * clip_duration_ms / 1000), source=str(in_path))
    return write_wav(out_path, clip)


def clipping_fraction(x: np.ndarray, threshold: float = 0.999) -> float:
    return float(np.mean(np.abs(x) >= threshold)) if len(x) else 0.0


AUDIO_EXTS = frozenset({".wav", ".flac", ".ogg", ".mp3", ".aiff", ".aif", ".opus"})


def audio_files(folders: Iterable[str | Path | None], limit: int | None = None) -> list[Path]:
    """Audio files (by extension, hidden files skipped) under each folder that exists, sorted per folder."""
    files: list[Path] = []
    for folder in folders:
        if folder and Path(folder).is_dir():
            files += sorted(p for p in Path(folder).rglob("*") if p.suffix.lower() in AUDIO_EXTS
                            and p.is_file() and not p.name.startswith("."))
    return files if limit is None else files[:limit]
