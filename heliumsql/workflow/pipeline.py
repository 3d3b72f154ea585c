"""Row-level pipelining at run time: a downstream node starts on the rows whose upstream
answers exist.

The physical plan decided which nodes may pipeline and wrote each one's *partial input*
(:mod:`heliumsql.plan.physical.pipelining` says why reading it early wastes no request).
While an upstream node runs, its answers are stored as they arrive and lookups of pending
prompts answer NULL (never on demand; see ``QueryObjects.pending``). The runner reads the
partial input each time the upstream nodes delivered a few more answers and submits the
prompts it has not submitted yet; when every upstream node is done it reads the full input
once and submits the rest. Answers are looked up by prompt, so correctness never depends on
this; a prompt submitted early that the full input does not have would be *wasted* (counted
in ``PipelineRun``).

>>> pipe = PipedNode(3, (1,), "SELECT ... WHERE __helium_ready_1(...)")
>>> pipe.fresh += 2; pipe.submitted.add(("Then yes", 0)); pipe.run()
PipelineRun(node=3, early=1, wasted=0)
"""

from __future__ import annotations

from dataclasses import dataclass, field

from heliumsql.runs import PipelineRun


@dataclass
class PipedNode:
    """Pipelining state of one downstream node: its partial input, the keys submitted early,
    and the answers its upstream nodes delivered since the partial input was last read."""

    node: int
    upstream: tuple[int, ...]
    partial: str
    submitted: set[tuple[str, int]] = field(default_factory=set)
    fresh: int = 0
    wasted: int = 0

    def run(self) -> PipelineRun:
        return PipelineRun(self.node, len(self.submitted), self.wasted)
