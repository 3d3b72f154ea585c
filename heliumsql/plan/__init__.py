"""Plans: the logical plan (LLM operator nodes and the rewritten relational statement), the
names of every per-query object, the candidate pairs of an LLM join
(:mod:`heliumsql.plan.llm_join`), and (in :mod:`heliumsql.plan.physical`) the physical plan."""

from heliumsql.plan.llm_join import JoinSpec

from heliumsql.plan.nodes import (
    OPERATOR_NAMES,
    LlmCall,
    LlmNode,
    LogicalPlan,
    PinnedPrefix,
)

__all__ = ["OPERATOR_NAMES", "JoinSpec", "LlmCall", "LlmNode", "LogicalPlan", "PinnedPrefix"]
