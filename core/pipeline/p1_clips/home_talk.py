"""Everyday sentences for negative speech, generated from a small grammar of household talk.

A fixed list of a hundred sentences repeats dozens of times in an hour of negative speech; this grammar gives
hundreds of thousands of distinct, grammatical sentences (statements, questions, requests, plans, TV and
radio-like lines) so the model hears varied wording and rhythm. Deterministic for a random generator.
"""

from __future__ import annotations

import numpy as np

_PEOPLE = ("I", "we", "you", "they", "my aunt", "your brother", "the neighbours", "grandma", "the kids", "our teacher",
           "my boss", "the doctor", "Sam", "Olivia", "Mister Chen", "the electrician", "everyone", "nobody", "my cousin",
           "the new guy", "her husband", "his mother", "the team", "our landlord", "the driver")
_VERBS_PAST = ("cooked", "found", "fixed", "bought", "washed", "painted", "forgot", "ordered", "cleaned", "moved",
               "lost", "borrowed", "returned", "opened", "finished", "started", "planted", "sold", "watched",
               "repaired", "delivered", "carried", "wrapped", "checked", "booked")
_VERBS = ("cook", "find", "fix", "buy", "wash", "paint", "order", "clean", "move", "borrow", "return", "open",
          "finish", "start", "plant", "sell", "watch", "repair", "carry", "wrap", "check", "book", "call", "feed",
          "charge")
_THINGS = ("the dishes", "dinner", "the car", "a new lamp", "the fence", "some bread", "the old piano",
           "three chairs", "the laptop", "the tickets", "a birthday cake", "the garden", "the printer",
           "the windows", "the curtains", "a small table", "the bicycle", "the groceries", "the heater",
           "the front door", "a pizza", "the dog", "the plants", "my phone", "the washing machine", "the report",
           "the blue jacket", "the spare keys", "a cup of tea", "the camera", "the fridge", "the bathroom tiles")
_WHEN = ("yesterday", "this morning", "last week", "on Sunday", "after lunch", "before the meeting", "tonight",
         "tomorrow", "next month", "at the weekend", "an hour ago", "right after school", "in the evening",
         "on Tuesday", "later today", "first thing tomorrow", "at midday", "before it gets dark")
_WHERE = ("in the kitchen", "at the shop", "in the garage", "upstairs", "at work", "in the garden", "downtown",
          "at the station", "in the living room", "at my parents' place", "on the balcony", "in the basement",
          "at the market", "near the park", "by the window")
_ADJ = ("great", "terrible", "too expensive", "really cheap", "broken again", "almost ready", "quite loud",
        "very quiet", "still warm", "a bit strange", "much better", "completely full", "nearly empty",
        "surprisingly good", "way too salty", "so boring", "really exciting")
_TOPICS = ("the weather", "the football match", "the election", "the new restaurant", "the traffic",
           "the holiday", "the film", "the prices", "the school trip", "the concert", "the news",
           "the recipe", "the schedule", "the garden party", "the new phone")
_NUM = ("two", "three", "five", "ten", "fifteen", "twenty", "forty", "a hundred", "half past six", "seven thirty")

_TEMPLATES = (
    "{P} {VP} {T} {W}.",
    "Did {p} {V} {T} {W}?",
    "Can you {V} {T} {W}, please?",
    "I think {T} is {A}.",
    "{P} said {topic} was {A}.",
    "We need to {V} {T} before {w}.",
    "Have you seen {T} {WH}?",
    "Don't forget to {V} {T} {W}.",
    "The forecast says it will rain {W}.",
    "It takes about {N} minutes to get there.",
    "{P} {VP} {T} {WH} and then went home.",
    "Could we talk about {topic} {W}?",
    "I'll {V} {T} while you {V} {T}.",
    "Why is {T} {A}?",
    "Let's meet {WH} at {N}.",
    "And now, the latest on {topic}: experts say it is {A}.",
    "Coming up after the break: {topic}, and why it is {A}.",
    "If {p} {VP} {T}, we can {V} {T} {W}.",
    "There are {N} people waiting {WH}.",
    "Honestly, {topic} was {A}, but {T} was {A}.",
    "Where did {p} put {T}?",
    "Please turn down the music, {p} is asleep.",
    "Thanks for helping me {V} {T} {W}.",
    "Okay, so first we {V} {T}, then we {V} {T}.",
)


def _cap(s: str) -> str:
    return s[:1].upper() + s[1:]


def sentence(rng: np.random.Generator) -> str:
    """One everyday sentence."""
    def pick(xs: tuple[str, ...]) -> str:
        return xs[int(rng.integers(len(xs)))]

    t = pick(_TEMPLATES)
    out = []
    i = 0
    while i < len(t):
        if t[i] == "{":
            j = t.index("}", i)
            key = t[i + 1 : j]
            val = {"P": lambda: _cap(pick(_PEOPLE)), "p": lambda: pick(_PEOPLE), "VP": lambda: pick(_VERBS_PAST),
                   "V": lambda: pick(_VERBS), "T": lambda: pick(_THINGS), "W": lambda: pick(_WHEN),
                   "w": lambda: pick(_WHEN), "WH": lambda: pick(_WHERE), "A": lambda: pick(_ADJ),
                   "topic": lambda: pick(_TOPICS), "N": lambda: pick(_NUM)}[key]()
            out.append(val)
            i = j + 1
        else:
            out.append(t[i])
            i += 1
    return _cap("".join(out))
