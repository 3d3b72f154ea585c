"""Every ``__helium_*`` identifier HeliumSQL puts into SQL, made and parsed here only.

A plan refers to per-query DuckDB objects by name: node ``id``'s answers are the scalar UDF
``__helium_<id>(prompt)``, an ``llm_map``'s rows the table ``__helium_map_<id>``, and a
pipelined node's partial input asks ``__helium_ready_<id>(prompt)``. The remaining names are
columns and aliases of the queries the planner writes. The prefix is reserved: user objects
named ``__helium_...`` are not supported.

>>> import sqlglot
>>> tree = sqlglot.parse_one(f"SELECT {udf_name(2)}(x) FROM {map_table_name(1)}")
>>> [node_id(c) for c in udf_calls(tree)], map_tables(tree), dependencies(tree)
([2], {1}, (1, 2))
>>> ready_udf_name(3), chain_prompt_column(2), source_marker(0)
('__helium_ready_3', '__helium_prompt_2', '__helium_source_0')
"""

from __future__ import annotations

import re

from sqlglot import exp

PREFIX = "__helium_"
# The rendered prompt column of an ``llm_map`` node's input (one row per input row).
PROMPT_COLUMN = "__helium_prompt"
# The alias of an ``llm_map``'s source query inside its input.
INPUT_ALIAS = "__helium_input"
# A marker the column-pruning rule tags a call occurrence with while it works.
OCCURRENCE_MARK = "__helium_occurrence_"
# The batch the result cache registers while it appends answers.
CACHE_BATCH = "__helium_cache_batch"

_UDF = re.compile(r"^__helium_(\d+)$")
_MAP_TABLE = re.compile(r"^__helium_map_(\d+)$")


def udf_name(node: int) -> str:
    """The UDF that answers node ``node``'s prompts."""
    return f"{PREFIX}{node}"


def map_table_name(node: int) -> str:
    """The table holding an ``llm_map`` node's rows."""
    return f"{PREFIX}map_{node}"


def ready_udf_name(node: int) -> str:
    """The UDF that says whether node ``node`` has answered a prompt yet."""
    return f"{PREFIX}ready_{node}"


def chain_prompt_column(member: int) -> str:
    """The column holding member ``member``'s prompt in an adaptive chain's input."""
    return f"{PROMPT_COLUMN}_{member}"


def source_marker(index: int) -> str:
    """A marker column the planner binds between the columns of FROM source ``index``."""
    return f"{PREFIX}source_{index}"


def node_id(call: exp.Expr) -> int | None:
    """The node id of a ``__helium_<id>(...)`` call, else None."""
    if isinstance(call, exp.Anonymous):
        match = _UDF.match(call.name)
        if match:
            return int(match[1])
    return None


def map_table_id(table: exp.Expr) -> int | None:
    """The node id of an ``llm_map`` result table ``__helium_map_<id>``, else None."""
    if isinstance(table, exp.Table) and not table.args.get("db"):
        match = _MAP_TABLE.match(table.name)
        if match:
            return int(match[1])
    return None


def udf_calls(tree: exp.Expr | None, node: int | None = None) -> list[exp.Anonymous]:
    """Every ``__helium_<id>(...)`` call in ``tree`` (only node ``node``'s when given)."""
    if tree is None:
        return []
    return [c for c in tree.find_all(exp.Anonymous)
            if (i := node_id(c)) is not None and (node is None or i == node)]


def map_tables(tree: exp.Expr | None) -> set[int]:
    """Ids of the ``llm_map`` nodes whose tables ``tree`` reads."""
    if tree is None:
        return set()
    return {i for t in tree.find_all(exp.Table) if (i := map_table_id(t)) is not None}


def dependencies(query: exp.Expr | None) -> tuple[int, ...]:
    """Ids of the nodes whose results ``query`` reads (their UDFs or tables)."""
    return tuple(sorted({node_id(c) for c in udf_calls(query)} | map_tables(query)))  # type: ignore[type-var]


def verdict(predicate: exp.Expr) -> tuple[int | None, bool]:
    """(node id, negated) of a WHERE conjunct ``[NOT] __helium_<id>(...)``; (None, ...) for
    any other conjunct.

    >>> import sqlglot
    >>> verdict(sqlglot.parse_one("NOT (__helium_3(p))")), verdict(sqlglot.parse_one("x > 1"))
    ((3, True), (None, False))
    """
    negated = isinstance(predicate, exp.Not)
    inner = predicate.this if negated else predicate
    inner = inner.this if isinstance(inner, exp.Paren) else inner
    return node_id(inner), negated
