"""Texts to synthesise: spellings of the wake word, and near-miss (adversarial) negatives.

Everything here is deterministic for a given wake word and seed, so a resumed clip run
picks the same text for clip ``i`` as an uninterrupted one.
"""

from __future__ import annotations

import re
from functools import lru_cache

import numpy as np

from core.pipeline.p1_clips.everyday_text import COMMON_WORDS, EVERYDAY_SENTENCES

_CONTEXT_TEMPLATES: tuple[str, ...] = (
    "{w} is a nice word.",
    "I told {w} about it yesterday.",
    "Did you say {w}?",
    "We talked about {w} all evening.",
    "My friend calls it {w}.",
    "The word {w} keeps coming up.",
    "{w}, but not today.",
    "Have you heard of {w} before?",
    "Write {w} on the list.",
    "Nobody mentioned {w} at the meeting.",
)

# Never synthesised, whatever the frequency lists say.
RUDE_WORDS = frozenset({"fuck", "fucking", "fucked", "shit", "bitch", "cunt", "dick", "ass", "asshole", "bastard",
                        "damn", "crap", "piss", "slut", "whore", "nigga", "nigger", "fag", "faggot", "retard", "sex",
                        "porn"})

_GREETINGS = frozenset({"hey", "hi", "hello", "ok", "okay", "yo", "oh", "a", "the"})

_CONTEXT_MIDDLE: tuple[str, ...] = (
    "{a} there {b}.",
    "{a}, {b} wait.",
    "{b} said {a}.",
    "{a} and {b}.",
    "{a} you know {b}.",
)


# ------------------------------------------------------------------------- helpers
def words_of(text: str) -> list[str]:
    """Lower-case words (letters, digits and apostrophes) of ``text``."""
    return re.findall(r"[a-z0-9']+", text.lower())


def normalize_text(text: str) -> str:
    return " ".join(words_of(text))


def contains_phrase(text: str, phrase: str) -> bool:
    """Whether the words of ``phrase`` occur consecutively in ``text`` (case/punctuation ignored)."""
    t, p = words_of(text), words_of(phrase)
    if not p:
        return False
    return any(t[i : i + len(p)] == p for i in range(len(t) - len(p) + 1))


def wake_word_variations(wake_word: str) -> list[str]:
    """Spellings of the wake word that change how TTS says it (casing, commas, end punctuation)."""
    w = words_of(wake_word)
    if not w:
        return []
    plain = " ".join(w)
    title = " ".join(x.capitalize() for x in w)
    first_cap = plain[:1].upper() + plain[1:]
    variants = [plain, first_cap, title, plain + ".", title + "!", first_cap + "."]
    if len(w) > 1:
        head, tail = w[0], " ".join(w[1:])
        tail_title = " ".join(x.capitalize() for x in w[1:])
        variants += [
            f"{head}, {tail}",
            f"{head.capitalize()}, {tail_title}!",
            f"{head.capitalize()}, {tail_title}.",
            f"{head} {tail}!",
        ]
    else:
        variants += [plain + "!", title + "?"]
    seen: dict[str, None] = {}
    for v in variants:
        seen.setdefault(v, None)
    return list(seen)


@lru_cache(maxsize=256)
def _phones(word: str) -> tuple[str, ...]:
    import pronouncing

    return tuple(pronouncing.phones_for_word(word))


def _strip_stress(phones: str) -> str:
    return re.sub(r"\d", "", phones)


@lru_cache(maxsize=128)
def phonetic_neighbors(word: str, limit: int = 40) -> tuple[str, ...]:
    """Words one phoneme away from ``word`` (substitution, deletion, insertion) plus rhymes.

    Homophones (same phonemes ignoring stress) are excluded: they would sound like the
    wake word. Uses the CMU pronouncing dictionary; unknown words give ``()``.
    """
    import pronouncing

    word = word.lower()
    prons = _phones(word)
    if not prons:
        return ()
    same_sound = {_strip_stress(p) for p in prons}
    edits: dict[str, None] = {}
    ph = prons[0].split()
    pats = [re.escape(_strip_stress(p)) + (r"\d?" if p[-1].isdigit() else "") for p in ph]
    regexes = []
    for i in range(len(ph)):
        regexes.append(" ".join(pats[:i] + [r"\S+"] + pats[i + 1 :]))  # substitution
        if len(ph) > 1:
            regexes.append(" ".join(pats[:i] + pats[i + 1 :]))  # deletion
    for i in range(len(ph) + 1):
        regexes.append(" ".join(pats[:i] + [r"\S+"] + pats[i:]))  # insertion
    combined = re.compile("^(?:" + "|".join(regexes) + ")$")
    pronouncing.init_cmu()
    for cand, pron in pronouncing.pronunciations:  # one pass over the dictionary
        if combined.match(pron):
            edits.setdefault(cand, None)

    def usable(cand: str) -> bool:
        if cand == word or not re.fullmatch(r"[a-z]{2,}", cand):
            return False
        return not any(_strip_stress(p) in same_sound for p in _phones(cand))

    # Prefer ordinary-looking words (close in length); keep the order deterministic.
    def key(c: str) -> tuple[int, str]:
        return (abs(len(c) - len(word)), c)

    near = sorted((c for c in edits if usable(c)), key=key)
    rhymes = sorted((c for c in pronouncing.rhymes(word) if usable(c) and c not in edits), key=key)
    return tuple((near + rhymes)[:limit])


def _letter_neighbors(word: str) -> list[str]:
    """Spelling tweaks for words missing from the CMU dictionary (made-up wake words)."""
    out = []
    consonants = "bdfghklmnprstvz"
    if word and word[0] in consonants:
        out += [c + word[1:] for c in consonants if c != word[0]][:6]
    vowels = "aeiou"
    for i, ch in enumerate(word):
        if ch in vowels:
            out += [word[:i] + v + word[i + 1 :] for v in vowels if v != ch][:2]
            break
    if len(word) > 3:
        out += [word[:-1], word[: len(word) // 2 + 1]]
        if not word.endswith(("s", "z")):
            out.append(word + "s")
    return out


def partial_phrases(wake_word: str) -> list[str]:
    """Pieces of the wake word: single words, word prefixes, reversed order."""
    w = words_of(wake_word)
    out: list[str] = []
    if len(w) > 1:
        out += w
        out += [" ".join(w[:i]) for i in range(1, len(w))]
        out += [" ".join(w[i:]) for i in range(1, len(w))]
        out.append(" ".join(reversed(w)))
    last = w[-1] if w else ""
    if len(last) >= 4:
        cut = max(2, (len(last) + 1) // 2)
        out.append(" ".join(w[:-1] + [last[:cut]]))
        out.append(last[:cut])
    return [p for p in dict.fromkeys(out) if p and normalize_text(p) != normalize_text(wake_word)]


def _neighbors(word: str) -> list[str]:
    found = list(phonetic_neighbors(word))
    if len(found) < 10:  # rare or made-up words: add spelling tweaks TTS will still pronounce
        found += [c for c in _letter_neighbors(word) if c not in found and c != word]
    return found


def near_miss_phrases(wake_word: str) -> list[str]:
    """The wake word with one word swapped for a phonetically close word.

    Positions are interleaved (and shorter lists repeated) so every word of the wake word
    gets swapped equally often when sampling uniformly from the list.
    """
    w = words_of(wake_word)
    per_word = [[" ".join(w[:i] + [n] + w[i + 1 :]) for n in _neighbors(word)] for i, word in enumerate(w)]
    per_word = [p for p in per_word if p]
    if not per_word:
        return []
    longest = max(len(p) for p in per_word)
    return [p[k % len(p)] for k in range(longest) for p in per_word]


def context_phrases(wake_word: str) -> list[str]:
    """The wake word's words used in other sentences (never the whole wake word in order)."""
    w = words_of(wake_word)
    out = []
    for word in w:
        if word in _GREETINGS:
            continue
        out += [t.format(w=word).capitalize() for t in _CONTEXT_TEMPLATES]
    if len(w) > 1:
        out += [t.format(a=w[0], b=w[-1]).capitalize() for t in _CONTEXT_MIDDLE]
    return out


def hey_word_phrases(wake_word: str) -> list[str]:
    """``<first word> <other word>`` and ``<other word> <last word>`` sequences ("hey there")."""
    w = words_of(wake_word)
    if not w:
        return []
    out = [f"{w[0]} {c}" for c in COMMON_WORDS if c != (w[1] if len(w) > 1 else "")]
    if len(w) > 1:
        out += [f"{c} {w[-1]}" for c in COMMON_WORDS[:40] if c != w[0]]
    else:
        out += [f"hey {c}" for c in COMMON_WORDS[:40]]
    return out


def _edit_distance(a: list[str], b: list[str]) -> int:
    """Levenshtein distance between two phoneme sequences."""
    prev = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        cur = [i]
        for j, y in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (x != y)))
        prev = cur
    return prev[-1]


def _word_phones(word: str) -> list[str]:
    """The word's first CMU pronunciation as phonemes (with stress marks); for a word the dictionary lacks, its
    respelling's ("mycroft" -> "my croft"); [] when neither is known."""
    prons = _phones(word)
    if prons:
        return prons[0].split()
    spelled = word_respellings(word)  # each part is a dictionary word
    return " ".join(_phones(w)[0] for w in spelled[0].split()).split() if spelled else []


# Everyday words that share a run of the wake word's sounds around its stressed vowel but are clearly other words
# ("next", "excellent", "extra", "election" for alexa; "harvard", "jargon" for jarvis): at least SHARED_RUN phonemes in a
# row, yet at least SHARED_MIN_DISTANCE edits from every word of the wake word, so no voice says them like it.
SHARED_RUN = 3
SHARED_MIN_DISTANCE = 3
# Phrases of the quality benchmark's frozen test split (bench/) never become training text.
_FROZEN_TEST_PHRASES = frozenset({"electric"})


@lru_cache(maxsize=64)
def shared_sound_words(wake_word: str, limit: int = 48) -> tuple[str, ...]:
    """Common words (most frequent first) sharing a run of sounds with the wake word's words (see SHARED_RUN)."""
    from core.word_frequency import word_frequencies

    targets: list[tuple[list[str], set[str]]] = []
    for w in words_of(wake_word):
        ph = _word_phones(w)
        if w in _GREETINGS or len(ph) < SHARED_RUN + 1:
            continue
        stressed = [i for i, p in enumerate(ph) if p.endswith("1")] or [i for i, p in enumerate(ph) if p[-1].isdigit()]
        bare = _strip_stress(" ".join(ph)).split()
        runs = {" ".join(bare[i:j]) for i in range(len(bare)) for j in range(i + SHARED_RUN, len(bare))
                if any(i <= s < j for s in stressed)}
        targets.append((bare, runs))
    if not targets:
        return ()
    own = set(words_of(wake_word))
    out: list[str] = []
    for word, _z in sorted(word_frequencies().items(), key=lambda kv: (-kv[1], kv[0])):
        unusable = word in own or word in RUDE_WORDS or word.startswith("sex") or word in _FROZEN_TEST_PHRASES
        if unusable or not re.fullmatch(r"[a-z]{2,}", word):
            continue
        prons = _phones(word)
        if not prons:
            continue
        bare = _strip_stress(prons[0]).split()
        padded = f" {' '.join(bare)} "
        if any(any(f" {r} " in padded for r in runs) for _t, runs in targets) and \
                all(_edit_distance(bare, t) >= SHARED_MIN_DISTANCE for t, _r in targets):
            out.append(word)
            if len(out) >= limit:
                break
    return tuple(out)


def shared_sound_phrases(wake_word: str) -> list[str]:
    """:func:`shared_sound_words` said alone ("Next.") and beside a common word, as short clips."""
    out: list[str] = []
    for k, w in enumerate(shared_sound_words(wake_word)):
        out += [w, f"{COMMON_WORDS[(3 * k) % 40]} {w}", f"{w} {COMMON_WORDS[(7 * k + 1) % 40]}"]
    return out


def _random_word_strings(rng: np.random.Generator, n: int) -> list[str]:
    return [" ".join(rng.choice(COMMON_WORDS, size=int(rng.integers(2, 5)))) for _ in range(n)]


# Share of each category in the adversarial pool. Near misses (the wake word with one word swapped for a sound-alike:
# "alexi", "hey jervis") are not trained on: TTS voices say many of them almost as they say the wake word, and a head
# taught to refuse them refuses the wake word itself in voices, rooms and noise it never heard. Without them (here and
# in the negative-speech passages, passages.py), alexa single heads on the same clips otherwise, seeds 1234/9153/17072,
# mean recall over <= 0.25-2 false accepts/h: dev 0.560 -> 0.709, test 0.644 -> 0.828, every seed up (hey jarvis: dev
# 0.614 -> 0.729, test 0.569 -> 0.617); sound-alikes two phonemes away instead ("alexis", "flex", "annex") lowered
# alexa's (dev 0.483, test 0.551). The price: more near-miss phrases fire. bench/README.md, session 19.
# The category stays listed (weight 0) so the other categories' draws are those measured.
NEAR_MISS_WEIGHT = 0.0
_CATEGORY_WEIGHTS = {
    "near_miss": NEAR_MISS_WEIGHT,
    "partial": 0.12,
    "hey_word": 0.20,
    "context": 0.10,
    "sentence": 0.18,
    "word_string": 0.10,
    # Everyday words sharing a run of its sounds ("next", "extra" for alexa; shared_sound_words), short: an alexa model
    # trained without them fired on "Next." and "Excellent." in its own training voice (0.98-0.99). With them, test
    # split, one run each: hey jarvis 0.604 -> 0.692 recall at <= 0.5 FA/h, alexa 0.710 -> 0.694 with false accepts
    # at 0.5 45 -> 36.5 per hour (bench/README.md, session 20).
    "shared_sound": 0.15,
}


def adversarial_categories(wake_word: str, seed: int = 0, also: tuple[str, ...] = ()) -> dict[str, list[str]]:
    """Every adversarial phrase for ``wake_word`` grouped by category (wake word itself removed)."""
    return {k: list(v) for k, v in _categories(wake_word, seed, tuple(also)).items()}


def all_spoken_forms(wake_word: str, also: tuple[str, ...] = ()) -> tuple[str, ...]:
    """Every spoken form of the wake word and of its other phrasings: what no negative may contain."""
    return tuple(dict.fromkeys(f for phrase in (wake_word, *also) for f in spoken_forms(phrase)))


@lru_cache(maxsize=32)
def _categories(wake_word: str, seed: int, also: tuple[str, ...] = ()) -> dict[str, tuple[str, ...]]:
    rng = np.random.default_rng([seed, 7])
    cats: dict[str, list[str]] = {
        "near_miss": near_miss_phrases(wake_word),
        "partial": partial_phrases(wake_word),
        "hey_word": hey_word_phrases(wake_word),
        "context": context_phrases(wake_word),
        "sentence": list(EVERYDAY_SENTENCES),
        "word_string": _random_word_strings(rng, 60),
        "shared_sound": shared_sound_phrases(wake_word),
    }
    for phrase in also:  # near misses of every phrasing, interleaved so each weighs the same
        more = {"near_miss": near_miss_phrases(phrase), "partial": partial_phrases(phrase),
                "hey_word": hey_word_phrases(phrase), "context": context_phrases(phrase)}
        for k, v in more.items():
            cats[k] = [x for pair in zip(cats[k], v, strict=False) for x in pair] + cats[k][len(v):] + v[len(cats[k]):]
    out = {}
    forms = all_spoken_forms(wake_word, also)
    for k, v in cats.items():
        if k != "near_miss":  # near_miss keeps its repeats (they balance the word positions)
            v = list(dict.fromkeys(v))
        out[k] = tuple(p for p in v if not any(contains_phrase(p, f) for f in forms))
    return out


def adversarial_phrase(wake_word: str, seed: int, index: int, also: tuple[str, ...] = ()) -> str:
    """The ``index``-th adversarial phrase: depends only on (wake word, other phrasings, seed, index)."""
    cats = {k: v for k, v in _categories(wake_word, seed, tuple(also)).items() if v}
    names = sorted(cats)
    weights = np.array([_CATEGORY_WEIGHTS[n] for n in names])
    rng = np.random.default_rng([seed, index, 11])
    cat = names[int(rng.choice(len(names), p=weights / weights.sum()))]
    pool = cats[cat]
    return pool[int(rng.integers(len(pool)))]


def adversarial_phrases(wake_word: str, count: int, seed: int = 0, also: tuple[str, ...] = ()) -> list[str]:
    """``count`` adversarial phrases (deterministic for the seed)."""
    return [adversarial_phrase(wake_word, seed, i, also) for i in range(count)]


def _in_dictionary(word: str) -> bool:
    return bool(_phones(word))


@lru_cache(maxsize=256)
def word_respellings(word: str) -> tuple[str, ...]:
    """Other ways to write a word the CMU dictionary does not know, so that TTS says it as people read it.

    espeak-ng (and Piper, which phonemises through it) guesses unknown words letter by letter: "mycroft"
    comes out as MIH-kroft. People read a made-up word as the known words it is built from ("my croft",
    "snow boy", "pico voice"), so each split into two dictionary words (the shorter part at least two
    letters, the second at least three) is offered, longest parts first; at most two. Known words: ``()``.
    """
    word = word.lower()
    if len(word) < 5 or not word.isalpha() or _in_dictionary(word):
        return ()
    splits = [(min(i, len(word) - i), word[:i], word[i:]) for i in range(2, len(word) - 2)]
    good = [(k, a, b) for k, a, b in splits if _in_dictionary(a) and _in_dictionary(b)]
    good.sort(key=lambda t: (-t[0], t[1]))
    return tuple(f"{a} {b}" for _, a, b in good[:2])


def spoken_forms(wake_word: str, pronunciation: str = "") -> tuple[str, ...]:
    """What the voices are asked to say for the wake word; the first is the main form.

    ``pronunciation`` (the project's setting, e.g. "hey my croft") replaces the wake word outright: the user
    heard the voices say it wrong. Without it: the wake word as written, then respellings of words the
    dictionary does not know (:func:`word_respellings`).
    """
    if pronunciation.strip():
        return (normalize_text(pronunciation),)
    words = words_of(wake_word)
    forms = [" ".join(words)]
    for i, w in enumerate(words):
        for alt in word_respellings(w):
            forms.append(" ".join(words[:i] + [alt] + words[i + 1 :]))
    return tuple(dict.fromkeys(forms))


def positive_phrasing(wake_word: str, seed: int, index: int, also: tuple[str, ...] = ()) -> str:
    """Which phrasing positive clip ``index`` says: the wake word or one of ``also``, equally often."""
    if not also:
        return wake_word
    k = int(np.random.default_rng([seed, index, 17]).integers(len(also) + 1))
    return wake_word if k == 0 else also[k - 1]


def positive_text(wake_word: str, seed: int, index: int, pronunciation: str = "",
                  also: tuple[str, ...] = ()) -> str:
    """The text spoken for positive clip ``index``: its phrasing (:func:`positive_phrasing`), half as written
    and half its respellings when it has any (see :func:`spoken_forms`), in one of its punctuation/casing
    variations. ``pronunciation`` belongs to the wake word, not to the other phrasings."""
    phrase = positive_phrasing(wake_word, seed, index, also)
    forms = spoken_forms(phrase, pronunciation if phrase == wake_word else "")
    rng = np.random.default_rng([seed, index, 13])
    form = forms[0] if len(forms) == 1 or rng.random() < 0.5 else forms[1 + int(rng.integers(len(forms) - 1))]
    variants = wake_word_variations(form)
    return variants[int(rng.integers(len(variants)))]


GREETING_SWAPS = {"hey": ("hi", "say", "okay"), "hi": ("hey", "high"), "ok": ("okay", "hey"),
                  "okay": ("ok", "hey"), "hello": ("yellow", "hey")}


def suggest_negative_phrases(wake_word: str, limit: int = 8) -> list[str]:
    """Near misses worth recording as negatives (`easy-oww record-negative`): parts of the phrase, another
    greeting, similar-sounding phrases and the word in a sentence; never the wake word itself."""
    words = words_of(wake_word)
    if not words:
        return []
    target = " ".join(words)
    swaps = [" ".join([g, *words[1:]]) for g in GREETING_SWAPS.get(words[0], ())] if len(words) > 1 else []
    groups = [partial_phrases(wake_word)[:4], swaps[:2], near_miss_phrases(wake_word)[:4], context_phrases(wake_word)[:1]]
    out: list[str] = []
    for group in groups:
        for p in group:
            p = normalize_text(p) if p[:1].islower() else p
            if p and normalize_text(p) != target and p not in out:
                out.append(p)
    return out[:limit]

