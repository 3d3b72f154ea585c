"""EXPLAIN text: a stable, indentation-based rendering of a physical plan (golden-tested).

```
Query
  Relational  SELECT id, __helium_1(...) AS label FROM reviews WHERE stars < 3
  Llm #1  llm('Is this review positive? {review}', max_tokens => 8)
    strategy  batch: all prompts at once, no upstream LLM node
    input  SELECT concat('Is this review positive? ', ...) AS prompt FROM reviews WHERE stars < 3
  Prefix  #1  'Is this review positive? '
  Optimizer  eliminate_common_llm_calls, factor_prompt_prefixes
    eliminate_common_llm_calls  identical prompts generated once in #1
    factor_prompt_prefixes  prefix pinned: 25 chars shared by the rows of #1
```
``__helium_<id>(...)`` in the relational statement is node #id's answer; lines under a node
show how it runs and why (``strategy``, decided once by the physical plan), what it reads,
and what rules set on it (limit, filter chain, field order); ``Prefix`` lines are the pinned
prompt prefixes and their consumers; the indented lines under ``Optimizer`` say what each rule
did. EXPLAIN ANALYZE adds a figures line under every operator and the query totals, and
what the runtime decided as it ran: the learned selectivity of each filter of an adaptive
chain and the orders its rows took (``learned``/``orders``), and how many requests a node
sent before its upstream nodes finished (``pipelined``).

>>> import heliumsql
>>> con = heliumsql.connect(result_cache=None)
>>> _ = con.sql("CREATE TABLE t AS SELECT 'Ada' AS name")
>>> print(con.explain("SELECT llm('Hi {name}', max_tokens => 4) AS hi FROM t"))
Query
  Relational  SELECT __helium_1(...) AS hi FROM t
  Llm #1  llm('Hi {name}', max_tokens => 4)
    strategy  batch: all prompts at once, no upstream LLM node
    input  SELECT concat('Hi ', coalesce(CAST(name AS TEXT), '')) AS prompt FROM t
  Optimizer  eliminate_common_llm_calls
    eliminate_common_llm_calls  identical prompts generated once in #1
"""

from __future__ import annotations

import re

from sqlglot import exp

from heliumsql.grammar.dialect import display_sql
from heliumsql.plan.nodes import LlmNode, LogicalPlan, PinnedPrefix
from heliumsql.plan.physical import PhysicalPlan, plan_physical
from heliumsql.stats import QueryStats

_UDF = re.compile(r"^__helium_\d+$")


def _elide_prompts(tree: exp.Expr) -> str:
    def elide(e: exp.Expr) -> exp.Expr:
        if isinstance(e, exp.Anonymous) and _UDF.match(e.name):
            return exp.Anonymous(this=e.name, expressions=[exp.var("...")])
        return e

    return display_sql(tree.copy().transform(elide))


def _rule_lines(node: LlmNode) -> list[str]:
    """What optimizer rules set on a node (nothing when the optimizer is off)."""
    lines = []
    if node.limit is not None:
        lines.append(f"    limit  stop once {node.limit} rows pass")
    if node.filter_chain:
        lines.append(f"    chain  {' -> '.join(f'#{i}' for i in node.filter_chain)}  "
                     f"(cost ~{node.cost:g} tokens/row, selectivity {node.selectivity:g})")
    if node.declared_fields:
        lines.append(f"    fields  {', '.join(node.call.fields)}  "
                     f"(declared {', '.join(node.declared_fields)})")
    return lines


def _learned_lines(stats: QueryStats, node: LlmNode) -> list[str]:
    """What an adaptive filter chain learned about ``node`` (EXPLAIN ANALYZE)."""
    for run in stats.chain_runs:
        if node.id in run.members:
            k = run.members.index(node.id)
            lines = [(f"    learned  selectivity {run.selectivity(node.id):.2f} "
                      f"({run.lead_passed[k]} of {run.lead_seen[k]} rows passed where it ran "
                      f"first, {run.passed[k]} of {run.seen[k]} in all)")]
            if node.id == run.members[0]:
                orders = ", ".join(f"{' -> '.join(f'#{i}' for i in order)} for {rows} rows"
                                   for order, rows in run.orders)
                lines.append(f"    orders  {orders or '(no rows)'}")
            return lines
    return []


def _pipeline_lines(stats: QueryStats, node: LlmNode) -> list[str]:
    """How ``node`` was pipelined (EXPLAIN ANALYZE)."""
    return [f"    pipelined  {run.early} requests before its inputs finished ({run.wasted} wasted)"
            for run in stats.pipeline_runs if run.node == node.id]


def _prefix_text(prefix: PinnedPrefix) -> str:
    users = ", ".join(f"#{i}" for i in prefix.consumers)
    shown = prefix.text if len(prefix.text) <= 60 else prefix.text[:57] + "..."
    system = f"system {prefix.system!r} + " if prefix.system else ""
    if prefix.token_ids is not None:
        return f"{users}  {len(prefix.token_ids)} tokens  {system}{shown!r}"
    return f"{users}  {system}{shown!r}"


def render_plan(physical: PhysicalPlan | LogicalPlan, optimizer_enabled: bool = True,
                stats: QueryStats | None = None) -> str:
    """The plan as text; with ``stats`` (after running), per-operator and total figures too."""
    if isinstance(physical, LogicalPlan):
        physical = plan_physical(physical, scheduled=optimizer_enabled)
    plan = physical.logical
    lines = ["Query", f"  Relational  {_elide_prompts(plan.statement)}"]
    for node_plan in physical.nodes:
        node = node_plan.node
        lines.append(f"  {node.operator} #{node.id}  {node.call.text}")
        lines.append(f"    strategy  {node_plan.describe()}")
        if node.call.option("returns") is not None:  # a typed answer, decoded under a grammar
            lines.append(f"    returns  {node.call.returns}")
        if node.input is not None and node_plan.strategy != "on_demand":
            lines.append(f"    input  {display_sql(node.input)}")
        else:
            lines.append(f"    prompt  {display_sql(node.call.prompt)}")
        if node.deps:
            lines.append(f"    reads  {', '.join(f'#{d}' for d in node.deps)}")
        lines += _rule_lines(node)
        if stats is not None:
            lines += _learned_lines(stats, node) + _pipeline_lines(stats, node)
        if stats is not None and node.id in stats.operators:
            figures = stats.operators[node.id]
            if figures.pairs_considered is not None:
                lines.append(f"    pairs  {figures.pairs_line()}")
            lines.append(f"    analyze  {figures.line()}")
            lines += [f"    {label}  {text}" for label, text in figures.details]
    for prefix in plan.prefixes:
        lines.append(f"  Prefix  {_prefix_text(prefix)}")
    if not optimizer_enabled:
        lines.append("  Optimizer  off")
    elif plan.nodes or plan.applied_rules:
        lines.append(f"  Optimizer  {', '.join(plan.applied_rules) or '(no rule changed the plan)'}")
        lines += [f"    {rule}  {what}" for rule, what in plan.notes]
    if stats is not None:
        lines.append(f"  Total  {stats.line()}")
        lines += [f"    replica {r.replica}  {r.line()}" for r in stats.replicas]
    return "\n".join(lines)
