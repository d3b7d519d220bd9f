"""openWakeWord's features, computed the way a live stream computes them: 80 ms chunks -> melspectrogram (with its 480-sample context) -> 76-frame windows -> the speech embedding -> (16, 96) per 1.28 s.

The results equal a live stream's exactly; the work is batched: many chunks per melspectrogram call, and the
embedding model run over whole stretches of frames, so overlapping windows share their convolutions."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np

from core.assets.feature_models import FeatureModels
from core.pool import cpu_count

SR = 16000


CHUNK = 1280  # 80 ms: one embedding frame per chunk


MEL_CONTEXT = 480  # samples of history each chunk's melspectrogram sees (openWakeWord streaming)


N_FRAMES = 16


EMB_DIM = 96


MEL_WINDOW = 76  # mel frames per embedding


WINDOW_SAMPLES = 32000  # 2 s -> 25 chunks -> 16 embeddings


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

    cpus = cpu_count()
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


def sequence_embedding_bytes(path: Path) -> bytes | None:
    """openWakeWord's speech-embedding model made to take any number of mel frames at once.

    The model is convolutional in time: every time kernel is unpadded and its pools halve time three times, so
    over ``76 + 8 k`` frames it gives ``k + 1`` embeddings, one per 80 ms chunk, each exactly what the 76-frame
    window ending there gives alone. Overlapping windows then share their convolutions instead of each computing
    all 76 frames (5-9x fewer operations). Only the input and output reshapes change: (B, L, 32, 1) in,
    (B, T, 96, 1) out. None when the graph is not the expected one (then windows run one by one).
    """
    try:
        import onnx
        from onnx import TensorProto, helper
    except ImportError:  # pragma: no cover - onnx is a dependency
        return None
    model = onnx.load(str(path))
    g = model.graph
    nodes = list(g.node)
    if (len(g.input) != 1 or len(g.output) != 1 or len(nodes) < 3 or nodes[0].op_type != "Reshape"
            or nodes[-1].op_type != "Reshape" or nodes[0].input[0] != g.input[0].name
            or nodes[-1].output[0] != g.output[0].name
            or any(n.op_type not in _SEQUENCE_OPS for n in nodes[1:-1])):
        return None
    dims = g.input[0].type.tensor_type.shape.dim
    if len(dims) != 4:
        return None
    out_name = "easy_oww_sequence"
    first = helper.make_node("Transpose", [nodes[0].input[0]], list(nodes[0].output), perm=[0, 3, 1, 2])
    last = helper.make_node("Transpose", [nodes[-1].input[0]], [out_name], perm=[0, 2, 1, 3])
    del g.node[:]
    g.node.extend([first, *nodes[1:-1], last])
    shapes = {nodes[0].input[1], nodes[-1].input[1]}
    for init in [i for i in g.initializer if i.name in shapes]:
        g.initializer.remove(init)
    del g.value_info[:]
    dims[1].dim_param = "frames"
    g.output.remove(g.output[0])
    g.output.append(helper.make_tensor_value_info(out_name, TensorProto.FLOAT, ["batch", "embeddings", EMB_DIM, 1]))
    return model.SerializeToString()


_SEQUENCE_OPS = {"Conv", "LeakyRelu", "Max", "MaxPool", "Relu", "Clip", "Add", "Mul"}  # time-local, no reshapes


SEQUENCE_WINDOWS = 64  # embeddings per sequence call (their frames overlap by 68)


def window_ends(n_frames: int) -> np.ndarray:
    """Ends of the 76-frame mel windows in ``n_frames`` frames that fall on a chunk boundary: one per embedding."""
    ends = np.arange(8, n_frames + 1, 8)
    return ends[ends >= MEL_WINDOW]


def chunk_segments(x: np.ndarray, n_chunks: int) -> np.ndarray:
    """The first ``n_chunks`` 80 ms chunks along ``x``'s last axis, each with its 480 samples of context before it
    (``x`` starts with that context): a strided view, ``(..., n_chunks, 1760)``."""
    view = np.lib.stride_tricks.sliding_window_view(x, CHUNK + MEL_CONTEXT, axis=-1)
    return view[..., ::CHUNK, :][..., :n_chunks, :]


MEL_BATCH = 512  # 80 ms chunks per melspectrogram call


EMBED_BATCH = 16  # mel windows per embedding call: small batches keep the conv activations in cache (identical
# output; 1.3x the frames per second of 256 for one thread, 5 % off the whole features phase: bench/README.md, session 21)


class FeatureExtractor:
    """Runs the two ONNX feature models; thread-safe for one caller at a time."""

    def __init__(self, models: FeatureModels, threads: int | None = None, embed_batch: int = EMBED_BATCH) -> None:
        from core.ort_session import onnx_session

        self.models = models
        self._mel = onnx_session(models.melspec, 1)
        batched = per_row_clamp_mel_bytes(models.melspec)
        self._mel_batched = onnx_session(batched, 1) if batched is not None else None
        self.threads = threads or auto_threads()
        self._emb = onnx_session(models.embedding, max(1, self.threads))
        self.embed_batch = embed_batch
        self._lock = threading.Lock()
        sequence = sequence_embedding_bytes(models.embedding)
        self._emb_seq = onnx_session(sequence, max(1, self.threads)) if sequence is not None else None
        if self._emb_seq is not None and not self._sequence_agrees():
            self._emb_seq = None

    def _sequence_agrees(self) -> bool:
        """The sequence model gives what the window model gives (checked once, on a made-up melspectrogram)."""
        rng = np.random.default_rng(0)
        mel = (rng.standard_normal((MEL_WINDOW + 8 * 5 + 4, 32)) * 2 + 1).astype(np.float32)
        try:
            seq = self.embed_mel_sequence(mel)
        except Exception:  # noqa: BLE001 - any failure means: use the window model
            return False
        ref = self.embed_mel_windows(self.mel_windows(mel))
        return seq.shape == ref.shape and bool(np.allclose(seq, ref, atol=1e-4))

    def embed_mel_sequence(self, mel: np.ndarray) -> np.ndarray:
        """``embed_mel_windows(mel_windows(mel))`` computed in overlapping stretches by the sequence model."""
        if self._emb_seq is None:
            return self.embed_mel_windows(self.mel_windows(mel))
        ends = window_ends(len(mel))
        out = np.empty((len(ends), EMB_DIM), np.float32)
        for i in range(0, len(ends), SEQUENCE_WINDOWS):
            e = ends[i : i + SEQUENCE_WINDOWS]
            x = np.ascontiguousarray(mel[e[0] - MEL_WINDOW : e[-1]], dtype=np.float32)[None, :, :, None]
            out[i : i + len(e)] = self._emb_seq.run(None, {"input_1": x})[0][0, :, :, 0]
        return out

    def embed_mel_clips(self, mels: np.ndarray) -> np.ndarray:
        """(B, F, 32) melspectrograms of equal length -> (B, W, 96): every chunk-end window of each, batched."""
        if len(mels) == 0:
            return np.empty((0, N_FRAMES, EMB_DIM), np.float32)
        if self._emb_seq is None:
            wins = np.concatenate([self.mel_windows(m) for m in mels])
            return self.embed_mel_windows(wins).reshape(len(mels), -1, EMB_DIM)
        ends = window_ends(mels.shape[1])
        if len(ends) == 0:
            return np.empty((len(mels), 0, EMB_DIM), np.float32)
        x = np.ascontiguousarray(mels[:, ends[0] - MEL_WINDOW : ends[-1]], dtype=np.float32)[..., None]
        out = np.empty((len(mels), len(ends), EMB_DIM), np.float32)
        for i in range(0, len(x), self.embed_batch):
            out[i : i + self.embed_batch] = self._emb_seq.run(None, {"input_1": x[i : i + self.embed_batch]})[0][..., 0]
        return out

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
            segs = chunk_segments(x, n_chunks)
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

    def mel_clips(self, windows: np.ndarray) -> np.ndarray:
        """(B, 480 + N) int16-valued windows (480 samples of context each) -> (B, 8 N / 1280, 32), as
        :meth:`mel_stream` gives for each, with every clip's chunks in one melspectrogram call."""
        x = np.asarray(windows, dtype=np.float32)
        if len(x) == 0:
            return np.empty((0, 0, 32), np.float32)
        n_chunks = (x.shape[1] - MEL_CONTEXT) // CHUNK
        if self._mel_batched is None or n_chunks < 1 or len(x) * n_chunks > MEL_BATCH:
            return np.stack([self.mel_stream(w[MEL_CONTEXT:], context=w[:MEL_CONTEXT]) for w in x])
        batch = np.ascontiguousarray(chunk_segments(x, n_chunks).reshape(-1, CHUNK + MEL_CONTEXT))
        mel = self._mel_batched.run(None, {"input": batch})[0].reshape(len(x), n_chunks * 8, 32)
        mel /= 10.0
        mel += 2.0
        return mel

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
        return view[window_ends(len(mel)) - MEL_WINDOW].transpose(0, 2, 1)

    def embed_stream(self, audio: np.ndarray) -> np.ndarray:
        """Embeddings (T, 96) of a long int16-valued stream, each 80 ms frame computed once.

        Frame ``t`` is what a live openWakeWord stream has as its newest embedding after
        chunk ``t + 9`` (the first 9 chunks only fill the 76-frame mel window).
        """
        with self._lock:
            return self.embed_mel_sequence(self.mel_stream(audio))

    def clip_windows(self, windows: np.ndarray) -> np.ndarray:
        """(B, 480 + 32000) int16-valued windows -> (B, 16, 96) features."""
        with self._lock:
            emb = self.embed_mel_clips(self.mel_clips(windows))
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
