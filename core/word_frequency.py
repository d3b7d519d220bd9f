"""How often English uses each word: the bundled Zipf frequency list (``core/data/word_frequency.tsv.gz``)."""

from __future__ import annotations

import gzip
from functools import lru_cache
from pathlib import Path

FREQUENCY_FILE = Path(__file__).resolve().parent / "data" / "word_frequency.tsv.gz"
COMMON_ZIPF = 3.0  # in the frequency list at all (words rarer than this are not listed)


@lru_cache(maxsize=1)
def word_frequencies() -> dict[str, float]:
    """English word -> Zipf frequency (words at or above :data:`COMMON_ZIPF`), from the bundled list."""
    out: dict[str, float] = {}
    with gzip.open(FREQUENCY_FILE, "rt", encoding="utf-8") as f:
        for line in f:
            if line.startswith("#"):
                continue
            word, _, value = line.rstrip("\n").partition("\t")
            out[word] = float(value)
    return out
