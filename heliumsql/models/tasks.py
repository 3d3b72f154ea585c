"""The instruction tasks the built-in model learns, each with many phrasings.

A task is a function ``rng -> Example``. Templates are written the way users write SQL calls
(``{column}`` placeholders, optional record-style context columns, optional system message); the
first phrasing of each task is the one the README, the demo and the notebooks use.

>>> import random
>>> ex = TASKS["sentiment"].make(random.Random(1))
>>> ex.answer in ("positive", "negative")
True
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from heliumsql.models import lexicon as lx
from heliumsql.models import phrasings, texts
from heliumsql.models.example import Example
from heliumsql.models.typed_tasks import classify, classify_multi, extract_json, score
from heliumsql.models.vocabulary import PHRASING, TRAIN

SENTIMENT = (
    "Is this review positive or negative? Review: {review}",
    "Is this review positive or negative?\n{review}",
    "Classify the sentiment of this review as positive or negative: {review}",
    "Classify the sentiment of this review as positive or negative.\nReview: {review}",
    "What is the sentiment of this review? Answer positive or negative.\n{review}",
    "Sentiment of the following product review (positive or negative): {review}",
    "Review: {review}\nIs the sentiment positive or negative?",
    "Review: {review} Is the sentiment positive or negative?",
    "{review}\nSentiment:",
    "Label the review as positive or negative. {review}",
    "Does this customer like the {product}? Answer positive or negative.\n{review}",
    "Sentiment of this {product} review: {review}",
    "Read the review and say whether it is positive or negative.\n\n{review}",
    "Positive or negative? {review}",
    "What is the sentiment? {review}",
    "Is the following review positive or negative? {review}",
    "Decide if this review is positive or negative: {review}",
    "Was the customer pleased? Answer positive or negative. {review}",
    "Customer feedback: {review}\nPositive or negative?",
)
# Held out of training: measured as unseen phrasings (vocabulary.PHRASING).
SENTIMENT_UNSEEN = (
    "How does this shopper feel about the purchase, positive or negative? {review}",
    "Here is a customer comment: {review}\nWould you call it positive or negative?",
    "Tell me if this feedback is positive or negative.\n{review}",
    "Opinion in this review (positive/negative): {review}",
    "Customer wrote: {review}\nPositive or negative?",
)
SENTIMENT_RECORD = ("Is this review positive or negative?", "Classify the sentiment (positive or negative).",
                    "Sentiment of this review:")
SENTIMENT_YESNO = (  # (template, answer-is-yes-when-positive)
    ("Is this review positive? {review}", True), ("Is this review negative? {review}", False),
    ("Is the customer satisfied? {review}", True), ("Did the customer like the product? Review: {review}", True),
    ("Is this a positive review? Answer yes or no. {review}", True), ("Is this a complaint? {review}", False),
    ("Is the customer unhappy? {review}", False), ("Would this customer recommend the {product}? {review}", True),
    ("Is this review negative? Answer yes or no.\n{review}", False),
)
MENTION = (
    "Does this review mention {a}? {review}", "Does this review mention {a}?\nReview: {review}",
    "Does the review talk about {a}? {review}", "Is {a} mentioned in this review? {review}",
    "Review: {review}\nDoes it mention {a}? Answer yes or no.",
    "Does the customer say anything about {a}? {review}",
    "Does this review discuss {a}? Answer yes or no.\n{review}", "Is this review about {a}? {review}",
)
COMPLAINT = (
    "Does this review complain about {a}? {review}", "Is the customer unhappy with the {a}? {review}",
    "Does the review criticize the {a}? Answer yes or no.\n{review}",
    "Review: {review}\nIs there a complaint about {a}?",
)
TOPIC_LIST = "sports, politics, technology, business, science"
TOPIC = (
    "What is the topic of this text? Choose one of: " + TOPIC_LIST + ". Text: {body}",
    "What is the topic of this text? Choose one of: " + TOPIC_LIST + ".\n{body}",
    "Classify this article into one of " + TOPIC_LIST + ": {body}",
    "Topic (sports, politics, technology, business or science): {title}. {body}",
    "Which topic is this document about: sports, politics, technology, business or science?\n"
    "Title: {title}\nText: {body}",
    "What is this headline about? Answer sports, politics, technology, business or science. {title}",
    "Topic of this article: {body}",
    "Give the topic of the document in one word.\n{body}",
    "{title}\n{body}\nTopic:",
    "What is the topic of this headline? {title}",
    "Classify the topic: {title}",
    "Is this text about sports, politics, technology, business or science? {body}",
    "Pick the topic (sports, politics, technology, business, science) for: {title}",
    "Article: {body}\nTopic:",
)
TOPIC_UNSEEN = (
    "Which of these subjects fits this news story best: sports, politics, technology, business or "
    "science?\n{body}",
    "Here is a news story: {body}\nWhat is it about? (sports, politics, technology, business, science)",
    "Sort this headline into sports, politics, technology, business or science: {title}",
    "Subject of this article (sports, politics, technology, business, science)? {body}",
)
TOPIC_RECORD = ("What is the topic? Choose one of: " + TOPIC_LIST + ".", "Classify the topic of this article.")
TOPIC_YESNO = ("Is this article about {t}? {body}", "Is this a {t} story? {title}",
               "Is this document about {t}? Answer yes or no.\n{title}\n{body}", "Is this news about {t}? {body}")
EXTRACT = dict(
    name=("Extract the person's name from this text: {text}", "What is the name of the person in this text? {text}",
          "Who is mentioned in this text? Answer with the full name. {text}", "Extract the name.\n{text}",
          "Name of the customer: {text}", "Who is this about? {text}"),
    city=("Which city is mentioned in this text? {text}", "Extract the city from this text: {text}",
          "What city is the person in? {text}", "Where is the person? Answer with the city. {text}",
          "Extract the city.\n{text}", "City mentioned: {text}"),
    number=("Extract the number from this text: {text}", "What number is mentioned in this text? {text}",
            "Extract the number.\n{text}", "Which number appears in this text? {text}"),
)
EXTRACT_KIND = dict(quantity=("How many items were ordered? {text}", "What quantity is requested? {text}"),
                    order=("What is the order number? {text}", "Extract the order number: {text}"),
                    age=("How old is the person? {text}", "What is the person's age? {text}"),
                    price=("How much was paid, in dollars? {text}", "What is the price? {text}"))
EXTRACT_RECORD = dict(name=("Extract the person's name.", "Who is mentioned?"),
                      city=("Extract the city.", "Which city is mentioned?"),
                      number=("Extract the number.", "What number is mentioned?"))
SUMMARY = (
    "Summarize this document in one line: {body}", "Write a one-line summary of this article.\n{body}",
    "Summarize in one sentence: {body}", "TL;DR: {body}", "Give a one-sentence summary.\nTitle: {title}\nText: {body}",
    "Summarize: {body}", "Summarize this article in one line.\n\n{title}\n{body}",
    "Summarize this article in one line. Title: {title}. Text: {body}",
    "What is the main point of this text? {body}", "{body}\nOne-line summary:",
)
REVIEW_AGG = (
    "Summarize the overall sentiment of these reviews: {review}",
    "Summarize the overall sentiment of these reviews:\n{review}",
    "Here are some reviews:\n{review}\nAre they mostly positive, mostly negative or mixed?",
    "Overall, what do customers think? Answer mostly positive, mostly negative or mixed.\n{review}",
    "Summarize these reviews in a few words:\n{review}",
    "Reviews:\n{review}\nOverall sentiment:",
)
ANALYST = (
    "You are a {role} analyst. Read the recent daily price moves of {ticker} and answer bullish or bearish. "
    "Moves: {moves}",
    "You are a {role} analyst. Read the recent daily price moves of {ticker} and answer bullish or bearish.\n"
    "Moves: {moves}",
    "As a {role} analyst, is {ticker} bullish or bearish? Daily moves: {moves}",
    "{role} analysis of {ticker}. Recent daily moves: {moves}. Bullish or bearish?",
    "You are a {role} analyst. Daily price changes of {ticker}: {moves}\nAnswer bullish or bearish.",
    "Role: {role} analyst\nTicker: {ticker}\nDaily moves: {moves}\nView (bullish or bearish):",
)
ANALYST_SYSTEM = ("Recent daily price moves of {ticker}: {moves}\nBullish or bearish?",
                  "Is {ticker} bullish or bearish? Daily moves: {moves}")
ANALYST_NO_ROLE = ("Is {ticker} bullish or bearish? Daily moves: {moves}",
                   "Daily price changes of {ticker}: {moves}\nIs the trend bullish or bearish?")
MANAGER = (
    "You are a portfolio manager. Decide buy, sell or hold from these analyst views: {view}",
    "You are a portfolio manager. Analyst views:\n{view}\nAnswer buy, sell or hold.",
    "You are a portfolio manager. Analyst views: {view} Answer buy, sell or hold.",
    "Here are the analysts' opinions:\n{view}\nShould we buy, sell or hold?",
    "Decide buy, sell or hold from these views:\n{view}",
    "Analyst views:\n{view}\nFinal call (buy, sell or hold):",
    "Majority vote of the analysts (buy, sell or hold):\n{view}",
)
TRADER = (
    "You are the trader. The portfolio manager decided {decision} for {ticker}. We hold {shares} shares. "
    "What order do you place? Answer buy, sell or none.",
    "Final decision for {ticker}: the manager says {decision} and we own {shares} shares. Place buy, sell or none?",
    "Manager decision: {decision}. Shares held of {ticker}: {shares}. Order (buy, sell or none):",
)
TRADER_RECORD = ("What order should the trader place? Answer buy, sell or none.",)


def _review_fields(r: dict, template: str) -> tuple[tuple[str, object], ...]:
    keep = [k for k in ("product", "review") if "{" + k + "}" in template]
    return tuple((k, r[k]) for k in keep)


def sentiment(rng: random.Random, split: str = TRAIN) -> Example:
    r = texts.review(rng, split=split)
    if split == PHRASING:
        t = rng.choice(SENTIMENT_UNSEEN)
        return Example("sentiment", "llm", t, _review_fields(r, t), r["sentiment"])
    if rng.random() < 0.15:
        t = rng.choice(SENTIMENT_RECORD)
        ctx = ("review",) if rng.random() < 0.6 else ("product", "review")
        return Example("sentiment", "llm", t, tuple((k, r[k]) for k in ctx), r["sentiment"], ctx)
    t = rng.choice(SENTIMENT) if rng.random() < 0.3 else phrasings.sentiment(rng)
    return Example("sentiment", "llm", t, _review_fields(r, t), r["sentiment"])


def sentiment_yesno(rng: random.Random, split: str = TRAIN) -> Example:
    r = texts.review(rng)
    t, when_positive = rng.choice(SENTIMENT_YESNO)
    yes = (r["sentiment"] == "positive") == when_positive
    return Example("sentiment_yesno", "filter", t, _review_fields(r, t), "yes" if yes else "no")


def _aspect_question(rng: random.Random, task: str, templates: tuple[str, ...],
                     answer: Callable[[dict, str], bool]) -> Example:
    want = rng.random() < 0.5  # balance yes and no; redraw until the review fits
    while True:
        r = texts.review(rng)
        mentioned = bool(r["aspects"]) and rng.random() < 0.6
        aspect = (rng.choice(r["aspects"]) if mentioned
                  else rng.choice(sorted(set(lx.ASPECTS) - set(r["aspects"]))))
        # Most "no" reviews still talk about other aspects, so the answer must come from matching
        # the asked aspect, not from whether the review mentions any aspect at all.
        hard = want or bool(r["aspects"]) or rng.random() < 0.15
        if answer(r, aspect) == want and hard:
            break
    t = rng.choice(templates).replace("{a}", aspect)
    return Example(task, "filter", t, _review_fields(r, t), "yes" if want else "no")


def mention(rng: random.Random, split: str = TRAIN) -> Example:
    return _aspect_question(rng, "mention", MENTION, lambda r, a: a in r["aspects"])


def complaint(rng: random.Random, split: str = TRAIN) -> Example:
    return _aspect_question(rng, "complaint", COMPLAINT,
                            lambda r, a: a in r["aspects"] and r["sentiment"] == "negative")


def _doc_fields(d: dict, template: str) -> tuple[tuple[str, object], ...]:
    return tuple((k, d[k]) for k in ("title", "body") if "{" + k + "}" in template)


def topic(rng: random.Random, split: str = TRAIN) -> Example:
    d = texts.document(rng)
    if split == PHRASING:
        t = rng.choice(TOPIC_UNSEEN)
        return Example("topic", "llm", t, _doc_fields(d, t), d["topic"])
    if rng.random() < 0.15:
        ctx = ("body",) if rng.random() < 0.5 else ("title", "body")
        return Example("topic", "llm", rng.choice(TOPIC_RECORD), tuple((k, d[k]) for k in ctx), d["topic"], ctx)
    t = rng.choice(TOPIC) if rng.random() < 0.3 else phrasings.topic(rng)
    return Example("topic", "llm", t, _doc_fields(d, t), d["topic"])


def topic_yesno(rng: random.Random, split: str = TRAIN) -> Example:
    d = texts.document(rng)
    asked = d["topic"] if rng.random() < 0.5 else rng.choice([x for x in lx.TOPICS if x != d["topic"]])
    t = rng.choice(TOPIC_YESNO).replace("{t}", asked)
    return Example("topic_yesno", "filter", t, _doc_fields(d, t), "yes" if asked == d["topic"] else "no")


def _extract(rng: random.Random, field: str, split: str) -> Example:
    m = texts.message(rng, split)
    task = f"extract_{field}"
    if rng.random() < 0.15:
        return Example(task, "llm", rng.choice(EXTRACT_RECORD[field]), (("text", m["text"]),), m[field], ("text",))
    pool = EXTRACT[field] + (EXTRACT_KIND[m["kind"]] if field == "number" else ())
    return Example(task, "llm", rng.choice(pool), (("text", m["text"]),), m[field])


def extract_name(rng: random.Random, split: str = TRAIN) -> Example:
    return _extract(rng, "name", split)


def extract_city(rng: random.Random, split: str = TRAIN) -> Example:
    return _extract(rng, "city", split)


def extract_number(rng: random.Random, split: str = TRAIN) -> Example:
    return _extract(rng, "number", split)


def summary(rng: random.Random, split: str = TRAIN) -> Example:
    d = texts.document(rng)
    t = rng.choice(SUMMARY)
    return Example("summary", "llm", t, _doc_fields(d, t), d["summary"])


def review_summary(rng: random.Random, split: str = TRAIN) -> Example:
    # Groups are clearly one-sided or exactly balanced: a one-review majority is too close to
    # call for a small model, and the demo data avoids it.
    n = rng.randint(2, 5)
    pos = rng.choice([k for k in range(n + 1) if abs(2 * k - n) >= 2 or 2 * k == n])
    labels = ["positive"] * pos + ["negative"] * (n - pos)
    rng.shuffle(labels)
    reviews = tuple(texts.review(rng, s)["review"] for s in labels)
    pos = labels.count("positive")
    answer = "mostly positive" if 2 * pos > n else "mostly negative" if 2 * pos < n else "mixed"
    return Example("review_summary", "agg", rng.choice(REVIEW_AGG), (("review", reviews),), answer)


def analyst(rng: random.Random, split: str = TRAIN) -> Example:
    p = texts.price_moves(rng)
    moves = texts.format_moves(p["moves"])
    base = (("ticker", p["ticker"]), ("moves", moves))
    roll = rng.random()
    if roll < 0.1:
        return Example("analyst", "llm", rng.choice(ANALYST_NO_ROLE), base, p["fundamental"])
    role = rng.choice(lx.ANALYST_ROLES)
    if roll < 0.25:
        return Example("analyst", "llm", rng.choice(ANALYST_SYSTEM), base, p[role],
                       system=f"You are a {role} analyst.")
    if roll < 0.35:
        t = "You are a {role} analyst. Is the stock bullish or bearish?"
        return Example("analyst", "llm", t, (("role", role),) + base, p[role], ("ticker", "moves"))
    return Example("analyst", "llm", rng.choice(ANALYST), (("role", role),) + base, p[role])


def manager(rng: random.Random, split: str = TRAIN) -> Example:
    n = rng.choice((2, 3, 3, 3, 4, 4, 5))
    views = [rng.choice(("bullish", "bearish")) for _ in range(n)]
    roles = [rng.choice(lx.ANALYST_ROLES + ("momentum", "value", "macro", "risk")) for _ in range(n)]
    style = rng.randrange(4)
    lines = tuple(
        (f"{r}: {v}", v, f"The {r} analyst is {v}.", f"{r} analyst says {v}")[style]
        for r, v in zip(roles, views))
    bull = views.count("bullish")
    answer = "buy" if 2 * bull > n else "sell" if 2 * bull < n else "hold"
    return Example("manager", "agg", rng.choice(MANAGER), (("view", lines),), answer)


def trader(rng: random.Random, split: str = TRAIN) -> Example:
    decision = rng.choice(("buy", "sell", "hold"))
    shares = rng.choice((0, 0, rng.randint(1, 500)))
    answer = {"buy": "buy", "hold": "none"}.get(decision, "sell" if shares > 0 else "none")
    fields = (("ticker", rng.choice(lx.TICKERS)), ("decision", decision), ("shares", str(shares)))
    if rng.random() < 0.2:
        return Example("trader", "llm", rng.choice(TRADER_RECORD), fields, answer, ("ticker", "decision", "shares"))
    return Example("trader", "llm", rng.choice(TRADER), fields, answer)


@dataclass(frozen=True)
class Task:
    """A task's generator, its share of the training mix, how its answers are scored, and
    which held-out splits measure it (vocabulary.PHRASING, vocabulary.WORDS): ``make(rng, split)``
    draws from that split's phrasings and vocabulary."""

    make: Callable[..., Example]
    weight: float
    metric: str = "exact"  # "exact" or "overlap" (token F1, for free-text answers)
    unseen: tuple[str, ...] = ()


TASKS: dict[str, Task] = {
    "sentiment": Task(sentiment, 1.2, unseen=("phrasing", "words")),
    "sentiment_yesno": Task(sentiment_yesno, 0.4),
    "mention": Task(mention, 2.5),
    "complaint": Task(complaint, 1.5),
    "topic": Task(topic, 1.0, unseen=("phrasing",)),
    "topic_yesno": Task(topic_yesno, 0.4),
    "extract_name": Task(extract_name, 1.0, unseen=("words",)),
    "extract_city": Task(extract_city, 1.0, unseen=("words",)),
    "extract_number": Task(extract_number, 1.2),
    "summary": Task(summary, 0.8, "overlap"),
    "review_summary": Task(review_summary, 0.8),
    "analyst": Task(analyst, 2.0),
    "manager": Task(manager, 0.7),
    "trader": Task(trader, 0.5),
    "classify": Task(classify, 3.5, unseen=("phrasing", "words")),
    "classify_multi": Task(classify_multi, 1.0, unseen=("phrasing",)),
    "score": Task(score, 2.0, unseen=("phrasing", "words")),
    "extract_json": Task(extract_json, 2.5, unseen=("phrasing", "words")),
}
