"""The workflow runtime: runs every LLM operator of a query as one scheduled workflow.

``WorkflowRunner`` drives the plan; ``PromptTree`` is the templated radix tree of the prompts
the plan issues; ``Dispatcher`` gets answers (result cache, shared answers, depth-first engine
streams); ``Pins`` keeps shared prefixes resident; ``FilterLimit`` stops a filter under
``LIMIT`` early; ``AdaptiveChain`` orders the LLM filters of one WHERE by learned selectivity;
``PipedNode`` starts a downstream node on the rows whose upstream answers exist. What runs
how was decided by the physical plan (:mod:`heliumsql.plan.physical`).

>>> from heliumsql.workflow import PromptTree
>>> PromptTree.distinct_tokens([(1, 2), (1, 3)])
3
"""

from heliumsql.workflow.adaptive_chain import AdaptiveChain
from heliumsql.workflow.dispatcher import Dispatcher
from heliumsql.workflow.limit import FilterLimit
from heliumsql.workflow.pins import Pins
from heliumsql.workflow.pipeline import PipedNode
from heliumsql.workflow.prompt_tree import PromptTree
from heliumsql.workflow.request import LlmRequest
from heliumsql.workflow.runner import WorkflowRunner

__all__ = ["AdaptiveChain", "Dispatcher", "FilterLimit", "LlmRequest", "Pins", "PipedNode",
           "PromptTree", "WorkflowRunner"]
