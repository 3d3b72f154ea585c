"""Seeded filler text for the workloads' data: plausible words, sentences and names.

The model is random, so what matters is the shape of the data (lengths, repetition), not its
meaning; the words only make prompts readable when someone prints them. Everything comes from
a ``random.Random`` the caller seeds, so the same seed gives the same tables on any machine.

>>> import random
>>> sentence(random.Random(0)).endswith(".")
True
>>> len(paragraph(random.Random(1), 200)) >= 200
True
"""

from __future__ import annotations

import random

WORDS = (
    "market demand supply margin revenue growth risk quarter guidance customer product price "
    "volume cost debt cash flow order backlog share buyback dividend rate inflation energy "
    "chip cloud retail freight battery software license contract region segment forecast "
    "team launch delay recall upgrade review battery screen fabric handle motor filter valve "
    "sensor coating warranty shipping packaging assembly durability noise weight comfort "
    "policy city council budget transit housing school tax vote study evidence sample trial "
    "cohort effect measure method result error bias signal trend season weather harvest"
).split()
ADJECTIVES = (
    "strong weak steady rising falling mixed solid fragile lean heavy quiet noisy early late "
    "cheap costly durable flimsy compact bulky clear vague modest sharp broad narrow"
).split()
VERBS = (
    "expects reports shows suggests limits drives lifts cuts doubles halves delays improves "
    "weakens supports outpaces trails matches exceeds misses"
).split()


def sentence(rng: random.Random, words: int = 10) -> str:
    """One capitalised sentence of about ``words`` words."""
    parts = [rng.choice(ADJECTIVES), rng.choice(WORDS), rng.choice(VERBS)]
    while len(parts) < words:
        parts += [rng.choice(ADJECTIVES), rng.choice(WORDS)] if rng.random() < 0.4 else [rng.choice(WORDS)]
    text = " ".join(parts[:words])
    return text[0].upper() + text[1:] + "."


def paragraph(rng: random.Random, min_chars: int) -> str:
    """Sentences until the text is at least ``min_chars`` characters long."""
    out: list[str] = []
    while sum(len(s) + 1 for s in out) < min_chars:
        out.append(sentence(rng, rng.randint(7, 14)))
    return " ".join(out)


def name(rng: random.Random, syllables: int = 3) -> str:
    """A made-up capitalised name (companies, products, cities)."""
    parts = "ka lo mi ra ten vo sa li do per an tu ze ri mo qua bel or nix".split()
    return "".join(rng.choice(parts) for _ in range(syllables)).capitalize()
