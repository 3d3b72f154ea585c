"""Training phrasings composed from parts: a question, the way its choices are listed, the text's
name, an optional label before the text, and where the text sits.

A handful of hand-written templates per task taught the first models those templates, not the
task: a new wording of the same question got a yes/no or a JSON answer. Composing thousands of
wordings from parts teaches what decides the answer (the choices asked for and the text). The
held-out phrasings of :mod:`heliumsql.models.tasks` and :mod:`heliumsql.models.typed_tasks` stay
unseen: ``tests/models/test_data.py`` checks that no composed template shares a five-word run
with one of them.

>>> import random
>>> t = sentiment(random.Random(3))
>>> "{review}" in t
True
>>> len(all_templates(sentiment)) > 1000
True
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable

from heliumsql.models import lexicon as lx

# Where the text goes relative to the question, and what separates them.
_LAYOUTS = ("{q} {t}", "{q}\n{t}", "{q}\n\n{t}", "{t}\n{q}", "{t} {q}", "{t}\n\n{q}")

_REVIEW_NOUNS = ("review", "customer review", "product review", "comment", "post", "text")
_REVIEW_LABELS = ("", "Review: ", "Text: ", "Comment: ", "Customer review: ", "Feedback: ", "Post: ")
_POLARITY = ("positive or negative", "negative or positive", "positive/negative", "positive, negative")
_SENTIMENT_QUESTIONS = (
    "Is this {n} {o}?", "Is the {n} {o}?", "Classify the sentiment of this {n} as {o}.",
    "What is the sentiment of this {n}? Answer {o}.", "What sentiment does the {n} express ({o})?",
    "Sentiment of this {n} ({o}):", "Label this {n} as {o}.", "Decide whether this {n} is {o}.",
    "Say whether the {n} is {o}.", "Is the tone of this {n} {o}?", "Read the {n} and answer {o}.",
    "{O}?", "Sentiment ({o}):", "Does this {n} sound {o}?", "Rate the {n} as {o}.",
    "Is the writer's view {o}?", "Was the buyer's experience {o}?", "Answer {o}. What is the mood of the {n}?",
    "Does the customer like the {product}? Answer {o}.", "Sentiment toward the {product} ({o}):",
)

_DOC_NOUNS = ("article", "text", "document", "report", "piece", "story")
_DOC_TEXTS = ("{body}", "{title}\n{body}", "Title: {title}\nText: {body}", "{title}. {body}",
              "Article: {body}", "Text: {body}", "Document: {body}", "Headline: {title}", "{title}")
_TOPIC_QUESTIONS = (
    "What is the topic of this {n}? Choose one of: {o}.", "Classify this {n} into one of {o}.",
    "Topic ({o}):", "Which topic is this {n} about: {o}?", "What is this {n} about? Answer {o}.",
    "Is this {n} about {o}?", "Pick the topic ({o}) for this {n}.", "Give the topic of the {n} ({o}).",
    "Category ({o}):", "Which category does this {n} belong to: {o}?",
    "Label the {n} with its topic: {o}.", "Assign one topic to the {n}: {o}.",
    "Choose the best topic for this {n} from {o}.", "Topic of the {n}, one of {o}:",
    "Answer with one word ({o}): what is the {n} about?",
)

_CLASSIFY_REVIEW = ("{review}", "Review: {review}", "Text: {review}", "Comment: {review}",
                    "Customer review: {review}", "Review of the {product}: {review}",
                    "A customer on the {product}: {review}", "Post: {review}")
_CLASSIFY_QUESTIONS = ("", "Classify this {n}.", "Label this {n}.", "Which label fits this {n}?",
                       "Pick the label for this {n}.", "Categorize this {n}.", "Tag this {n}.")


def _listing(rng: random.Random, choices: tuple[str, ...]) -> str:
    """The choices in a shuffled order, joined the way people list them."""
    order = rng.sample(choices, len(choices))
    style = rng.randrange(4)
    if style == 0:
        return ", ".join(order[:-1]) + " or " + order[-1]
    return (", ", "/", " | ")[style - 1].join(order)


def _compose(rng: random.Random, question: str, text: str, noun: str, options: str) -> str:
    q = question.replace("{n}", noun).replace("{o}", options).replace("{O}", options[:1].upper() + options[1:])
    q = q[:1].upper() + q[1:]
    return rng.choice(_LAYOUTS).format(q=q, t=text) if q else text


def sentiment(rng: random.Random) -> str:
    """A composed template asking a review's polarity; the answer is "positive" or "negative"."""
    text = rng.choice(_REVIEW_LABELS) + "{review}"
    return _compose(rng, rng.choice(_SENTIMENT_QUESTIONS), text, rng.choice(_REVIEW_NOUNS),
                    rng.choice(_POLARITY))


def topic(rng: random.Random) -> str:
    """A composed template asking a document's topic among :data:`lexicon.TOPICS` (listed in a
    random order and style)."""
    return _compose(rng, rng.choice(_TOPIC_QUESTIONS), rng.choice(_DOC_TEXTS), rng.choice(_DOC_NOUNS),
                    _listing(rng, lx.TOPICS))


def classify_review(rng: random.Random) -> str:
    """A composed user template for ``llm_classify`` over a review (the labels come before it in
    the call's format instruction)."""
    return _compose(rng, rng.choice(_CLASSIFY_QUESTIONS), rng.choice(_CLASSIFY_REVIEW),
                    rng.choice(_REVIEW_NOUNS), "")


def all_templates(make: Callable[[random.Random], str], draws: int = 20000) -> frozenset[str]:
    """The distinct templates ``make`` composes in ``draws`` seeded draws (for the overlap check)."""
    rng = random.Random("phrasings")
    return frozenset(make(rng) for _ in itertools.repeat(None, draws))
