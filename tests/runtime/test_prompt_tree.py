"""The templated prompt tree, static prefixes and the filter limit, on their own."""

from __future__ import annotations

import sqlglot
from hypothesis import given
from hypothesis import strategies as st

import heliumsql.grammar  # noqa: F401 - the helium dialect
from heliumsql.prompting import chat_token_ids
from heliumsql.workflow.limit import FilterLimit
from heliumsql.workflow.prompt_tree import PromptTree

prompts = st.lists(st.lists(st.integers(0, 3), min_size=1, max_size=6), max_size=12)


def trie_size(items: list[list[int]]) -> int:
    nodes: set[tuple[int, ...]] = set()
    for p in items:
        nodes.update(tuple(p[:i]) for i in range(1, len(p) + 1))
    return len(nodes)


@given(prompts)
def test_distinct_tokens_is_the_trie_size(items):
    assert PromptTree.distinct_tokens(items) == trie_size(items)


@given(prompts, st.lists(st.integers(0, 3), max_size=3))
def test_remaining_uses_counts_pending_prompts_under_a_prefix(items, prefix):
    tree = PromptTree()
    for p in items:
        tree.add(p)
    expected = sum(1 for p in items if p[:len(prefix)] == prefix)
    assert tree.remaining_uses(prefix) == expected
    for p in items:
        tree.remove(p)
    assert tree.remaining_uses(prefix) == 0 and tree.num_pending == 0


def test_templates_count_as_future_uses_until_their_node_starts():
    tree = PromptTree()
    tree.add_template(1, (5, 6, 7))
    tree.add_template(2, (5, 6, 8))
    assert tree.remaining_uses((5, 6)) == 2 and tree.remaining_uses((5, 6, 7)) == 1
    # A prefix longer than a template reaches into its dynamic part: no known use.
    assert tree.remaining_uses((5, 6, 7, 1)) == 0
    tree.drop_template(1)
    tree.add((5, 6, 7, 1))
    tree.add((5, 6, 7, 2))
    assert tree.remaining_uses((5, 6)) == 3 and tree.priority((5, 6, 7)) == 2.0


def test_dfs_order_groups_shared_prefixes():
    items = [(2, 1), (1, 9), (2, 0, 5), (1, 2)]
    order = PromptTree.dfs_order(items)
    assert [items[i] for i in order] == [(1, 2), (1, 9), (2, 0, 5), (2, 1)]


def test_static_prefix_is_a_prefix_of_every_chat_formatted_prompt(shared_engine):
    from heliumsql.optimizer.factor_prompt_prefixes import static_text
    from heliumsql.prompting import prefix_token_ids

    text, _ = static_text(sqlglot.parse_one("CONCAT('Review: ', COALESCE(CAST(r AS TEXT), ''))"))
    tok = shared_engine.tokenizer
    static = prefix_token_ids(tok, text, "Be terse")
    assert len(static) > 10
    for value in ("great", "5 stars", " spaced", "", "Ünïcode"):
        ids = chat_token_ids(tok, "Review: " + value, "Be terse")
        assert tuple(ids[:len(static)]) == static


def test_filter_limit_counts_rows_in_input_order():
    # Rows' prompts in input order; "a" repeats.
    lim = FilterLimit(3, ["a", "b", "c", "a", "d"])
    assert not lim.answer("d", True)  # out of order: the rows before it are unknown
    assert not lim.answer("a", True)  # row 0 passes; row 1 (b) unknown, so row 3 does not count
    assert not lim.answer("b", False)
    assert lim.answer("c", True)  # rows 0, 2, 3 passed: the first three passing rows
    assert lim.reached and lim.passed == 3 and lim.rows_needed == 0
    assert FilterLimit(5, ["a"]).chunk() == 10
