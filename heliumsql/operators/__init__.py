"""Physical LLM operators, one class per operator kind.

``OPERATORS`` maps a node's function kind to its class, so the executor never branches on type.

>>> OPERATORS["filter"].__name__
'LlmFilterOperator'
"""

from heliumsql.operators.base import LlmOperator, OperatorContext
from heliumsql.operators.llm_aggregate import LlmAggregateOperator
from heliumsql.operators.llm_filter import LlmFilterOperator
from heliumsql.operators.llm_map import LlmMapOperator
from heliumsql.operators.llm_table_map import LlmTableMapOperator

OPERATORS: dict[str, type[LlmOperator]] = {
    "scalar": LlmMapOperator,
    "filter": LlmFilterOperator,
    "aggregate": LlmAggregateOperator,
    "table": LlmTableMapOperator,
}

__all__ = ["OPERATORS", "LlmAggregateOperator", "LlmFilterOperator", "LlmMapOperator",
           "LlmOperator", "LlmTableMapOperator", "OperatorContext"]
