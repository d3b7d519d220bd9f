"""Is this a good wake word? Pronunciation, syllables, everyday words and sound-alikes, before any training.

Offline and quick (about a second the first time: one pass over the CMU dictionary). The sound-alike phrases
(:func:`core.pipeline.p1_clips.phrases.near_miss_phrases`) are what the model may mistake for the wake word; training
does not use them as negatives (they cost recall on voices it never heard, see ``phrases.NEAR_MISS_WEIGHT``), so a
home that says them often should record them (``easy-oww record-negative``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from core.audio.tts import PiperTTS
from core.errors import EasyOWWError
from core.pipeline.p1_clips import phrases
from core.word_frequency import COMMON_ZIPF, word_frequencies

EVERYDAY_ZIPF = 4.0  # said at least once per 100,000 words: comes up in conversation and on TV
MIN_SYLLABLES = 3  # openWakeWord's advice: 3-4 syllables or more false-trigger far less
MAX_SYLLABLES = 7
_IPA_VOWELS = "aeiouyæɑɒɔəɛɜɚɝɪʊʌʏøœɐɘɵɤɯɨʉ"
_ARPA_IPA = {
    "AA": "ɑ", "AE": "æ", "AH": "ʌ", "AO": "ɔ", "AW": "aʊ", "AY": "aɪ", "B": "b", "CH": "tʃ", "D": "d", "DH": "ð",
    "EH": "ɛ", "ER": "ɝ", "EY": "eɪ", "F": "f", "G": "ɡ", "HH": "h", "IH": "ɪ", "IY": "i", "JH": "dʒ", "K": "k",
    "L": "l", "M": "m", "N": "n", "NG": "ŋ", "OW": "oʊ", "OY": "ɔɪ", "P": "p", "R": "ɹ", "S": "s", "SH": "ʃ",
    "T": "t", "TH": "θ", "UH": "ʊ", "UW": "u", "V": "v", "W": "w", "Y": "j", "Z": "z", "ZH": "ʒ",
}


@dataclass(frozen=True)
class WordReport:
    word: str
    dictionary: str  # the CMU dictionary's pronunciation in IPA, "" when the word is not in it
    voices_say: str  # how espeak-ng (and Piper, which phonemises through it) says the word, IPA; "" if unknown
    syllables: int
    zipf: float  # log10 uses per billion words; 0.0 when rarer than the list goes
    respellings: tuple[str, ...]  # how training also spells a word the dictionary does not know


@dataclass(frozen=True)
class Advice:
    level: str  # "warning" (likely to cost accuracy) or "note"
    text: str


@dataclass(frozen=True)
class PhraseReport:
    phrase: str
    spoken: str  # what the voices are asked to say (the pronunciation when one is given)
    words: tuple[WordReport, ...]
    syllables: int
    advice: tuple[Advice, ...]
    confusable_words: tuple[tuple[str, float], ...]  # (word, zipf), most common first
    near_misses: tuple[str, ...]  # sound-alike phrases the model may mistake for the wake word

    @property
    def verdict(self) -> str:
        warnings = sum(a.level == "warning" for a in self.advice)
        return "good" if warnings == 0 else "fair" if warnings == 1 else "poor"


def zipf(word: str) -> float:
    return word_frequencies().get(word.lower(), 0.0)


def arpabet_to_ipa(phones: str) -> str:
    """"JH AA1 R V IH0 S" -> "dʒˈɑɹvɪs" (primary stress before its vowel)."""
    out = []
    for ph in phones.split():
        base, stress = ph.rstrip("012"), ph[len(ph.rstrip("012")):]
        out.append(("ˈ" if stress == "1" else "ˌ" if stress == "2" else "") + _ARPA_IPA.get(base, base.lower()))
    return "".join(out)


def ipa_syllables(ipa: str) -> int:
    """Vowel groups in an IPA string (a diphthong or long vowel counts once)."""
    groups = re.findall(f"[{_IPA_VOWELS}][{_IPA_VOWELS}ːˑ]*", ipa.replace("ˈ", "").replace("ˌ", ""))
    return len(groups)


def voices_say(text: str) -> str:
    """espeak-ng's IPA for ``text`` ("" when espeak-ng is not available)."""
    from core.audio import espeak_lib

    if not espeak_lib.available():
        return ""
    try:
        return espeak_lib.library().phonemes(text)
    except EasyOWWError:
        return ""


def word_report(word: str) -> WordReport:
    prons = phrases._phones(word)
    dictionary = arpabet_to_ipa(prons[0]) if prons else ""
    said = voices_say(word)
    if prons:
        syllables = sum(ch.isdigit() for ch in prons[0])
    else:
        syllables = ipa_syllables(said) if said else max(1, len(re.findall(r"[aeiouy]+", word)))
    return WordReport(word, dictionary, said, syllables, zipf(word), phrases.word_respellings(word))


def _advice(words: Sequence[WordReport], syllables: int, phrase: str, pronunciation: str) -> list[Advice]:
    out: list[Advice] = []
    content = [w for w in words if w.word not in phrases._GREETINGS] or list(words)
    if syllables < MIN_SYLLABLES:
        out.append(Advice("warning", f"Too short: {syllables} syllable{'s' if syllables != 1 else ''}. Short wake "
                                     "words fire on everyday speech and are missed more; use 3 or more syllables, "
                                     'e.g. "hey" or "ok" and a name ("hey jarvis", "ok nabu").'))
    elif syllables > MAX_SYLLABLES:
        out.append(Advice("note", f"Long: {syllables} syllables. People shorten long phrases; keep it under "
                                  f"{MAX_SYLLABLES + 1}."))
    everyday = [w for w in content if w.zipf >= EVERYDAY_ZIPF]
    if everyday and len(everyday) == len(content):
        names = ", ".join(f'"{w.word}"' for w in everyday)
        greeted = len(content) < len(words)  # "hey computer": the greeting makes the whole phrase rarer
        out.append(Advice("note" if greeted else "warning",
                          f"Everyday word{'s' if len(everyday) > 1 else ''}: {names} (about "
                          f"{_per_million(max(w.zipf for w in everyday))} per million words). It will come up in "
                          "conversation and on TV" + ("; the greeting helps, but a rarer word or a name is safer."
                                                      if greeted else "; add a rarer word or a name.")))
    if not pronunciation:
        for w in words:
            if not w.dictionary:
                hint = f'; training also uses "{w.respellings[0]}"' if w.respellings else ""
                say = f" as /{w.voices_say}/" if w.voices_say else ""
                out.append(Advice("note", f'"{w.word}" is not in the pronouncing dictionary: the voices guess it{say}'
                                          f"{hint}. Listen, and if it is wrong set a pronunciation "
                                          f'(e.g. --pronunciation "{_example_respelling(w)}").'))
    if re.search(r"[0-9]", phrase):
        out.append(Advice("warning", "Digits: write numbers as words (\"two\", not \"2\"), as people say them."))
    return out


def _example_respelling(w: WordReport) -> str:
    if w.respellings:
        return w.respellings[0]
    half = max(2, len(w.word) // 2)
    return f"{w.word[:half]} {w.word[half:]}"


def _per_million(z: float) -> str:
    per_million = 10 ** (z - 3.0)
    return f"{per_million:.0f}" if per_million >= 10 else f"{per_million:.1f}"


def confusable_words(words: Sequence[WordReport], limit: int = 10) -> tuple[tuple[str, float], ...]:
    """Real words one sound away from the wake word's words, the most common (most likely to be heard) first."""
    found: dict[str, float] = {}
    for w in words:
        if w.word in phrases._GREETINGS and len(words) > 1:
            continue
        for cand in phrases.phonetic_neighbors(w.word):
            z = zipf(cand)
            if z >= COMMON_ZIPF:
                found.setdefault(cand, z)
    ranked = sorted(found.items(), key=lambda kv: (-kv[1], kv[0]))
    return tuple((word, round(z, 2)) for word, z in ranked[:limit])


def check_phrase(phrase: str, pronunciation: str = "", near_miss_limit: int = 10) -> PhraseReport:
    """Everything ``easy-oww check`` and the create dialog show about ``phrase``."""
    if not phrase.strip():
        raise EasyOWWError('Type the wake word to check, e.g. easy-oww check "hey jarvis".')
    text = phrases.normalize_text(phrase)
    if len(text) > 80:
        raise EasyOWWError(f"That is {len(text)} characters; a wake word is a short phrase (2-4 words).")
    spoken = phrases.normalize_text(pronunciation) if pronunciation.strip() else text
    words = tuple(word_report(w) for w in phrases.words_of(spoken))
    if not text or not words:
        raise EasyOWWError(f"{phrase!r} has no letters to say; type the wake word in letters, e.g. \"hey jarvis\".")
    syllables = sum(w.syllables for w in words)
    candidates = tuple(dict.fromkeys(phrases.near_miss_phrases(text)))
    # The most speakable first: phrases made of common words are the ones a home will say.
    near = tuple(sorted(candidates, key=lambda p: -np.mean([zipf(w) for w in phrases.words_of(p)])))[:near_miss_limit]
    return PhraseReport(text, spoken, words, syllables, tuple(_advice(words, syllables, text, pronunciation)),
                        confusable_words(words), near)


def preview(phrase: str, tts: PiperTTS, pronunciation: str = "", voices: int = 3) -> list[tuple[str, np.ndarray]]:
    """The spoken wake word in up to ``voices`` installed voices (Piper first, then espeak-ng's American and
    British English): (voice name, 16 kHz float32)."""
    form = phrases.spoken_forms(phrase, pronunciation)[0]
    available = tts.list_voices()
    espeak_rank = {"espeak:en-us": 0, "espeak:en": 1}
    chosen = [v for v in available if v.engine == "piper"][:max(1, voices - 2)]
    chosen += sorted((v for v in available if v.engine != "piper"),
                     key=lambda v: (espeak_rank.get(v.name, 9), v.name))[:max(0, voices - len(chosen))]
    if not chosen:
        raise EasyOWWError("No text-to-speech voice is installed. Reinstall easy-oww (it bundles en_US-joe-medium) "
                           "or download a voice with `easy-oww download-voices`.")
    return [(v.name, tts.synthesize(form, v.name, None, seed=0)) for v in chosen[:voices]]
