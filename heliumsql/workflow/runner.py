"""Run the LLM nodes of one physical plan as one workflow.

Every node moves through one state machine, driven by one loop: ``waiting`` (a node it waits
for is not done) -> ``running`` (its requests are out) -> ``answered`` (every request has its
answer) -> ``done`` (its answers are published to the query). How a node runs was decided by
the physical plan (:mod:`heliumsql.plan.physical`); the runner never looks at SQL structure.

With a scheduled plan (optimizer on), the whole query's LLM work is scheduled together:

- the templated prompt tree holds every node's static prefix from the start, and each node's
  prompts once its input is read;
- every node whose inputs exist starts at once: its prompts join one queue, kept in
  depth-first order across operators, so independent nodes go to the engine as one stream;
- a node starts the moment its last upstream node is done, while the engine still works on
  other nodes (its requests join the running batch);
- ``pipelined`` nodes submit the rows whose upstream answers exist while those nodes run;
- shared static prefixes are pinned from their first use until their last consumer is
  answered, and the engine evicts prefixes with the fewest remaining planned uses first
  (only on an engine with a prefix cache; any other backend gives the same answers);
- identical requests of different operators are computed once; ``limit`` nodes stream their
  input in order and cancel the rest once enough rows passed; ``chain`` nodes route rows
  through an adaptive filter chain.

Unscheduled (optimizer off) it runs like a serving system without a plan ("vLLM-style"):
node by node, each row's prompt a request in arrival order (repeats included), no pins and
no eviction priority. The result cache, when enabled, applies to both.

>>> WorkflowRunner(plan, operators, objects, context).run()     # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from heliumsql.engine.interface import PrefixCachingEngine
from heliumsql.engine.request import Completion
from heliumsql.errors import ExecutionError
from heliumsql.plan.physical import NodePlan, PhysicalPlan
from heliumsql.prompting import prefix_token_ids
from heliumsql.result_cache import CacheSession
from heliumsql.runs import ChainRun, PipelineRun
from heliumsql.workflow.adaptive_chain import AdaptiveChain
from heliumsql.workflow.dispatcher import Dispatcher
from heliumsql.workflow.limit import FilterLimit
from heliumsql.workflow.pins import Pins
from heliumsql.workflow.pipeline import PipedNode
from heliumsql.workflow.prompt_tree import PromptTree
from heliumsql.workflow.request import LlmRequest

if TYPE_CHECKING:
    from heliumsql.operators.base import LlmOperator, OperatorContext
    from heliumsql.query_objects import QueryObjects

WAITING, RUNNING, ANSWERED, DONE = "waiting", "running", "answered", "done"


@dataclass
class _NodeRun:
    """One node's run state; ``limit``/``chain``/``pipe`` as its strategy needs."""

    plan: NodePlan
    op: LlmOperator
    state: str = WAITING
    static: tuple[int, ...] = ()
    limit: FilterLimit | None = None
    chain: AdaptiveChain | None = None
    pipe: PipedNode | None = None


class WorkflowRunner:
    """Executes ``plan`` with ``operators`` (node id -> operator) and publishes their answers
    into ``objects`` (the query's UDFs and tables); on-demand work during the final query goes through the same dispatcher
    (``context.run_now``)."""

    def __init__(self, plan: PhysicalPlan, operators: dict[int, LlmOperator],
                 objects: QueryObjects, context: OperatorContext, *,
                 cache: CacheSession | None = None) -> None:
        self.plan, self.objects, self.context = plan, objects, context
        self.engine = context.engine
        scheduled = plan.scheduled
        self.tree = PromptTree()
        self.pins = Pins.for_engine(self.engine, self.tree) if scheduled else None
        self.dispatcher = Dispatcher(self.engine, self._deliver, model=self.engine.fingerprint,
                                     cache=cache, tree=self.tree if scheduled else None,
                                     ordered=scheduled, dedupe=scheduled, window=context.batch_size)
        context.run_now = self.dispatcher.run_now
        self.runs = {n.id: _NodeRun(n, operators[n.id]) for n in plan.nodes}
        for chain_plan in plan.chains:
            chain = AdaptiveChain(chain_plan, {m: operators[m] for m in chain_plan.members},  # type: ignore[misc]
                                  self._submit, max_batch=context.batch_size)
            for member in chain_plan.members:
                self.runs[member].chain = chain
        for run in self.runs.values():
            if run.plan.strategy == "pipelined":
                run.pipe = PipedNode(run.plan.id, run.plan.upstream, run.plan.partial_sql or "")
        self.feeds = {u: [self.runs[d].pipe for d in ds] for u, ds in plan.feeds().items()}
        self._hooked = False

    # -- entry points ------------------------------------------------------------------------
    def run(self) -> None:
        """Run every node with a precomputable input; the rest are answered on demand."""
        try:
            if self.plan.scheduled:
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
        self.objects.pending.difference_update(self.feeds)
        if self._hooked:
            self.engine.set_eviction_priority(None)  # type: ignore[union-attr]
            self._hooked = False

    @property
    def pinned_prefixes(self) -> list[tuple[int, ...]]:
        return list(self.pins.history) if self.pins is not None else []

    @property
    def chain_runs(self) -> tuple[ChainRun, ...]:
        """What each adaptive filter chain learned (EXPLAIN ANALYZE)."""
        chains = dict.fromkeys(r.chain for r in self.runs.values() if r.chain and r.chain.started)
        return tuple(c.run() for c in chains)

    @property
    def pipeline_runs(self) -> tuple[PipelineRun, ...]:
        """Per pipelined node that submitted early: how much, how much was wasted."""
        return tuple(r.pipe.run() for r in self.runs.values() if r.pipe and r.pipe.submitted)

    # -- unscheduled: one operator at a time, arrival order ----------------------------------
    def _run_in_order(self) -> None:
        for run in self.runs.values():
            if run.plan.strategy == "on_demand":
                continue
            run.state = RUNNING
            self.dispatcher.submit(run.op.materialize())
            self._count_pairs(run)
            while not run.op.done:
                if not self.dispatcher.pump():
                    raise ExecutionError(f"{run.op.name}: the engine stopped before answering "
                                         "every prompt")
            run.op.publish(self.objects)
            run.state = DONE

    # -- scheduled: the whole plan as one graph ----------------------------------------------
    def _run_graph(self) -> None:
        tokenizer = self.engine.tokenizer
        for run in self.runs.values():
            if run.plan.strategy == "on_demand":
                run.state = DONE  # answered on demand by the final query
                continue
            run.static = prefix_token_ids(tokenizer, run.plan.static_text, run.plan.system)
            self.tree.add_template(run.plan.id, run.static)
        for upstream in self.feeds:
            self.objects.declare_ready_udf(upstream)
            self.objects.pending.add(upstream)
        if isinstance(self.engine, PrefixCachingEngine):
            self.engine.set_eviction_priority(self.tree.priority)
            self._hooked = True
        self._settle()
        while any(r.state != DONE for r in self.runs.values()):
            progressed = self.dispatcher.pump()
            progressed = self._advance_chains() or progressed
            answered = any(r.state == ANSWERED for r in self.runs.values())
            self._settle()
            progressed = self._pipeline() or progressed or answered
            if self.pins is not None:
                self.pins.release_unused()
            if not progressed:
                waiting = [f"#{i}" for i, r in self.runs.items() if r.state != DONE]
                raise ExecutionError(f"LLM operators {', '.join(waiting)} cannot start: the "
                                     "nodes they read never finished")

    def _settle(self) -> None:
        """Publish answered nodes and start the nodes that were waiting for them."""
        while True:
            for run in self.runs.values():
                if run.state == ANSWERED:
                    run.op.publish(self.objects)
                    self.objects.pending.discard(run.plan.id)
                    run.state = DONE
            if not self._start_ready():
                return

    def _is_ready(self, run: _NodeRun) -> bool:
        return run.state == WAITING and all(self.runs[d].state == DONE for d in run.plan.waits_for)

    def _start_ready(self) -> bool:
        """Start every node whose inputs exist; True if one became answered at once."""
        ready = [r for r in self.runs.values() if self._is_ready(r)]
        shared: list[LlmRequest] = []
        limited: list[tuple[_NodeRun, list[LlmRequest]]] = []
        started: list[tuple[int, ...]] = []
        chains: list[AdaptiveChain] = []
        for run in ready:
            if run.chain is not None:
                # A chain starts once every member may: it reads one input for all of them.
                members = [self.runs[m] for m in run.chain.spec.members]
                if run.chain not in chains and all(self._is_ready(m) for m in members):
                    chains.append(run.chain)
                    for member in members:
                        member.state = RUNNING
                        started += [member.static, *self._planned_prefixes(member.plan.id)]
                continue
            run.state = RUNNING
            if run.pipe is not None:  # the rest of its prompts (some went out early)
                requests = run.op.materialize(asked=run.pipe.submitted)
                run.pipe.wasted = len(run.pipe.submitted - set(run.op.keys))
            else:
                requests = run.op.materialize()
            self._count_pairs(run)
            self.tree.drop_template(run.plan.id)
            if run.plan.strategy == "limit":
                limited.append((run, requests))
            else:
                shared.extend(requests)
            if requests:
                started += [run.static, *self._planned_prefixes(run.plan.id)]
            if run.op.done:
                run.state = ANSWERED
        if self.pins is not None:
            self.pins.make_room(shared + [r for _, reqs in limited for r in reqs])
        # One submission: the queue (and so the next stream) spans every ready node.
        self.dispatcher.submit(shared)
        for run, requests in limited:
            self._submit_limited(run, requests)
        for chain in chains:
            chain.start(self.context.con)
        self._advance_chains()
        if self.pins is not None and started:
            self.pins.pin_for(started)
        return any(r.state == ANSWERED for r in self.runs.values())

    def _pipeline(self) -> bool:
        """Read the partial input of every waiting pipelined node whose upstream nodes
        delivered enough new answers, and submit the prompts it has not yet."""
        if self.dispatcher.has_ready:
            return False  # answers of the same engine step are still coming: read once, after
        moved = False
        for run in self.runs.values():
            pipe = run.pipe
            if pipe is None or run.state != WAITING or not pipe.fresh:
                continue
            states = [self.runs[u].state for u in pipe.upstream]
            if WAITING in states or all(s == DONE for s in states):
                continue  # no answers yet from one, or all done: it starts for real soon
            # A read per dispatcher window of new answers (about four for a small upstream
            # run): each read evaluates the whole input, and the engine waits meanwhile.
            total = sum(self.runs[u].op.num_expected for u in pipe.upstream
                        if self.runs[u].state != DONE)
            if pipe.fresh < max(1, min(self.context.batch_size, total // 4)):
                continue
            pipe.fresh = 0
            reader = self.context.con.sql(pipe.partial).to_arrow_reader(self.context.read_batch_rows)
            keys = dict.fromkeys((p, 0) for batch in reader for p in batch.column(0).to_pylist()
                                 if p is not None)
            new = [k for k in keys if k not in pipe.submitted]
            if new:
                pipe.submitted.update(new)
                self._submit(run.op.request_now(new))
                moved = True
        return moved

    def _submit(self, requests: list[LlmRequest]) -> None:
        if self.pins is not None:
            self.pins.make_room(requests)
        self.dispatcher.submit(requests)

    def _advance_chains(self) -> bool:
        """Route the rows of every running chain; a finished chain's members are answered."""
        moved = False
        chains = dict.fromkeys(r.chain for r in self.runs.values() if r.chain is not None)
        for chain in chains:
            members = [self.runs[m] for m in chain.spec.members]
            if not chain.started or members[0].state != RUNNING:
                continue
            moved = chain.advance() or moved
            if chain.done:
                for member in members:
                    # Its template stood for prompts the chain might still ask; none are left.
                    self.tree.drop_template(member.plan.id)
                    member.state = ANSWERED
                moved = True
        return moved

    def _submit_limited(self, run: _NodeRun, requests: list[LlmRequest]) -> None:
        assert run.plan.limit is not None
        run.limit = FilterLimit(run.plan.limit, run.op.row_prompts)
        for r in requests:
            r.lane = run.plan.id
        self.dispatcher.submit(requests, chunk=run.limit.chunk)

    def _count_pairs(self, run: _NodeRun) -> None:
        """An LLM join's pairs before its relational conjuncts (EXPLAIN ANALYZE)."""
        if run.plan.pairs_sql is not None:
            ((count,),) = self.context.con.sql(run.plan.pairs_sql).fetchall()
            run.op.stats.pairs_considered = int(count)

    def _planned_prefixes(self, node_id: int) -> list[tuple[int, ...]]:
        """Prefixes the optimizer asked to pin for this node (``LogicalPlan.prefixes``)."""
        out = []
        for prefix in self.plan.logical.prefixes:
            if node_id in prefix.consumers:
                ids = prefix.token_ids
                if ids is None:  # planned without a tokenizer (as text)
                    ids = prefix_token_ids(self.engine.tokenizer, prefix.text, prefix.system)
                out.append(tuple(ids))
        return out

    def _deliver(self, request: LlmRequest, completion: Completion, source: str) -> None:
        run = self.runs[request.node_id]
        op = run.op
        op.accept(request, completion, source)
        if request.node_id in self.feeds and request.sample == 0:
            # Visible at once to the pipelined nodes reading it (their partial inputs).
            self.objects.store(request.node_id, {request.prompt: op.answers[request.key]})
            for pipe in self.feeds[request.node_id]:
                pipe.fresh += 1
        if run.chain is not None:  # the chain says when its members are answered
            run.chain.answered(request.node_id, request.prompt)
            return
        if run.limit is not None and run.limit.answer(request.prompt, op.answers.get(request.key)):
            cancelled = self.dispatcher.cancel_lane(request.node_id)
            op.stop_at_limit(len(cancelled))
        if run.state == RUNNING and op.done:
            run.state = ANSWERED
