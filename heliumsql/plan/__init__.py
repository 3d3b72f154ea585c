"""The logical plan: LLM operator nodes and the rewritten relational statement."""

from heliumsql.plan.nodes import (
    OPERATOR_NAMES,
    ChainRun,
    LlmCall,
    LlmNode,
    LogicalPlan,
    PinnedPrefix,
    PipelineRun,
)

__all__ = ["OPERATOR_NAMES", "ChainRun", "LlmCall", "LlmNode", "LogicalPlan", "PinnedPrefix",
           "PipelineRun"]
