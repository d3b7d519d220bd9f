"""Room impulse responses: simulated rooms (pyroomacoustics, built once and cached as a bank) or downloaded ones, trimmed and normalised."""

from __future__ import annotations

from pathlib import Path
from threading import Event

import numpy as np

from core.audio.files import (
    SAMPLE_RATE,
)
from core.errors import EasyOWWError
from core.events import Progress, Reporter, check_cancel, null_report

PHASE = "augmentation"
MAX_RIR_SECONDS = 1.0


def prepare_rir(r: np.ndarray, sr: int = SAMPLE_RATE) -> np.ndarray | None:
    """Direct path at sample 0, at most 1 s long, unit energy; None if unusable."""
    r = np.asarray(r, dtype=np.float64)
    if r.size == 0 or not np.all(np.isfinite(r)):
        return None
    start = max(0, int(np.argmax(np.abs(r))) - int(0.001 * sr))
    r = r[start : start + int(MAX_RIR_SECONDS * sr)]
    energy = float(np.sqrt(np.sum(r**2)))
    if energy < 1e-9:
        return None
    return (r / energy).astype(np.float32)


def _seed_ray_tracing(pra: object, seed: int, room: int) -> None:
    """Seed pyroomacoustics' own random generators (its ray tracer draws rays from them) for one room, so a
    project's rooms, and every augmented clip made with them, are the same on every run. An installed version
    with neither seeding call (older releases) still gives other rooms on each run."""
    value = int(np.random.default_rng([seed, 43, room]).integers(2**63))
    rand = getattr(pra, "random", None)
    if rand is not None and hasattr(rand, "seed"):
        rand.seed(numpy=value, libroom=value)
        return
    set_seed = getattr(getattr(pra, "libroom", None), "set_rng_seed", None)
    if set_seed is not None:
        set_seed(value)


def simulate_rirs(n_rooms: int, seed: int = 0, sr: int = SAMPLE_RATE,
                  report: Reporter = null_report, cancel: Event | None = None) -> np.ndarray:
    """A bank (n_rooms, samples) of simulated room impulse responses (hybrid ISM + ray tracing), the same for
    the same seed."""
    import pyroomacoustics as pra

    rng = np.random.default_rng([seed, 41])
    rirs: list[np.ndarray] = []
    tries = 0
    while len(rirs) < n_rooms and tries < n_rooms * 4:
        check_cancel(cancel)
        tries += 1
        dim = np.array([rng.uniform(2.5, 12.0), rng.uniform(2.5, 9.0), rng.uniform(2.3, 4.0)])
        rt60 = rng.uniform(0.15, 0.9)
        try:
            absorption, _ = pra.inverse_sabine(rt60, dim)
        except ValueError:  # that reverberation time is impossible in this room
            continue
        room = pra.ShoeBox(dim, fs=sr, materials=pra.Material(float(absorption)), max_order=3,
                           ray_tracing=True, air_absorption=True)
        room.set_ray_tracing(receiver_radius=0.5, n_rays=4000, energy_thres=1e-5)
        src = dim * rng.uniform(0.1, 0.9, 3)
        src[2] = rng.uniform(1.0, min(2.0, dim[2] - 0.3))
        mic = dim * rng.uniform(0.1, 0.9, 3)
        mic[2] = rng.uniform(0.5, min(2.0, dim[2] - 0.3))
        if np.linalg.norm(src - mic) < 0.3:
            continue
        room.add_source(src)
        room.add_microphone(mic)
        _seed_ray_tracing(pra, seed, tries)
        room.compute_rir()
        r = prepare_rir(room.rir[0][0], sr)
        if r is not None:
            rirs.append(r)
            report(Progress(PHASE, len(rirs), n_rooms, "Simulating rooms (once; cached for later runs)"))
    if not rirs:
        raise EasyOWWError("Could not simulate any room impulse response; check the pyroomacoustics install.")
    bank = np.zeros((len(rirs), max(len(r) for r in rirs)), dtype=np.float32)
    for i, r in enumerate(rirs):
        bank[i, : len(r)] = r
    return bank


def load_rir_bank(path: str | Path) -> np.ndarray | None:
    """The cached bank, or None when it is missing or damaged (it is then rebuilt)."""
    try:
        bank = np.load(str(path), allow_pickle=False)
    except (OSError, ValueError):
        return None
    if bank.ndim != 2 or bank.shape[0] == 0 or bank.dtype != np.float32 or not np.all(np.isfinite(bank)):
        return None
    return bank
