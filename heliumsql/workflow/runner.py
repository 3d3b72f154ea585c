"""Run the LLM nodes of one plan as one workflow.

With the optimizer on, the whole query's LLM work is scheduled together:

- the templated prompt tree holds every node's static prefix from the start, and each node's
  prompts once its input is read;
- every node whose inputs exist starts at once: its prompts join one queue, kept in
  depth-first order across operators, so independent nodes go to the engine as one stream;
- a node starts the moment its last upstream node finishes, while the engine still works on
  other nodes (its requests join the running batch: the engine always has work queued);
- a node whose input is row-wise over its upstream answers starts earlier, on the rows whose
  upstream answers exist (:mod:`heliumsql.workflow.pipeline`): each time its upstream nodes
  delivered a few more answers, its partial input is read and the new prompts are submitted;
  when they finish, its full input is read once for the rest;
- shared static prefixes are pinned from their first use until their last consumer is
  answered, and the engine evicts prefixes with the fewest remaining planned uses first;
- identical requests of different operators are computed once; ``LIMIT`` over a filter
  streams its input in order and cancels the rest once enough rows passed;
- the LLM filters of one WHERE run as one adaptive chain where sound
  (:mod:`heliumsql.workflow.adaptive_chain`): rows flow in batches, each stops at its first
  rejecting filter, and the order is re-ranked from the pass rates seen so far.

With the optimizer off it runs like a serving system without a plan ("vLLM-style"): operator
by operator, each row's prompt a request in arrival order (repeats included), no pins and no
eviction priority (plain LRU). The result cache, when enabled, applies to both.

Row-level pipelining is limited to row-wise inputs (no aggregate, window, DISTINCT, LIMIT,
ORDER BY, GROUP BY, set operation, outer join or subquery expression): for any other input,
reading it before every upstream answer exists could produce prompts the full input does not
have (wasted requests), so such nodes pipeline at node granularity.

>>> WorkflowRunner(plan, operators, runtime, context, optimize=True).run()   # doctest: +SKIP
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING

from heliumsql.engine.request import Completion
from heliumsql.errors import ExecutionError
from heliumsql.optimizer.factor_prompt_prefixes import prefix_token_ids
from heliumsql.plan.nodes import ChainRun, LlmNode, LogicalPlan, PipelineRun
from heliumsql.result_cache import CacheSession
from heliumsql.workflow.adaptive_chain import AdaptiveChain
from heliumsql.workflow.chain_spec import adaptive_chains
from heliumsql.workflow.dispatcher import Dispatcher
from heliumsql.workflow.limit import FilterLimit
from heliumsql.workflow.pins import PinnedPrefixes
from heliumsql.workflow.pipeline import PipedNode
from heliumsql.workflow.prompt_tree import PromptTree
from heliumsql.workflow.request import LlmRequest
from heliumsql.workflow.static_prefix import static_prefix_ids

if TYPE_CHECKING:
    from heliumsql.operators.base import LlmOperator, OperatorContext
    from heliumsql.runtime import QueryRuntime


class WorkflowRunner:
    """Executes ``plan``'s LLM nodes with ``operators`` (node id -> operator) and publishes
    their answers into ``runtime``; on-demand work during the final query goes through the
    same dispatcher (``context.run_now``)."""

    def __init__(self, plan: LogicalPlan, operators: dict[int, "LlmOperator"], runtime: "QueryRuntime",
                 context: "OperatorContext", *, optimize: bool, cache: CacheSession | None = None,
                 adaptive_filters: bool = True, pipelining: bool = True) -> None:
        self.plan, self.operators, self.runtime, self.context = plan, operators, runtime, context
        self.engine = context.engine
        self.optimize, self.adaptive_filters, self.pipelining = optimize, adaptive_filters, pipelining
        self.tree = PromptTree()
        self.pins = PinnedPrefixes.for_engine(self.engine, self.tree) if optimize else None
        self.dispatcher = Dispatcher(self.engine, self._deliver, model=self.engine.fingerprint,
                                     cache=cache, tree=self.tree if optimize else None,
                                     ordered=optimize, dedupe=optimize, window=context.batch_size)
        context.run_now = self.dispatcher.run_now
        self._statics: dict[int, tuple[int, ...]] = {}
        self._started: set[int] = set()
        self._done: set[int] = set()
        self._finished: deque[int] = deque()
        self._limits: dict[int, FilterLimit] = {}
        self._chains: dict[int, AdaptiveChain] = {}  # member node id -> its chain
        self._pipes: dict[int, PipedNode] = {}  # pipelined node id -> its state
        self._feeds: dict[int, list[PipedNode]] = {}  # upstream node id -> pipes reading it
        self._hooked = False

    # -- entry points ------------------------------------------------------------------------
    def run(self) -> None:
        """Run every node with a precomputable input; the rest are answered on demand."""
        try:
            if self.optimize:
                self._run_graph()
            else:
                self._run_in_order()
        finally:
            self.stop()

    def stop(self) -> None:
        """Abort unfinished streams, release pins and the eviction hook (idempotent)."""
        self.dispatcher.close()
        if self.pins is not None:
            self.pins.release_all()
        self.runtime.pending.difference_update(self._feeds)
        if self._hooked:
            self.engine.set_eviction_priority(None)
            self._hooked = False

    @property
    def pinned_prefixes(self) -> list[tuple[int, ...]]:
        return list(self.pins.history) if self.pins is not None else []

    @property
    def chain_runs(self) -> tuple[ChainRun, ...]:
        """What each adaptive filter chain learned (EXPLAIN ANALYZE)."""
        chains = dict.fromkeys(c for c in self._chains.values() if c.started)
        return tuple(c.run() for c in chains)

    @property
    def pipeline_runs(self) -> tuple[PipelineRun, ...]:
        """Per pipelined node that submitted early: how much, how much was wasted."""
        return tuple(PipelineRun(p.node.id, len(p.submitted), p.wasted)
                     for p in self._pipes.values() if p.submitted)

    # -- optimizer off: one operator at a time, arrival order --------------------------------
    def _run_in_order(self) -> None:
        for node in self.plan.nodes:
            if node.input is None:
                continue
            op = self.operators[node.id]
            self._started.add(node.id)
            self.dispatcher.submit(op.materialize())
            while not op.done:
                if not self.dispatcher.pump():
                    raise ExecutionError(f"{op.name}: the engine stopped before answering "
                                         "every prompt")
            op.publish(self.runtime)
            self._done.add(node.id)

    # -- optimizer on: the whole plan as one graph -------------------------------------------
    def _run_graph(self) -> None:
        tokenizer = self.engine.tokenizer
        for node in self.plan.nodes:
            if node.input is None:
                self._done.add(node.id)  # answered on demand by the final query
                continue
            self._statics[node.id] = static_prefix_ids(tokenizer, node)
            self.tree.add_template(node.id, self._statics[node.id])
        if self.adaptive_filters:
            for spec in adaptive_chains(self.plan):
                chain = AdaptiveChain(spec, self.operators, self._submit_chain,  # type: ignore[arg-type]
                                      max_batch=self.context.batch_size)
                self._chains.update(dict.fromkeys(spec.members, chain))
        if self.pipelining:
            self._plan_pipes()
        setter = getattr(self.engine, "set_eviction_priority", None)
        if callable(setter):
            setter(self.tree.priority)
            self._hooked = True
        self._start_ready()
        self._settle()
        while len(self._done) < len(self.plan.nodes):
            progressed = self.dispatcher.pump()
            progressed = self._advance_chains() or progressed
            self._settle()
            progressed = self._pipeline() or progressed
            if self.pins is not None:
                self.pins.release_unused()
            if not progressed and not self._finished and len(self._done) < len(self.plan.nodes):
                waiting = [f"#{n.id}" for n in self.plan.nodes if n.id not in self._done]
                raise ExecutionError(f"LLM operators {', '.join(waiting)} cannot start: the "
                                     "nodes they read never finished")

    def _outer_deps(self, node: LlmNode) -> tuple[int, ...]:
        """What ``node`` waits for: its deps, less its adaptive chain's other members."""
        chain = self._chains.get(node.id)
        members = chain.spec.members if chain is not None else ()
        return tuple(d for d in node.deps if d not in members)

    def _start_ready(self) -> None:
        ready = [n for n in self.plan.nodes if n.id not in self._started
                 and n.id not in self._done and all(d in self._done for d in self._outer_deps(n))]
        if not ready:
            return
        shared: list[LlmRequest] = []
        limited: list[tuple[LlmNode, LlmOperator, list[LlmRequest]]] = []
        started: list[tuple[int, ...]] = []
        chains: list[AdaptiveChain] = []
        ready_ids = {n.id for n in ready}
        for node in ready:
            chain = self._chains.get(node.id)
            if chain is not None:
                # A chain starts once every member may: it reads one input for all of them.
                if chain not in chains and set(chain.spec.members) <= ready_ids:
                    chains.append(chain)
                    for member in chain.spec.members:
                        self._started.add(member)
                        started.append(self._statics[member])
                        started.extend(self._plan_prefixes(member))
                continue
            self._started.add(node.id)
            op = self.operators[node.id]
            pipe = self._pipes.get(node.id)
            if pipe is not None:  # the rest of its prompts (some went out early)
                requests = op.materialize(asked=pipe.submitted)
                pipe.wasted = len(pipe.submitted - set(op.keys))
            else:
                requests = op.materialize()
            self.tree.drop_template(node.id)
            if _filter_limit(node) is not None:
                limited.append((node, op, requests))
            else:
                shared.extend(requests)
            if requests:
                started.append(self._statics[node.id])
                started.extend(self._plan_prefixes(node.id))
            if op.done:
                self._finished.append(node.id)
        if self.pins is not None:
            self.pins.make_room(shared + [r for _, _, reqs in limited for r in reqs])
        # One submission: the queue (and so the next stream) spans every ready node.
        self.dispatcher.submit(shared)
        for node, op, requests in limited:
            self._submit_limited(node, op, requests)
        for chain in chains:
            chain.start(self.context.con)
        self._advance_chains()
        if self.pins is not None and started:
            self.pins.pin_for(started)

    # -- row-level pipelining (heliumsql.workflow.pipeline) -----------------------------------
    def _plan_pipes(self) -> None:
        for node in self.plan.nodes:
            pipe = PipedNode.for_node(node, self.plan)
            if pipe is None:
                continue
            self._pipes[node.id] = pipe
            for upstream in pipe.upstream:
                if upstream not in self._feeds:
                    self.runtime.declare_ready_udf(upstream)
                    self.runtime.pending.add(upstream)
                self._feeds.setdefault(upstream, []).append(pipe)

    def _pipeline(self) -> bool:
        """Read the partial input of every waiting pipelined node whose upstream nodes
        delivered enough new answers (or finished), and submit the prompts it has not yet."""
        if self.dispatcher.has_ready:
            return False  # answers of the same engine step are still coming: read once, after
        moved = False
        for pipe in self._pipes.values():
            node_id = pipe.node.id
            if node_id in self._started or not pipe.fresh:
                continue
            running = [u for u in pipe.upstream if u in self._started and u not in self._done]
            if not running:
                continue  # nothing is delivering: it starts for real once all are done
            if any(u not in self._started for u in pipe.upstream):
                continue  # an upstream node has no answers yet, so no row can be ready
            # A read per dispatcher window of new answers (about four for a small upstream
            # run): each read evaluates the whole input, and the engine waits meanwhile.
            total = sum(self.operators[u].num_expected for u in running)
            if pipe.fresh < max(1, min(self.context.batch_size, total // 4)):
                continue
            pipe.fresh, pipe.reads = 0, pipe.reads + 1
            reader = self.context.con.sql(pipe.partial).to_arrow_reader(
                self.context.read_batch_rows)
            keys = dict.fromkeys((p, 0) for batch in reader for p in batch.column(0).to_pylist()
                                 if p is not None)
            new = [k for k in keys if k not in pipe.submitted]
            if new:
                pipe.submitted.update(new)
                self._submit_chain(self.operators[node_id].request_now(new))
                moved = True
        return moved

    def _submit_chain(self, requests: list[LlmRequest]) -> None:
        if self.pins is not None:
            self.pins.make_room(requests)
        self.dispatcher.submit(requests)

    def _advance_chains(self) -> bool:
        """Route the rows of every running chain; a finished chain's members are finished."""
        moved = False
        for chain in dict.fromkeys(self._chains.values()):
            if not chain.started or chain.spec.members[0] in self._done:
                continue
            moved = chain.advance() or moved
            if chain.done and chain.spec.members[0] not in self._finished:
                for member in chain.spec.members:
                    # Its template stood for prompts the chain might still ask; none are left.
                    self.tree.drop_template(member)
                    self._finished.append(member)
                moved = True
        return moved

    def _submit_limited(self, node: LlmNode, op: "LlmOperator", requests: list[LlmRequest]) -> None:
        limit = FilterLimit(_filter_limit(node), op.row_prompts)
        self._limits[node.id] = limit
        for r in requests:
            r.lane = node.id
        self.dispatcher.submit(requests, chunk=limit.chunk)

    def _plan_prefixes(self, node_id: int) -> list[tuple[int, ...]]:
        """Prefixes the optimizer asked to pin for this node (``LogicalPlan.prefixes``)."""
        out = []
        for prefix in self.plan.prefixes:
            if node_id in prefix.consumers:
                ids = prefix.token_ids
                if ids is None:  # planned without a tokenizer (as text)
                    ids = prefix_token_ids(self.engine.tokenizer, prefix.text, prefix.system)
                out.append(tuple(ids))
        return out

    def _deliver(self, request: LlmRequest, completion: Completion, source: str) -> None:
        op = self.operators[request.node_id]
        op.accept(request, completion, source)
        if request.node_id in self._feeds and request.sample == 0:
            # Visible at once to the pipelined nodes reading it (their partial inputs).
            self.runtime.store(request.node_id, {request.prompt: op.answers[request.key]})
            for pipe in self._feeds[request.node_id]:
                pipe.fresh += 1
        chain = self._chains.get(request.node_id)
        if chain is not None:  # the chain says when its members are finished
            chain.answered(request.node_id, request.prompt)
            return
        limit = self._limits.get(request.node_id)
        if limit is not None and limit.answer(request.prompt, op.answers.get(request.key)):
            cancelled = self.dispatcher.cancel_lane(request.node_id)
            op.stop_at_limit(len(cancelled))
        if (request.node_id in self._started and op.done and request.node_id not in self._done
                and request.node_id not in self._finished):
            self._finished.append(request.node_id)

    def _settle(self) -> None:
        """Publish finished nodes and start the nodes that were waiting for them."""
        while self._finished:
            while self._finished:
                node_id = self._finished.popleft()
                if node_id in self._done:
                    continue
                self.operators[node_id].publish(self.runtime)
                self.runtime.pending.discard(node_id)
                self._done.add(node_id)
            self._start_ready()


def _filter_limit(node: LlmNode) -> int | None:
    """The optimizer's ``limit`` for a filter node (None when absent)."""
    return node.limit if node.call.kind == "filter" else None
