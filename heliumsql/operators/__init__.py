"""Physical LLM operators, one class per operator kind.

``OPERATORS`` maps a node's function kind to its class, so the executor never branches on type.

>>> OPERATORS["filter"].__name__
'LlmFilter'
"""

from heliumsql.operators.base import LlmOperator, OperatorContext
from heliumsql.operators.llm_agg import LlmAgg
from heliumsql.operators.llm_embed import LlmEmbed
from heliumsql.operators.llm_filter import LlmFilter
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

__all__ = ["OPERATORS", "LlmAgg", "LlmEmbed", "LlmFilter", "Llm", "LlmSearch",
           "LlmOperator", "LlmMap", "OperatorContext"]
