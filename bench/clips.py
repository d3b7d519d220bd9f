"""Clip pipeline throughput: recordings, synthesis, negatives, augmentation vs raw libraries.

    python bench/clips.py            # ~1-2 minutes on 2 cores
    python bench/clips.py --quick    # smaller counts

Prints clips/s for each phase beside the seed's documented speeds (recordings 10/s,
synthesis 2/s, augmentation 20/s) and the bare-library throughput, with ratios.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.audio.files import load_clip  # noqa: E402
from core.audio.tts import PiperTTS, bundled_voice  # noqa: E402
from core.pipeline.p1_clips.generator import ClipGenerator  # noqa: E402
from core.pipeline.p2_augmentation.augment import AudioAugmenter  # noqa: E402

JOE = "en_US-joe-medium"
SEED_SPEED = {"recordings": 10.0, "synthesis": 2.0, "negatives": 2.0, "augmentation": 20.0}


def fake_recordings(folder: Path, n: int) -> None:
    """44.1 kHz stereo takes: quiet noise, a tone burst with harmonics, noise again."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    sr = 44100
    t = np.arange(int(0.7 * sr)) / sr
    for i in range(n):
        f0 = 120 + 10 * (i % 10)
        burst = sum(np.sin(2 * np.pi * f0 * k * t) / k for k in range(1, 6)) * np.hanning(len(t)) * 0.4
        x = np.concatenate([rng.standard_normal(int(0.4 * sr)) * 0.003, burst, rng.standard_normal(int(0.4 * sr)) * 0.003])
        sf.write(folder / f"take_{i:04d}.wav", np.stack([x, x * 0.9], 1), sr, subtype="PCM_16")


def timed(fn, *a, **k) -> tuple[float, object]:
    t0 = time.perf_counter()
    out = fn(*a, **k)
    return time.perf_counter() - t0, out


def raw_piper(n: int, threads: int | None, jobs: list | None = None) -> float:
    """Bare PiperVoice synthesize loop (onnxruntime threads as given): n x 'hey jarvis' at default prosody,
    or, given easy-oww's planned ``jobs``, the same texts and prosody (the same work, nothing written)."""
    import json

    import onnxruntime as ort
    from piper import PiperVoice
    from piper.config import PiperConfig, SynthesisConfig

    model, config = bundled_voice()
    opts = ort.SessionOptions()
    if threads:
        opts.intra_op_num_threads = threads
    voice = PiperVoice(config=PiperConfig.from_dict(json.loads(config.read_text())),
                       session=ort.InferenceSession(str(model), sess_options=opts, providers=["CPUExecutionProvider"]))
    for _ in range(3):
        list(voice.synthesize("hey jarvis"))
    t0 = time.perf_counter()
    if jobs:
        for j in jobs[:n]:
            list(voice.synthesize(j.text, SynthesisConfig(length_scale=j.length_scale, noise_scale=j.noise_scale,
                                                          noise_w_scale=j.noise_w)))
        return min(n, len(jobs)) / (time.perf_counter() - t0)
    for _ in range(n):
        list(voice.synthesize("hey jarvis"))
    return n / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    n_rec, n_syn, n_aug = (60, 40, 200) if args.quick else (200, 160, 600)
    n_joe = 40 if args.quick else 480  # enough clips that the pool's start-up (~2 s) weighs as in a real run
    rows: list[tuple[str, float, float | None, str]] = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        print(f"cpus: {len(os.sched_getaffinity(0))}, load average: {os.getloadavg()[0]:.1f}")

        # 1. real recordings
        fake_recordings(root / "rec", n_rec)
        gen = ClipGenerator(root / "rec", root / "clips")
        s, res = timed(gen.process_real_recordings)
        assert res["total"] == n_rec, res
        rows.append(("recordings 44.1k stereo -> clip", n_rec / s, SEED_SPEED["recordings"], ""))

        # 2. synthesis (joe only): in-process 2 threads vs pool of 2 x 1 thread
        tts = PiperTTS(include_espeak=False, threads=2)
        raw2 = raw_piper(n_syn // 2, 2)
        raw1 = raw_piper(n_syn // 2, 1)
        plan = ClipGenerator(root / "rec", root / "plan", seed=1).plan_synthetic_clips(
            "hey jarvis", [tts.get_voice(JOE)], n_joe)
        same = raw_piper(n_joe, 2, plan)
        rows.append(("raw PiperVoice loop, 2 threads", raw2, None, ""))
        rows.append(("raw PiperVoice loop, 1 thread", raw1, None, ""))
        rows.append(("raw PiperVoice loop, same texts+prosody, 2 thr", same, None, ""))
        for workers in (1, 2):
            g = ClipGenerator(root / "rec", root / f"syn{workers}", seed=1, workers=workers)
            s, res = timed(g.generate_synthetic_clips, "hey jarvis", [JOE], tts, n_joe)
            label = "1 process x 2 threads" if workers == 1 else "2 processes x 1 thread"
            rows.append((f"synthesis joe, {label}", n_joe / s, SEED_SPEED["synthesis"],
                         f"{n_joe / s / raw2:.2f}x raw(2 thr), {n_joe / s / same:.2f}x same work"))
        all_voices = PiperTTS(threads=2)
        if len(all_voices.list_voices()) > 1:
            g = ClipGenerator(root / "rec", root / "synall", seed=1)
            s, res = timed(g.generate_synthetic_clips, "hey jarvis", all_voices.list_voices(), all_voices, n_syn)
            rows.append((f"synthesis joe+espeak ({len(res['voices'])} voices), auto", n_syn / s,
                         SEED_SPEED["synthesis"], ""))

        # 3. negatives (adversarial TTS + noise), default voices, auto workers
        g = ClipGenerator(root / "rec", root / "neg", seed=1)
        s, res = timed(g.generate_negative_clips, "hey jarvis", all_voices, n_syn, None)
        rows.append(("negatives (near-miss TTS + noise), auto", n_syn / s, SEED_SPEED["negatives"], ""))

        # 4. augmentation
        t0 = time.perf_counter()
        aug = AudioAugmenter(seed=0, rir_bank_path=root / "bank.npy", n_rooms=40,
                             speech_dir=g.negative_dir)
        build = time.perf_counter() - t0
        rows.append(("simulate 40 rooms (once, cached)", 40 / build, None, f"{build:.1f} s total"))
        sources = sorted((root / "syn1" / "positive").glob("*.wav"))
        inputs = (sources * (n_aug // len(sources) + 1))[:n_aug]
        # distinct names so every input is its own clip
        src_dir = root / "augsrc"
        src_dir.mkdir()
        for i, p in enumerate(inputs):
            os.link(p, src_dir / f"c_{i:05d}.wav")
        inputs = sorted(src_dir.glob("*.wav"))
        s, res = timed(aug.augment_clips, inputs, root / "augout", 1)
        rows.append(("augment_clips (read+augment+write)", n_aug / s, SEED_SPEED["augmentation"], ""))
        x = load_clip(inputs[0])
        rng = np.random.default_rng(0)
        for name, fn in [
            ("bare augment(), default probabilities", lambda: aug.augment(x, rng=rng)),
            ("bare room (RIR) convolution", lambda: aug.apply_rir(x, rng)),
            ("bare noise mix", lambda: aug.add_noise(x, rng)),
            ("bare pitch +1.5 st (soxr + phase vocoder)", lambda: aug.change_pitch_tempo(x, 1.5, 1.0)),
            ("bare time stretch 1.08x", lambda: aug.change_pitch_tempo(x, 0.0, 1.08)),
        ]:
            fn()
            t0 = time.perf_counter()
            k = 200
            for _ in range(k):
                fn()
            rows.append((name, k / (time.perf_counter() - t0), None, ""))

    print(f"{'phase':50s} {'clips/s':>9s} {'seed':>6s} {'ratio':>7s}  note")
    for name, rate, seed, note in rows:
        ratio = f"{rate / seed:6.1f}x" if seed else ""
        seed_s = f"{seed:6.0f}" if seed else ""
        print(f"{name:50s} {rate:9.1f} {seed_s:>6s} {ratio:>7s}  {note}")


if __name__ == "__main__":
    main()
