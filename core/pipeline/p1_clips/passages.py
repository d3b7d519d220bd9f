"""Negative-speech passages: 45-80 words of everyday sentences, household talk, dictionary words, pieces of the wake word and "hey <word>" sequences, never the wake word itself (deterministic for a seed and index)."""

from __future__ import annotations

import re
from functools import lru_cache

import numpy as np

from core.pipeline.p1_clips.phrases import (
    _GREETINGS,
    NEAR_MISS_WEIGHT,
    RUDE_WORDS,
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
    "near_miss": NEAR_MISS_WEIGHT,  # not trained on: see phrases.NEAR_MISS_WEIGHT
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


# Calibration passages (the unseen-voice set) sound like a home, the audio a threshold has to live with: everyday
# talk and words at their natural frequencies ("frequent": sampled by how often English uses them, so sound-alikes
# such as "electric" for "alexa" come up as often as they would), "hey <word>" greetings, and no pieces built from
# the wake word (near misses, its words alone or in other sentences). Those are dense in training negatives on
# purpose; in a calibration stream they would set the threshold for a home that says "... jarvis" every few seconds.
_HOME_WEIGHTS = {
    "sentence": 0.55,
    "frequent": 0.25,
    "dictionary": 0.08,
    "hey_word": 0.07,
    "word_string": 0.05,
}


@lru_cache(maxsize=1)
def _frequent_words() -> tuple[tuple[str, ...], np.ndarray]:
    """English words and their probabilities of use (from the bundled Zipf frequency list)."""
    from core.word_frequency import word_frequencies

    freq = word_frequencies()
    words = tuple(w for w in freq if w not in RUDE_WORDS)
    p = 10.0 ** np.array([freq[w] for w in words])
    return words, p / p.sum()


def _frequent_piece(rng: np.random.Generator) -> str:
    words, p = _frequent_words()
    return " ".join(words[int(i)] for i in rng.choice(len(words), size=int(rng.integers(5, 13)), p=p))


def _home_greetings(pool: tuple[str, ...], wake_word: str, also: tuple[str, ...]) -> tuple[str, ...]:
    """``hey_word`` pieces without the wake word's own (non-greeting) words: "hey john", not "peter jarvis"."""
    own = {w for phrase in (wake_word, *also) for w in words_of(phrase) if w not in _GREETINGS}
    return tuple(p for p in pool if not own & set(words_of(p)))


def negative_passage(wake_word: str, seed: int, index: int, min_words: int = 45, max_words: int = 80,
                     home: bool = False, also: tuple[str, ...] = ()) -> str:
    """A long (~20-30 s spoken) negative passage: everyday sentences (with ``home``, half of them generated),
    "hey <word>" sequences, pieces of the wake word, word strings and dictionary words, never containing the wake
    word (nor, since :data:`~core.pipeline.p1_clips.phrases.NEAR_MISS_WEIGHT` is 0, its near misses).
    ``home``: the calmer mix used to calibrate the threshold.

    Depends only on (wake word, seed, index, home, other phrasings ``also``).
    """
    from core.pipeline.p1_clips.home_talk import sentence

    mix = _HOME_WEIGHTS if home else _PASSAGE_WEIGHTS
    cats = {k: v for k, v in _categories(wake_word, seed, tuple(also)).items() if v and k in mix}
    if home and "hey_word" in cats:
        cats["hey_word"] = _home_greetings(cats["hey_word"], wake_word, tuple(also))
    cats = {k: v for k, v in cats.items() if v}
    forms = all_spoken_forms(wake_word, tuple(also))
    dictionary = _dictionary_words(wake_word, tuple(also))
    names = sorted(set(cats) | ({"dictionary"} if dictionary else set()) | ({"frequent"} & set(mix)))
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
        elif cat == "frequent":
            piece = _frequent_piece(rng)
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
