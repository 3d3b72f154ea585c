"""The SQL surface of HeliumSQL: the ``helium`` dialect, the LLM function catalog, templates.

>>> import sqlglot
>>> from heliumsql.grammar import Llm
>>> isinstance(sqlglot.parse_one("SELECT llm('hi')", read="helium").expressions[0], Llm)
True
"""

from heliumsql.grammar.dialect import Helium, display_sql
from heliumsql.grammar.expressions import LLM_FUNCTIONS, Llm, LlmAgg, LlmFilter, LlmFunc, LlmMap, TableArg

__all__ = ["Helium", "display_sql", "LLM_FUNCTIONS", "Llm", "LlmAgg", "LlmFilter", "LlmFunc", "LlmMap", "TableArg"]
