"""EXPLAIN text: a stable, indentation-based rendering of a logical plan (golden-tested).

```
Query
  Relational  SELECT id, __helium_1(...) AS label FROM reviews WHERE stars < 3
  LLMMap #1  llm('Is this review positive? {review}', max_tokens => 8)
    input  SELECT concat('Is this review positive? ', ...) AS prompt FROM reviews WHERE stars < 3
  Optimizer  eliminate_common_llm_calls
```
``__helium_<id>(...)`` in the relational statement is node #id's answer; EXPLAIN ANALYZE adds a
figures line under every operator and the query totals.

>>> print(render_plan(plan))                       # doctest: +SKIP
"""

from __future__ import annotations

import re

from sqlglot import exp

from heliumsql.grammar.dialect import display_sql
from heliumsql.plan.nodes import LogicalPlan
from heliumsql.stats import QueryStats

_UDF = re.compile(r"^__helium_\d+$")


def _elide_prompts(tree: exp.Expr) -> str:
    def elide(e: exp.Expr) -> exp.Expr:
        if isinstance(e, exp.Anonymous) and _UDF.match(e.name):
            return exp.Anonymous(this=e.name, expressions=[exp.var("...")])
        return e

    return display_sql(tree.copy().transform(elide))


def render_plan(plan: LogicalPlan, optimizer_enabled: bool = True,
                stats: QueryStats | None = None) -> str:
    """The plan as text; with ``stats`` (after running), per-operator and total figures too."""
    lines = ["Query", f"  Relational  {_elide_prompts(plan.statement)}"]
    for node in plan.nodes:
        lines.append(f"  {node.operator} #{node.id}  {node.call.text}")
        if node.input is not None:
            lines.append(f"    input  {display_sql(node.input)}")
        else:
            lines.append(f"    input  (on demand: {node.reason})")
            lines.append(f"    prompt  {display_sql(node.call.prompt)}")
        if node.deps:
            lines.append(f"    reads  {', '.join(f'#{d}' for d in node.deps)}")
        if stats is not None and node.id in stats.operators:
            lines.append(f"    analyze  {stats.operators[node.id].line()}")
    if not optimizer_enabled:
        lines.append("  Optimizer  off")
    elif plan.nodes:
        lines.append(f"  Optimizer  {', '.join(plan.applied_rules) or '(no rule changed the plan)'}")
    if stats is not None:
        lines.append(f"  Total  {stats.line()}")
    return "\n".join(lines)
