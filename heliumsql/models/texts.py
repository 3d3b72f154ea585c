"""Generators of short texts whose facts are known: reviews, news documents, messages, price moves.

Each function takes a ``random.Random`` and returns a dict with the text fields (what a table
would hold) and the facts the task answers are computed from.

>>> import random
>>> review(random.Random(0))["sentiment"] in ("positive", "negative")
True
"""

from __future__ import annotations

import functools
import math
import random

from heliumsql.models import lexicon as lx
from heliumsql.models.vocabulary import TRAIN, WORDS, pick, sentiment_words


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def review(rng: random.Random, sentiment: str | None = None, product: str | None = None,
           split: str = TRAIN) -> dict:
    """A product review of one polarity mentioning 0-3 aspects (shipping, price, ...).

    Some reviews carry their sentiment in a word of the AFINN lexicon ("In a word: dreadful.");
    in the ``WORDS`` split such held-out words are the only sentiment the review has.
    """
    sentiment = sentiment or rng.choice(("positive", "negative"))
    side = 0 if sentiment == "positive" else 1
    product = product or rng.choice(lx.PRODUCTS)
    stars = rng.choice((4, 5)) if side == 0 else rng.choice((1, 2))
    if split == WORDS:
        words = rng.sample(_words(sentiment, split), rng.choice((1, 1, 2)))
        text = " ".join(word_sentence(rng, w, product) for w in words)
        return dict(product=product, review=text, sentiment=sentiment, aspects=(), stars=stars)
    num_aspects = rng.choice((0, 1, 1, 2, 2, 2, 3))
    aspects = rng.sample(sorted(lx.ASPECTS), num_aspects)
    sentences = [rng.choice(lx.ASPECTS[a][side]) for a in aspects]
    openers = lx.POSITIVE_OPENERS if side == 0 else lx.NEGATIVE_OPENERS
    # Without an aspect sentence the opener alone must carry the sentiment.
    if not sentences or rng.random() < 0.75:
        if rng.random() < 0.3:
            sentences.insert(0, word_sentence(rng, rng.choice(_words(sentiment, split)), product))
        else:
            sentences.insert(0, rng.choice(openers).format(product=product))
    if rng.random() < 0.2:
        sentences.append(rng.choice(openers).format(product=product))
    return dict(product=product, review=" ".join(sentences), sentiment=sentiment,
                aspects=tuple(aspects), stars=stars)


def word_sentence(rng: random.Random, word: str, product: str) -> str:
    """One sentence whose only sentiment is ``word``."""
    return _cap(rng.choice(lx.WORD_FRAMES).format(w=word, product=product))


@functools.cache  # a hot path of data generation: the filter over the AFINN list runs once
def _words(polarity: str, split: str) -> tuple[str, ...]:
    # No word that contains an aspect's name: "does it mention price?" must stay visible.
    return tuple(w for w in sentiment_words(polarity, split) if not any(a in w for a in lx.ASPECTS))


def scored_review(rng: random.Random, split: str = TRAIN) -> dict:
    """A review and the 1-5 stars its wording gives: strong praise 5, mild praise 4, a mixed
    review 3, mild criticism 2, strong criticism 1 (``WORDS``: 2-4 from held-out words only)."""
    product = rng.choice(lx.PRODUCTS)
    stars = rng.choice((2, 3, 4)) if split == WORDS else rng.randint(1, 5)
    polarity = "positive" if stars > 3 else "negative"
    side = 0 if stars > 3 else 1
    if stars == 3:
        good, bad = rng.sample(sorted(lx.ASPECTS), 2)
        if split == WORDS:
            parts = [word_sentence(rng, rng.choice(_words(p, split)), product) for p in ("positive", "negative")]
        else:
            parts = [rng.choice(lx.ASPECTS[good][0]), rng.choice(lx.ASPECTS[bad][1])]
        rng.shuffle(parts)
        if rng.random() < 0.6 and split != WORDS:
            parts.insert(0, rng.choice(lx.MIXED_OPENERS).format(product=product))
        return dict(product=product, review=" ".join(parts), stars=3)
    if split == WORDS:
        return dict(product=product, stars=stars,
                    review=word_sentence(rng, rng.choice(_words(polarity, split)), product))
    strong = stars in (1, 5)
    openers = ((lx.STRONG_POSITIVE, lx.MILD_POSITIVE), (lx.STRONG_NEGATIVE, lx.MILD_NEGATIVE))[side][not strong]
    if not strong and rng.random() < 0.3:
        opener = word_sentence(rng, rng.choice(_words(polarity, split)), product)
    else:
        opener = rng.choice(openers).format(product=product)
    aspects = rng.sample(sorted(lx.ASPECTS), rng.choice((0, 1, 1, 2) if strong else (0, 0, 1)))
    return dict(product=product, stars=stars,
                review=" ".join([opener] + [rng.choice(lx.ASPECTS[a][side]) for a in aspects]))


def ticket(rng: random.Random, split: str = TRAIN) -> dict:
    """A support ticket of one kind (bug, feature, question, billing), sometimes signed."""
    kind = rng.choice(sorted(lx.TICKETS))
    thing = rng.choice(lx.TICKET_THINGS).format(product=rng.choice(lx.PRODUCTS))
    body = _cap(rng.choice(lx.TICKETS[kind]).format(thing=thing))
    if rng.random() < 0.3:
        body = rng.choice(("Hi, ", "Hello. ", "Dear support, ")) + body[0].lower() + body[1:]
    if rng.random() < 0.3:
        body += f" Thanks, {person(rng, split)}."
    return dict(body=body, kind=kind)


def person(rng: random.Random, split: str = TRAIN) -> str:
    """A full name; in the ``WORDS`` split both parts are held-out names."""
    firsts = pick(lx.MORE_FIRST_NAMES, split) + (() if split == WORDS else lx.FIRST_NAMES)
    lasts = pick(lx.MORE_LAST_NAMES, split) + (() if split == WORDS else lx.LAST_NAMES)
    return f"{rng.choice(firsts)} {rng.choice(lasts)}"


def city(rng: random.Random, split: str = TRAIN) -> str:
    """A city; in the ``WORDS`` split a held-out one."""
    return rng.choice(pick(lx.MORE_CITIES, split) + (() if split == WORDS else lx.CITIES))


def _sports(rng: random.Random) -> dict:
    t1, t2 = rng.sample(lx.TEAMS, 2)
    s1 = rng.randint(1, 6)
    s2 = rng.randint(0, s1 - 1)
    event, day = rng.choice(lx.EVENTS), rng.choice(lx.WEEKDAYS)
    player = f"{rng.choice(lx.FIRST_NAMES)} {rng.choice(lx.LAST_NAMES)}"
    body = rng.choice((
        f"On {day}, {t1} and {t2} met in the {event}. {player} scored twice as {t1} won {s1} to "
        f"{s2}. The coach praised the defence.",
        f"{_cap(t1)} won the {event} against {t2} on {day}, {s1} to {s2}. {player} was named "
        f"player of the match. Fans celebrated in the streets.",
        f"Fans packed the stadium on {day} for the {event}. {_cap(t2)} scored first, but {t1} "
        f"came back to win {s1} to {s2}. {player} scored the winning goal.",
    ))
    return dict(title=f"{_cap(t1)} win the {event}", body=body, topic="sports",
                summary=f"{_cap(t1)} beat {t2} {s1}-{s2} in the {event}.")


def _politics(rng: random.Random) -> dict:
    who, policy, day = rng.choice(lx.POLITICIANS), rng.choice(lx.POLICIES), rng.choice(lx.WEEKDAYS)
    city = rng.choice(lx.CITIES)
    body = rng.choice((
        f"On {day}, {who} proposed {policy}. Critics said the plan goes too far, while supporters "
        f"called it overdue. A vote is expected next month.",
        f"{_cap(who)} proposed {policy} in a speech in {city} on {day}. The opposition promised "
        f"to fight the proposal in the next election.",
        f"Voters in {city} reacted on {day} after {who} proposed {policy}. Polls show the country "
        f"is divided on the issue.",
    ))
    return dict(title=f"{_cap(who)} proposes {policy}", body=body, topic="politics",
                summary=f"{_cap(who)} proposed {policy}.")


def _technology(rng: random.Random) -> dict:
    company, product, city = rng.choice(lx.COMPANIES), rng.choice(lx.TECH_PRODUCTS), rng.choice(lx.CITIES)
    price = rng.randint(2, 19) * 50
    body = rng.choice((
        f"{company} unveiled {product} at an event in {city}. It will go on sale next month for "
        f"{price} dollars. Reviewers praised the software and the design.",
        f"At a launch in {city}, {company} showed {product}. The company says it is faster and "
        f"uses less energy than before. It costs {price} dollars.",
        f"Engineers at {company} spent three years building {product}. It was unveiled in {city} "
        f"and early users report fewer bugs and a faster app.",
    ))
    return dict(title=f"{company} unveils {product}", body=body, topic="technology",
                summary=f"{company} unveiled {product}.")


def _business(rng: random.Random) -> dict:
    company, (verb, obj), day = rng.choice(lx.COMPANIES), rng.choice(lx.BUSINESS_ACTIONS), rng.choice(lx.WEEKDAYS)
    pct = rng.randint(2, 15)
    body = rng.choice((
        f"{company} said on {day} it will {verb} {obj}. Shares rose {pct} percent after the "
        f"announcement. Investors expect higher profits next quarter.",
        f"In a statement on {day}, the chief executive of {company} announced plans to {verb} "
        f"{obj}. The stock moved {pct} percent in early trading.",
        f"Quarterly revenue at {company} beat forecasts, and on {day} the firm said it will "
        f"{verb} {obj}. Markets reacted calmly.",
    ))
    return dict(title=f"{company} to {verb} {obj}", body=body, topic="business",
                summary=f"{company} will {verb} {obj}.")


def _science(rng: random.Random) -> dict:
    field, finding, city = rng.choice(lx.SCIENCE_FIELDS), rng.choice(lx.DISCOVERIES), rng.choice(lx.CITIES)
    body = rng.choice((
        f"{_cap(field)} at a university in {city} have discovered {finding}. The findings were "
        f"published in a journal this week and could change how we study the topic.",
        f"A team of {field} reported {finding} after five years of experiments in {city}. Other "
        f"labs are now trying to repeat the result.",
        f"In a new study, {field} found {finding}. The research, led from {city}, used data from "
        f"telescopes, microscopes and field trips.",
    ))
    return dict(title=f"{_cap(field)} discover {finding}", body=body, topic="science",
                summary=f"{_cap(field)} discovered {finding}.")


_DOCUMENTS = dict(sports=_sports, politics=_politics, technology=_technology,
                  business=_business, science=_science)


def document(rng: random.Random, topic: str | None = None) -> dict:
    """A three-sentence news item with a title, its topic and a reference one-line summary."""
    return _DOCUMENTS[topic or rng.choice(lx.TOPICS)](rng)


def message(rng: random.Random, split: str = TRAIN) -> dict:
    """A short message naming one person, one city and one number (of a known kind)."""
    name, where, product = person(rng, split), city(rng, split), rng.choice(lx.PRODUCTS)
    kind = rng.choice(("quantity", "order", "age", "price"))
    number = dict(quantity=rng.randint(2, 60), order=rng.randint(1000, 99999),
                  age=rng.randint(18, 90), price=rng.randint(5, 2000))[kind]
    forms = dict(
        quantity=(f"{name} from {where} ordered {number} units of the {product}.",
                  f"Hello, this is {name} in {where}. Please send me {number} more of the {product}.",
                  f"Our store in {where} needs {number} boxes of the {product}. Thanks, {name}."),
        order=(f"Hi, my name is {name} and I live in {where}. My order #{number} has not arrived.",
               f"Order {number} for {name}, shipping to {where}, was delayed.",
               f"{name} ({where}) asked about the status of order number {number}."),
        age=(f"{name} is {number} years old and lives in {where}.",
             f"Meet {name}, a {number}-year-old teacher from {where}.",
             f"At {number}, {name} moved to {where} to start a new job."),
        price=(f"{name} paid {number} dollars for a {product} in {where}.",
               f"In {where}, {name} found the {product} on sale for {number} dollars.",
               f"The {product} cost {name} {number} dollars at a shop in {where}."),
    )
    return dict(text=rng.choice(forms[kind]), name=name, city=where, number=str(number), kind=kind,
                product=product)


def price_moves(rng: random.Random, length: int | None = None) -> dict:
    """Daily price moves of a ticker (percent) and the direction each analyst role reads.

    fundamental: the whole window (most moves and the overall change agree); technical: the last
    three moves; sentiment: the last move. Moves are signed percentages, the form the demo's SQL
    computes from closing prices with ``lag()``; windows whose signs and sums disagree are redrawn
    so every label is unambiguous.
    """
    length = length or rng.randint(4, 9)
    while True:
        bias = rng.uniform(-0.7, 0.7)
        moves = [(1 if rng.random() < 0.5 + bias / 2 else -1) * round(rng.uniform(0.3, 5.0), 1)
                 for _ in range(length)]
        labels = []
        for window in (moves, moves[-3:], moves[-1:]):
            ups = sum(m > 0 for m in window)
            total = math.prod(1 + m / 100 for m in window) - 1
            if 2 * ups == len(window) or (2 * ups > len(window)) != (total > 0):
                break
            labels.append("bullish" if total > 0 else "bearish")
        if len(labels) == 3:
            break
    return dict(ticker=rng.choice(lx.TICKERS), moves=tuple(moves), fundamental=labels[0],
                technical=labels[1], sentiment=labels[2])


def format_moves(moves: tuple[float, ...]) -> str:
    """Moves as the demo's SQL renders them: ``string_agg(printf('%+.1f%%', pct), ', ')``."""
    return ", ".join(f"{m:+.1f}%" for m in moves)
