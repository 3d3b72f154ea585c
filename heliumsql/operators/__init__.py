"""Physical LLM operators, one class per operator kind.

``OPERATORS`` maps a node's function kind to its class, so the executor never branches on type;
:func:`operator_class` adds the one operator a plan-time strategy picks (an LLM join asked as
classification, or over its top-k candidates).

>>> OPERATORS["filter"].__name__
'LlmFilter'
"""

from heliumsql.plan.llm_join import CANDIDATES, CLASSIFY
from heliumsql.plan.nodes import LlmNode

from heliumsql.operators.base import LlmOperator, OperatorContext
from heliumsql.operators.llm_agg import LlmAgg
from heliumsql.operators.llm_embed import LlmEmbed
from heliumsql.operators.llm_filter import LlmFilter
from heliumsql.operators.llm_join_candidates import LlmJoinCandidates
from heliumsql.operators.llm_join_classify import LlmJoinClassify
from heliumsql.operators.llm import Llm
from heliumsql.operators.llm_map import LlmMap
from heliumsql.operators.llm_search import LlmSearch

OPERATORS: dict[str, type[LlmOperator]] = {
    "scalar": Llm,
    "filter": LlmFilter,
    "aggregate": LlmAgg,
    "table": LlmMap,
    "embed": LlmEmbed,
    "search": LlmSearch,
}



def operator_class(node: LlmNode) -> type[LlmOperator]:
    """The operator that runs ``node``."""
    if node.join is not None and node.join.strategy == CLASSIFY:
        return LlmJoinClassify
    if node.join is not None and node.join.strategy == CANDIDATES:
        return LlmJoinCandidates
    return OPERATORS[node.call.kind]


__all__ = ["OPERATORS", "LlmAgg", "LlmEmbed", "LlmFilter", "Llm", "LlmJoinCandidates",
           "LlmJoinClassify", "LlmOperator", "LlmMap", "LlmSearch", "OperatorContext",
           "operator_class"]
