"""A wake-word head on a live 16 kHz stream, exactly as ``openwakeword.Model`` runs it, on onnxruntime alone.

openWakeWord's streaming pipeline, reproduced step for step (its package needs tflite-runtime on Linux,
which has no wheels past Python 3.11): int16 audio is buffered into 80 ms (1280-sample) frames; after
each frame the melspectrogram model sees the newest ``frame + 480`` samples (8 new rows, ``x/10 + 2``),
the embedding model sees the newest 76 melspectrogram rows and appends one 96-d embedding to the feature
buffer (which starts with the embeddings of 4 s of random noise), and the head scores the newest 16
embeddings. The first 5 predictions of a stream are reported as 0. Chunks of other sizes are handled
as openWakeWord does (a remainder waits for the next call; several frames at once give their maximum;
chunks are best kept under 8 s, as openWakeWord keeps 10 s of history).

The head is an ``.onnx`` (onnxruntime) or ``.tflite`` (ai-edge-litert, Home Assistant's format) file.
``tests/test_streaming.py`` checks the scores against ``openwakeword.Model`` where that package installs.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np

from core.assets.feature_models import FeatureModels
from core.errors import EasyOWWError
from core.events import check_cancel
from core.ort_session import onnx_session

FRAME = 1280  # 80 ms at 16 kHz
MEL_CONTEXT = 480  # 3 hops of 160 samples before each frame
MEL_WINDOW = 76  # melspectrogram rows per embedding
MEL_ROWS_MAX = 970  # openWakeWord keeps ~10 s of melspectrogram rows
FEATURES_MAX = 120  # and ~10 s of embeddings
RAW_MAX = 160000  # and 10 s of audio
EMB_DIM = 96
IGNORED_PREDICTIONS = 5  # openwakeword.Model reports 0 for a stream's first 5 predictions


def load_head(path: str | Path, threads: int = 1) -> tuple[Callable[[np.ndarray], float], int]:
    """``(score(window (1, N, 96)) -> float, N)`` for an openWakeWord ``.onnx`` or ``.tflite`` head."""
    path = Path(path)
    if not path.is_file():
        raise EasyOWWError(f"No model at {path}. Train and export it first (easy-oww train NAME).")
    suffix = path.suffix.lower()
    if suffix == ".tflite":
        from core.pipeline.p5_export.tflite_export import TFLiteRunner

        runner = TFLiteRunner(path, num_threads=threads)
        shape = runner.input_shape
        if len(shape) != 3 or shape[0] != 1 or shape[2] != EMB_DIM:
            raise EasyOWWError(f"{path.name} takes input {shape}; an openWakeWord head takes (1, N, 96).")
        return runner.predict_one, int(shape[1])
    if suffix != ".onnx":
        raise EasyOWWError(f"{path.name}: an openWakeWord head is an .onnx or .tflite file.")
    try:
        sess = onnx_session(path, threads)
    except Exception as exc:  # onnxruntime raises its own exception types
        raise EasyOWWError(
            f"Cannot load the model {path} ({type(exc).__name__}: {exc}). Export it again (easy-oww export NAME)."
        ) from exc
    inp = sess.get_inputs()[0]
    shape = list(inp.shape)
    if len(shape) != 3 or shape[2] != EMB_DIM:
        raise EasyOWWError(f"{path.name} takes input {shape}; an openWakeWord head takes (batch, N, 96).")
    n_frames = shape[1] if isinstance(shape[1], int) else 16
    name = inp.name

    def score(window: np.ndarray) -> float:
        out = sess.run(None, {name: np.asarray(window, dtype=np.float32)})[0]
        return float(np.asarray(out).reshape(-1)[0])

    return score, int(n_frames)


class StreamingDetector:
    """One wake-word head on a live stream: ``predict(int16 chunk) -> score``, as ``openwakeword.Model``.

    ``seed`` fixes the start-up noise (openWakeWord draws it from ``np.random``; ``seed`` gives the same
    noise as ``np.random.seed(seed)`` there). :meth:`reset` starts a new stream with the same noise.
    Not thread-safe: one stream per object.
    """

    def __init__(self, head_path: str | Path, feature_models: FeatureModels, seed: int = 0,
                 threads: int = 1) -> None:
        self.path = Path(head_path)
        self.name = self.path.stem
        self.score_window, self.n_frames = load_head(self.path, threads)
        self._mel = onnx_session(feature_models.melspec, threads)
        self._emb = onnx_session(feature_models.embedding, threads)
        noise = np.random.RandomState(seed % 2**32).randint(-1000, 1000, 16000 * 4).astype(np.int16)
        self._initial = self._batch_embeddings(noise)
        self._lock = threading.Lock()
        self.reset()

    # ---- the two feature models
    def _melspec(self, x: np.ndarray) -> np.ndarray:
        out = self._mel.run(None, {"input": x.astype(np.float32)[None, :]})[0]
        return np.squeeze(out) / 10.0 + 2.0

    def _embed(self, windows: np.ndarray) -> np.ndarray:
        x = np.asarray(windows, dtype=np.float32)[..., None]
        return self._emb.run(None, {"input_1": x})[0].reshape(len(x), EMB_DIM)

    def _batch_embeddings(self, x: np.ndarray) -> np.ndarray:
        spec = self._melspec(x)
        windows = [spec[i : i + MEL_WINDOW] for i in range(0, spec.shape[0], 8)]
        return self._embed(np.array([w for w in windows if w.shape[0] == MEL_WINDOW]))

    # ---- the stream
    def reset(self) -> None:
        """Start a new stream (empty audio buffers, the start-up feature buffer, no predictions yet)."""
        self._raw = np.zeros(0, np.int16)  # the newest samples (enough for the next melspectrogram)
        self._remainder = np.zeros(0, np.int16)
        self._accumulated = 0
        self._mel_rows = np.ones((MEL_WINDOW, 32), np.float64)
        self._features = self._initial.copy()
        self._predictions = 0
        self._last = 0.0

    def _add_audio(self, x: np.ndarray) -> int:
        """openWakeWord's ``AudioFeatures._streaming_features``: samples made into features (or waiting)."""
        if len(self._remainder):
            x = np.concatenate([self._remainder, x])
            self._remainder = np.zeros(0, np.int16)
        if self._accumulated + len(x) >= FRAME:
            rest = (self._accumulated + len(x)) % FRAME
            even = x[: len(x) - rest]
            self._remainder = x[len(x) - rest :] if rest else np.zeros(0, np.int16)
        else:
            even = x
        self._raw = np.concatenate([self._raw, even])
        self._accumulated += len(even)
        if self._accumulated < FRAME or self._accumulated % FRAME:
            return self._accumulated
        n = self._accumulated
        spec = self._melspec(self._raw[-(n + MEL_CONTEXT) :][-RAW_MAX:])
        self._raw = self._raw[-MEL_CONTEXT:]
        self._mel_rows = np.vstack([self._mel_rows, spec])[-MEL_ROWS_MAX:]
        for i in range(n // FRAME - 1, -1, -1):
            end = len(self._mel_rows) - 8 * i
            if end < MEL_WINDOW:  # older than the rows kept (a chunk of 10 s or more)
                continue
            self._features = np.vstack([self._features, self._embed(self._mel_rows[end - MEL_WINDOW : end][None])])
        self._accumulated = 0
        self._features = self._features[-FEATURES_MAX:]
        return n

    def _window(self, end: int) -> np.ndarray:
        """The ``n_frames`` embeddings ending ``end`` rows before the newest (0: the newest)."""
        stop = len(self._features) - end
        return self._features[stop - self.n_frames : stop][None].astype(np.float32)

    def predict(self, chunk: np.ndarray) -> float:
        """Feed int16 audio (ideally one 1280-sample frame); the head's score now."""
        x = np.asarray(chunk)
        if x.dtype != np.int16:
            raise EasyOWWError(f"Audio must be 16-bit PCM (int16) at 16 kHz, got {x.dtype}.")
        with self._lock:
            n = self._add_audio(x.reshape(-1))
            if n > FRAME:  # several frames at once: the best of their windows (those still kept)
                windows = min(n // FRAME, len(self._features) - self.n_frames + 1)
                score = max(self.score_window(self._window(i)) for i in range(windows))
            elif n == FRAME:
                score = self.score_window(self._window(0))
            else:  # not a whole frame yet: the last reported score
                score = self._last
            reported = 0.0 if self._predictions < IGNORED_PREDICTIONS else score
            self._last = reported
            self._predictions += 1
            return reported

    def scores(self, audio: np.ndarray, cancel: threading.Event | None = None) -> np.ndarray:
        """Per-frame scores of int16 ``audio`` fed in 1280-sample frames (a trailing partial frame is dropped)."""
        audio = np.asarray(audio, dtype=np.int16)
        n = len(audio) // FRAME
        out = np.empty(n, np.float32)
        for i in range(n):
            if i % 256 == 0:
                check_cancel(cancel)
            out[i] = self.predict(audio[i * FRAME : (i + 1) * FRAME])
        return out
