"""Negative-speech passages: 45-80 words of everyday sentences, household talk, dictionary words, near misses and "hey <word>" sequences, never the wake word itself (deterministic for a seed and index)."""

from __future__ import annotations

import re
from functools import lru_cache

import numpy as np

from core.pipeline.p1_clips.phrases import (
    _GREETINGS,
    _categories,
    _phones,
    _strip_stress,
    all_spoken_forms,
    contains_phrase,
    words_of,
)

# --------------------------------------------------------------- negative speech passages
# Share of each kind of piece in a long negative-speech passage (read text dominates).
_PASSAGE_WEIGHTS = {
    "sentence": 0.32,
    "hey_word": 0.16,
    "near_miss": 0.12,
    "dictionary": 0.16,
    "word_string": 0.08,
    "context": 0.08,
    "partial": 0.08,
}


@lru_cache(maxsize=8)
def _dictionary_words(wake_word: str, also: tuple[str, ...] = ()) -> tuple[str, ...]:
    """Ordinary-looking CMU dictionary words, without the wake word's (and its other phrasings') non-greeting
    words or their homophones."""
    import pronouncing

    pronouncing.init_cmu()
    banned_sounds = set()
    for w in (w for phrase in (wake_word, *also) for w in words_of(phrase)):
        if w not in _GREETINGS:
            banned_sounds |= {_strip_stress(p) for p in _phones(w)}
    out: dict[str, None] = {}
    for word, pron in pronouncing.pronunciations:
        if re.fullmatch(r"[a-z]{3,10}", word) and _strip_stress(pron) not in banned_sounds:
            out.setdefault(word, None)
    return tuple(out)


# Calibration passages (the unseen-voice set) sound more like a home: mostly everyday talk, few near misses.
_HOME_WEIGHTS = {
    "sentence": 0.62,
    "hey_word": 0.10,
    "near_miss": 0.03,
    "dictionary": 0.12,
    "word_string": 0.05,
    "context": 0.04,
    "partial": 0.04,
}


def negative_passage(wake_word: str, seed: int, index: int, min_words: int = 45, max_words: int = 80,
                     home: bool = False, also: tuple[str, ...] = ()) -> str:
    """A long (~20-30 s spoken) negative passage: everyday sentences (with ``home``, half of them generated),
    "hey <word>" sequences, near misses, word strings and dictionary words, never containing the wake word.
    ``home``: the calmer mix used to calibrate the threshold.

    Depends only on (wake word, seed, index, home, other phrasings ``also``).
    """
    from core.pipeline.p1_clips.home_talk import sentence

    mix = _HOME_WEIGHTS if home else _PASSAGE_WEIGHTS
    cats = {k: v for k, v in _categories(wake_word, seed, tuple(also)).items() if v and k in mix}
    forms = all_spoken_forms(wake_word, tuple(also))
    dictionary = _dictionary_words(wake_word, tuple(also))
    names = sorted(set(cats) | ({"dictionary"} if dictionary else set()))
    weights = np.array([mix[n] for n in names])
    weights /= weights.sum()
    rng = np.random.default_rng([seed, index, 29])
    target = int(rng.integers(min_words, max_words + 1))
    text, n_words, tries = "", 0, 0
    while n_words < target and tries < 400:
        tries += 1
        cat = names[int(rng.choice(len(names), p=weights))]
        if cat == "dictionary":
            piece = " ".join(dictionary[int(i)] for i in rng.integers(0, len(dictionary), int(rng.integers(2, 7))))
        elif cat == "sentence" and home and rng.random() < 0.5:  # generated talk: calibration passages only
            piece = sentence(rng)
        else:
            pool = cats[cat]
            piece = pool[int(rng.integers(len(pool)))]
        piece = piece.strip()
        if cat != "sentence":
            piece = piece[:1].upper() + piece[1:]
            if piece[-1:] not in ".!?":
                piece += str(rng.choice([".", ",", "!", "?", "..."], p=[0.5, 0.2, 0.1, 0.1, 0.1]))
        candidate = f"{text} {piece}".strip()
        if any(contains_phrase(candidate, form) for form in forms):
            continue
        text = candidate
        n_words += len(words_of(piece))
    return text
