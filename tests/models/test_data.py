"""The generated task data: deterministic, labelled correctly, rendered the way SQL renders it."""

from __future__ import annotations

import json
import random
import re

import duckdb
import pytest

from heliumsql.models import lexicon as lx
from heliumsql.models import phrasings, texts
from heliumsql.models.data import heldout_split, train_split
from heliumsql.models.example import Example
from heliumsql.models.tasks import TASKS
from heliumsql.models.vocabulary import PHRASING, WORDS, held_out, pick, sentiment_words
from heliumsql.grammar.typed_calls import instruction
from heliumsql.output_types import decode_json, parse_output_type


def test_splits_are_deterministic_and_disjoint():
    held = heldout_split(seed=0, per_task=20)
    assert held == heldout_split(seed=0, per_task=20)
    assert sorted(held) == sorted(TASKS)
    train = train_split(3000, seed=0, exclude=held)
    assert train == train_split(3000, seed=0, exclude=held)
    held_prompts = {(ex.system, ex.prompt) for items in held.values() for ex in items}
    assert not held_prompts & {(ex.system, ex.prompt) for ex in train}
    assert {ex.task for ex in train} == set(TASKS)  # every task is in the mix


@pytest.mark.parametrize("task", sorted(TASKS))
def test_answers_are_balanced_and_from_the_task_label_set(task):
    rng = random.Random(task)
    answers = [TASKS[task].make(rng).answer for _ in range(400)]
    labels = {
        "sentiment": {"positive", "negative"}, "topic": set(lx.TOPICS),
        "analyst": {"bullish", "bearish"}, "manager": {"buy", "sell", "hold"},
        "trader": {"buy", "sell", "none"},
        "review_summary": {"mostly positive", "mostly negative", "mixed"},
        "score": {"1", "2", "3", "4", "5"},
        "classify": {json.dumps(label) for label in (*lx.TOPICS, *lx.TICKETS, "positive", "negative",
                                                     "happy", "unhappy", "good", "bad")},
    }.get(task)
    if TASKS[task].make(rng).kind == "filter":
        labels = {"yes", "no"}
    if labels is None:  # free-text tasks: answers vary
        assert len(set(answers)) > 50
        return
    assert set(answers) == labels
    # no label is so rare that always answering the other one would reach the 90% target
    floor = 0.1 if len(labels) <= 5 else 0.02
    assert min(answers.count(label) for label in labels) / len(answers) > floor


def test_review_facts_match_the_text():
    rng = random.Random(3)
    for _ in range(200):
        r = texts.review(rng)
        for aspect in lx.ASPECTS:
            # every aspect sentence names its aspect; other aspects' words never appear
            assert (aspect in r["review"].lower()) == (aspect in r["aspects"])
        assert (r["stars"] >= 4) == (r["sentiment"] == "positive")


def test_price_moves_labels_follow_the_windows():
    rng = random.Random(5)
    for _ in range(200):
        p = texts.price_moves(rng)
        moves = p["moves"]
        assert p["sentiment"] == ("bullish" if moves[-1] > 0 else "bearish")
        assert p["technical"] == ("bullish" if sum(m > 0 for m in moves[-3:]) >= 2 else "bearish")
        assert p["fundamental"] == ("bullish" if 2 * sum(m > 0 for m in moves) > len(moves) else "bearish")


def test_format_moves_matches_duckdb_printf():
    moves = (2.3, -1.0, 0.4, -4.8)
    sql = "SELECT string_agg(printf('%+.1f%%', m), ', ' ORDER BY i) FROM (VALUES " + ", ".join(
        f"({i}, {m})" for i, m in enumerate(moves)) + ") t(i, m)"
    assert duckdb.sql(sql).fetchall()[0][0] == texts.format_moves(moves)


def test_prompt_renders_like_the_sql_layer():
    ex = Example("x", "llm", "Classify: {a}", (("a", "one"), ("b", "two")), "y", context=("b",))
    assert ex.prompt == "Classify: one\nb: two"
    agg = Example("x", "agg", "Views:\n{v}", (("v", ("sell", "buy", "hold")),), "y")
    # llm_agg joins the group's values with newlines, ordered by value
    assert agg.prompt == "Views:\nbuy\nhold\nsell"
    sys = Example("x", "llm", "Q {a}", (("a", "1"),), "y", system="You are a technical analyst.")
    assert sys.messages()[0] == {"role": "system", "content": "You are a technical analyst."}


def _words(text: str) -> set[str]:
    return set(re.findall(r"[a-z]+", text.lower()))


def test_unseen_phrasings_and_words_never_reach_training():
    train = train_split(6000, seed=0)
    texts_seen = " ".join(ex.prompt for ex in train)
    seen_words = _words(texts_seen + " " + " ".join(ex.answer for ex in train))
    phrasing = heldout_split(seed=0, per_task=40, split=PHRASING)
    assert set(phrasing) >= {"sentiment", "topic", "classify"}
    unseen = {(task, ex.template) for task, items in phrasing.items() for ex in items}
    assert len(unseen) >= 3 * len(phrasing)  # several whole phrasings per task
    assert not unseen & {(ex.task, ex.template) for ex in train}
    words = heldout_split(seed=0, per_task=40, split=WORDS)
    vocabulary = {w.lower() for w in sentiment_words("positive", WORDS) + sentiment_words("negative", WORDS)
                  + pick(lx.MORE_FIRST_NAMES + lx.MORE_LAST_NAMES + lx.MORE_CITIES, WORDS)}
    assert all(held_out(w) for w in vocabulary)
    held = {w for items in words.values() for ex in items for w in _words(ex.prompt)} & vocabulary
    assert len(held) > 50  # the unseen-words items do carry held-out words
    assert not held & seen_words


_LABEL = "(?:" + "|".join((*lx.TOPICS, "positive", "negative")) + ")"
_CHOICES = re.compile(rf"\b{_LABEL}\b(?:[\s,/|]+(?:or\s+)?{_LABEL}\b)*")


def _five_word_runs(template: str) -> set[tuple[str, ...]]:
    """Five-word runs of a template's wording: placeholders dropped, a list of choices one word
    (the choices are the task, not its phrasing)."""
    text = _CHOICES.sub(" choices ", re.sub(r"\{\w+\}", " ", template.lower()))
    words = re.findall(r"[a-z']+", text)
    return {tuple(words[i:i + 5]) for i in range(len(words) - 4)}


def test_no_composed_training_phrasing_shares_five_words_with_a_held_out_one():
    """The held-out phrasings are new sentences, not recombinations of training parts."""
    unseen = heldout_split(seed=0, per_task=60, split=PHRASING)
    held_runs = {run for items in unseen.values() for ex in items for run in _five_word_runs(ex.template)}
    assert len(held_runs) > 30
    for make in (phrasings.sentiment, phrasings.topic, phrasings.classify_review):
        composed = phrasings.all_templates(make)
        assert len(composed) > 200
        shared = {run for t in composed for run in _five_word_runs(t)} & held_runs
        assert not shared, f"{make.__name__} composes held-out wording: {sorted(shared)[:5]}"


def test_typed_answers_are_values_of_the_calls_type():
    rng = random.Random(7)
    for task in ("classify", "classify_multi", "score", "extract_json"):
        for _ in range(100):
            ex = TASKS[task].make(rng)
            options = dict(ex.options)
            value = decode_json(parse_output_type(options["returns"]), ex.answer)
            assert ex.answer == json.dumps(json.loads(ex.answer), separators=(",", ":"), sort_keys=True)
            if task == "classify":
                assert value in options["labels"]
            elif task == "classify_multi":
                assert value and set(value) <= set(options["labels"])
            elif task == "score":
                assert options["low"] <= value <= options["high"]
            else:
                assert all(v is not None and str(v) in ex.prompt for v in value.values())
            assert ex.prompt.startswith(instruction(options))


def test_a_mistyped_task_weight_stops_training_naming_it() -> None:
    with pytest.raises(ValueError, match="extract_jsn"):
        train_split(8, weights={"extract_jsn": 6.0})
