"""Which words and phrasings training may see: the three evaluation splits of the task data.

Generalisation is measured on things the model never saw in training:

* ``PHRASING``: whole phrasing templates of a task held out (``tasks.py`` lists them beside the
  seen ones), rendered over seen vocabulary;
* ``WORDS``: a quarter of the vocabulary held out: of the sentiment words (the AFINN-165 lexicon
  of the ``afinn`` package, words rated +-2 or +-3) and of the added person names and cities;
  seen phrasings carry them, and in a sentiment item they are the only words that carry the
  sentiment;
* ``TRAIN``: everything else (training and the in-distribution held-out rows).

A word is held out when a stable hash puts it in the quarter *and* the first built-in model
never saw it (it was trained on :mod:`heliumsql.models.lexicon`'s original lists; the second one
was warm-started from its weights, so this kept a held-out word from leaking through the warm
start). The current model is trained from scratch; the rule stays so that the unseen-words
figures of every version are measured on the same words.

>>> held_out("zulu-tango-42") in (True, False)
True
>>> [w for w in sentiment_words("positive", TRAIN) if held_out(w)]
[]
"""

from __future__ import annotations

import functools
import re
import zlib
from pathlib import Path

TRAIN, PHRASING, WORDS = "train", "phrasing", "words"
SPLITS = (TRAIN, PHRASING, WORDS)
# Words the AFINN list rates that a shipped demo model should not learn (slang, profanity).
_UNWANTED = re.compile(r"lol|rofl|lmao|lmfao|rotf|wtf|fuck|shit|ass|dick|piss|whore|rape|bitch|"
                       r"bastard|cunt|damn|hell|crap|slut|fag|nigg|retard|scum|suck|kill|die|dead|"
                       r"porn|sex|gun|bomb|terror|murder|suicid")


def held_out(word: str) -> bool:
    """True for the quarter of words the model must not see in training (a stable hash)."""
    return zlib.crc32(word.lower().encode()) % 4 == 0 and word.lower() not in _v1_words()


@functools.cache  # called for every generated name, city and word
def pick(words: tuple[str, ...], split: str) -> tuple[str, ...]:
    """The words of ``words`` a split draws from: held-out ones for WORDS, the others otherwise.

    WORDS also leaves out a held-out word that a seen sentence happens to use (a ticket that
    "supported" something), so an unseen-words item never holds a word training saw.
    """
    if split != WORDS:
        out = tuple(w for w in words if not held_out(w))
    else:
        out = tuple(w for w in words if held_out(w) and w.lower() not in _template_words())
    return out or words  # a list with no held-out word is seen vocabulary in every split


@functools.cache
def _v1_words() -> frozenset[str]:
    """Every word of the lexicon the first built-in model was trained on."""
    from heliumsql.models import lexicon as lx

    text = " ".join(str(v) for name in lx.V1_LISTS for v in _flatten(getattr(lx, name)))
    return frozenset(re.findall(r"[a-z]+", text.lower()))


@functools.cache
def _template_words() -> frozenset[str]:
    """Every word of the fixed sentences v2 added to the lexicon (tickets, openers, frames)."""
    from heliumsql.models import lexicon as lx

    lists = ("STRONG_POSITIVE", "MILD_POSITIVE", "MILD_NEGATIVE", "STRONG_NEGATIVE", "MIXED_OPENERS",
             "WORD_FRAMES", "TICKET_THINGS", "TICKETS", "DESCRIPTIONS")
    text = " ".join(str(v) for name in lists for v in _flatten(getattr(lx, name)))
    return frozenset(re.findall(r"[a-z]+", text.lower()))


def _flatten(value: object) -> list[object]:
    if isinstance(value, dict):
        return [*value] + _flatten(list(value.values()))
    if isinstance(value, (tuple, list)):
        return [x for v in value for x in _flatten(v)]
    return [value]


@functools.cache
def _afinn() -> tuple[tuple[str, int], ...]:
    """(word, rating) of the English AFINN-165 list: single words, no slang or profanity."""
    try:
        import afinn
    except ImportError as exc:  # pragma: no cover - a dev/train dependency
        raise ImportError("training data for the built-in model needs the afinn package: "
                          "pip install 'heliumsql[train]'") from exc
    path = Path(afinn.__file__).resolve().parent / "data" / "AFINN-en-165.txt"
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        word, rating = line.rsplit("\t", 1)
        if word.isalpha() and word.islower() and len(word) >= 4 and not _UNWANTED.search(word):
            out.append((word, int(rating)))
    return tuple(out)


@functools.cache
def sentiment_words(polarity: str, split: str) -> tuple[str, ...]:
    """AFINN words rated +2/+3 (positive) or -2/-3 (negative) a split draws from."""
    sign = 1 if polarity == "positive" else -1
    words = tuple(w for w, r in _afinn() if r * sign in (2, 3))
    return pick(words, split)
