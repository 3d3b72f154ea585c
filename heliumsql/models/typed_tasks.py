"""The typed tasks: ``llm_classify`` with a given label set, ``llm_score`` from 1 to 5 and JSON
extraction of a few fields (``returns => 'STRUCT(...)'``).

The model sees what SQL renders: the call's format instruction (labels and descriptions, range,
type; :func:`heliumsql.grammar.typed_calls.instruction`) before the user's template, and answers
with the JSON text the grammar admits (compact; object keys in the schema's sorted order). Each
task lists its seen phrasings and, apart, the phrasings held out of training
(:data:`heliumsql.models.vocabulary.PHRASING`).

>>> import random
>>> ex = classify(random.Random(0))
>>> ex.prompt.startswith("Classify the text below.") and ex.answer.startswith('"')
True
"""

from __future__ import annotations

import json
import random

from heliumsql.models import lexicon as lx
from heliumsql.models import phrasings, texts
from heliumsql.models.example import Example
from heliumsql.models.vocabulary import PHRASING, TRAIN, WORDS

# (seen phrasings, held-out phrasings) of the user's template, by what is classified.
REVIEW_CLASSIFY = (
    ("Review: {review}", "{review}", "Customer review: {review}", "What does the customer think? {review}",
     "Classify this review: {review}", "Product review of a {product}:\n{review}",
     "Sentiment of this review: {review}"),
    ("Here is what a buyer wrote about the {product}: {review}", "Feedback from a shopper:\n{review}",
     "How did the customer feel? {review}"),
)
DOCUMENT_CLASSIFY = (
    ("Article: {body}", "{title}\n{body}", "Headline: {title}", "Text: {body}",
     "Classify this news article.\n{body}", "Title: {title}\nText: {body}", "What is this article about? {body}"),
    ("Which section of the newspaper does this belong to? {body}", "News item:\n{title}. {body}",
     "Here is a story from today: {body}"),
)
TICKET_CLASSIFY = (
    ("Ticket: {body}", "{body}", "Support ticket: {body}", "Customer message: {body}",
     "Classify this support ticket.\n{body}", "What kind of request is this? {body}"),
    ("Please route this request to the right team: {body}", "A user wrote to the help desk:\n{body}",
     "Inbox message: {body}"),
)
ASPECT_CLASSIFY = (
    ("Which aspects does this review mention? {review}", "Review: {review}", "{review}",
     "Tag this review with its aspects: {review}"),
    ("What parts of the purchase does the buyer talk about? {review}",),
)
SCORE = (
    ("How positive is this review? {review}", "Rate this review: {review}",
     "How many stars would this customer give? {review}", "How satisfied is the customer? {review}",
     "Review: {review}\nRating:", "Rate the customer's opinion of the {product}: {review}", "{review}"),
    ("Give this feedback a star rating. {review}", "How happy is the buyer with the {product}? {review}",
     "On a scale, how much does the customer like it?\n{review}"),
)
EXTRACT_JSON = (
    ("Extract the details from this message: {text}", "{text}", "Message: {text}", "Extract the fields.\n{text}",
     "Customer message: {text}", "Fill in the record from this text: {text}"),
    ("Read this note and pull out the details: {text}", "From the following message, get the requested fields.\n{text}",
     "Parse this customer email: {text}"),
)
SENTIMENT_LABELS = (("positive", "negative"), ("positive", "negative"), ("happy", "unhappy"), ("good", "bad"))
# Struct field names a message's facts may be asked under (the number's by what it counts).
KEYS = dict(name=("name", "person", "customer", "full_name"), city=("city", "location", "town"),
            product=("product", "item"), quantity=("quantity", "qty", "units", "number"),
            order=("order_number", "order_id", "number"), age=("age", "number"),
            price=("price", "amount", "dollars", "number"))


def _template(rng: random.Random, phrasings: tuple[tuple[str, ...], tuple[str, ...]], split: str) -> str:
    return rng.choice(phrasings[1] if split == PHRASING else phrasings[0])


def _fields(values: dict, template: str) -> tuple[tuple[str, object], ...]:
    return tuple((k, v) for k, v in values.items() if "{" + k + "}" in template)


def _labels(rng: random.Random, answer: str, pool: tuple[str, ...], at_least: int = 2) -> tuple[str, ...]:
    """A shuffled label set of ``pool`` that holds ``answer``."""
    others = [p for p in pool if p != answer]
    chosen = rng.sample(others, rng.randint(max(1, at_least - 1), len(others))) + [answer]
    rng.shuffle(chosen)
    return tuple(chosen)


def _classify_options(rng: random.Random, labels: tuple[str, ...], multi: bool = False
                      ) -> tuple[tuple[str, object], ...]:
    described = all(label in lx.DESCRIPTIONS for label in labels) and rng.random() < 0.3
    descriptions = tuple(rng.choice(lx.DESCRIPTIONS[label]) for label in labels) if described else None
    return (("labels", labels), ("descriptions", descriptions), ("multi", multi),
            ("returns", "VARCHAR[]" if multi else "VARCHAR"))


def classify(rng: random.Random, split: str = TRAIN) -> Example:
    """One label for a review's sentiment, a document's topic or a support ticket's kind."""
    # Unseen words: sentiment carried by held-out words only (a ticket's kind or a topic is not
    # carried by the names and cities that are held out).
    source = "review" if split == WORDS else rng.choice(("review", "document", "ticket"))
    if source == "review":
        r = texts.review(rng, split=split)
        positive, negative = rng.choice(SENTIMENT_LABELS)
        answer = positive if r["sentiment"] == "positive" else negative
        labels = (positive, negative) if rng.random() < 0.5 else (negative, positive)
        composed = split != PHRASING and rng.random() < 0.5
        t = phrasings.classify_review(rng) if composed else _template(rng, REVIEW_CLASSIFY, split)
        values = dict(product=r["product"], review=r["review"])
    elif source == "document":
        d = texts.document(rng)
        answer, labels = d["topic"], _labels(rng, d["topic"], lx.TOPICS)
        t = _template(rng, DOCUMENT_CLASSIFY, split)
        values = dict(title=d["title"], body=d["body"])
    else:
        k = texts.ticket(rng, split)
        answer, labels = k["kind"], _labels(rng, k["kind"], tuple(sorted(lx.TICKETS)))
        t = _template(rng, TICKET_CLASSIFY, split)
        values = dict(body=k["body"])
    return Example("classify", "classify", t, _fields(values, t), json.dumps(answer),
                   options=_classify_options(rng, labels))


def classify_multi(rng: random.Random, split: str = TRAIN) -> Example:
    """``multi => true``: every aspect a review mentions, from a label set that holds them all."""
    while True:
        r = texts.review(rng, split=TRAIN if split == WORDS else split)
        if r["aspects"]:
            break
    others = [a for a in sorted(lx.ASPECTS) if a not in r["aspects"]]
    labels = list(r["aspects"]) + rng.sample(others, rng.randint(1, min(4, len(others))))
    rng.shuffle(labels)
    answer = [label for label in labels if label in r["aspects"]]
    t = _template(rng, ASPECT_CLASSIFY, split)
    return Example("classify_multi", "classify", t, _fields(dict(review=r["review"]), t),
                   json.dumps(answer, separators=(",", ":")),
                   options=_classify_options(rng, tuple(labels), multi=True))


def score(rng: random.Random, split: str = TRAIN) -> Example:
    """``llm_score(..., 1, 5)``: the stars a review's wording gives."""
    r = texts.scored_review(rng, split)
    t = _template(rng, SCORE, split)
    return Example("score", "score", t, _fields(dict(product=r["product"], review=r["review"]), t),
                   str(r["stars"]), options=(("low", 1), ("high", 5), ("returns", "INTEGER")))


def extract_json(rng: random.Random, split: str = TRAIN) -> Example:
    """``returns => 'STRUCT(...)'``: two to four of a message's name, city, number and product."""
    from heliumsql.output_types import parse_output_type

    m = texts.message(rng, split)
    facts = dict(name=(m["name"], "VARCHAR"), city=(m["city"], "VARCHAR"),
                 number=(int(m["number"]), "INTEGER"))
    if m["kind"] in ("quantity", "price"):  # the messages that name the product
        facts["product"] = (m["product"], "VARCHAR")
    chosen = rng.sample(sorted(facts), rng.choice((2, 3, 3, 4)) if len(facts) > 3 else rng.choice((2, 3, 3)))
    keys = {f: rng.choice(KEYS[m["kind"] if f == "number" else f]) for f in chosen}
    returns = parse_output_type("STRUCT(" + ", ".join(f"{keys[f]} {facts[f][1]}" for f in chosen) + ")").sql
    answer = json.dumps({keys[f]: facts[f][0] for f in chosen}, sort_keys=True, separators=(",", ":"))
    t = _template(rng, EXTRACT_JSON, split)
    return Example("extract_json", "llm", t, (("text", m["text"]),), answer, options=(("returns", returns),))
