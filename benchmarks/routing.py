"""Prefix-affinity routing vs other routers, by simulation: no model runs on the replicas.

    python -m benchmarks.routing [--scale 16] [--replicas 1 2 4 8 16] [--json FILE] [--prompts FILE]
    python -m benchmarks.routing --real [WORKLOAD]     # one engine vs 2 Ray replicas, for real

The prompt sets are the workflow suite's (:mod:`benchmarks.workflows.suite`): each workload's
SQL runs once through HeliumSQL on the suite's quick model, at the ``full`` size with its first
count (tickers, documents, questions, motions, products) times ``--scale``, and every
``stream`` call the runtime makes is recorded as one batch (prompt token ids, ``max_tokens``).
The batches are then replayed, in order, against N simulated replicas: each a real
:class:`~heliumsql.engine.radix.RadixCache` over a KV pool of ``--kv-blocks`` blocks, serving its
requests in the order routed (a prompt computes what its replica has not cached; LRU eviction
when the budget is full). A batch is a stage: every replica finishes it before the next starts.

Figures per (router, N), over all workloads:

- prefill efficiency: distinct prompt tokens (union prefix tree of every prompt) / prefill
  tokens the replicas computed (1.0: each shared prefix computed once in the whole cluster);
- max/mean load: per stage, the busiest replica's work (computed prefill + decode tokens) over
  the least a router could do (the mean, or the stage's largest request when it is larger),
  summed over stages: 1.0 is a perfectly balanced cluster.

>>> rows = simulate({"w": [Batch(((1, 2, 3, 4),), (2,))]}, ["affinity"], [1])   # doctest: +SKIP
"""

from __future__ import annotations

import argparse
import json
import math
import os
import pickle
import time
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from benchmarks.prefix_tree import distinct_prompt_tokens
from benchmarks.routers import CacheAwareRouter, LeastLoadedRouter, RoundRobinRouter
from heliumsql.backends.routing import AffinityRouter

ROUTERS = ("affinity", "round_robin", "least_loaded", "cache_aware")
REPLICAS = (1, 2, 4, 8, 16)
BLOCK_SIZE = 16
KV_BLOCKS = 4096  # 64k tokens of KV per replica
TARGET_EFFICIENCY, TARGET_LOAD = 0.95, 1.25


@dataclass(frozen=True)
class Batch:
    """One ``stream`` call of the runtime: its prompts (token ids) and their ``max_tokens``."""

    prompts: tuple[tuple[int, ...], ...]
    decode: tuple[int, ...]


@dataclass(frozen=True)
class Row:
    router: str
    replicas: int
    efficiency: float
    load_ratio: float
    computed_prefill_tokens: int
    distinct_prompt_tokens: int
    num_requests: int


def make_router(name: str, n: int, block_size: int = BLOCK_SIZE) -> Any:
    if name == "affinity":
        return AffinityRouter(n, block_size=block_size)
    return {"round_robin": RoundRobinRouter, "least_loaded": LeastLoadedRouter,
            "cache_aware": CacheAwareRouter}[name](n)


class SimReplica:
    """A replica's prefix cache without a model: the engine's radix cache and a KV budget."""

    def __init__(self, num_blocks: int, block_size: int) -> None:
        from heliumsql.engine.kv_pool import KVPool
        from heliumsql.engine.radix import RadixCache

        self.block_size = block_size
        self.pool = KVPool(1, num_blocks, block_size, 1, 1)
        self.radix = RadixCache(self.pool)

    def serve(self, prompt: tuple[int, ...]) -> int:
        """Prefill ``prompt`` (what is not cached) and cache it; tokens computed."""
        from heliumsql.engine.radix import chain_keys

        keys = list(chain_keys(prompt, self.block_size))
        blocks, node = self.radix.match(keys)
        cached = len(blocks) * self.block_size
        # The engine also reuses the start of a cached block the prompt diverges from.
        cached += self.radix.best_child(node, prompt[cached:])[1]
        computed = len(prompt) - min(cached, len(prompt) - 1)
        new = keys[len(blocks):]
        tail = prompt[len(keys) * self.block_size:]
        need = len(new) + (1 if tail else 0)
        if need > self.pool.num_free:
            self.radix.evict(need - self.pool.num_free)
        fits = new[:self.pool.num_free]  # what still does not fit is computed, not cached
        if fits:
            node, _ = self.radix.insert(node, fits, self.pool.allocate(len(fits)))
        if tail and len(fits) == len(new) and self.pool.num_free:
            # The engine keeps a finished prompt's last, partial block too.
            block = self.pool.allocate(1)
            if not self.radix.insert_partial(node, tuple(tail), block[0])[1]:
                self.pool.free(block)
        return computed


def replay(batches: list[Batch], router: Any, n: int, kv_blocks: int, block_size: int
           ) -> tuple[int, float, float]:
    """(computed prefill tokens, busiest work summed over stages, least possible sum)."""
    replicas = [SimReplica(kv_blocks, block_size) for _ in range(n)]
    computed, busiest, least = 0, 0.0, 0.0
    for batch in batches:
        assignment = router.route(batch.prompts, batch.decode)
        work = [0.0] * n
        largest = 0.0
        for prompt, d, r in zip(batch.prompts, batch.decode, assignment.replicas):
            done = replicas[r].serve(prompt)
            computed += done
            work[r] += done + d
            largest = max(largest, done + d)
        for r, cost in zip(assignment.replicas, assignment.costs):
            router.release(r, cost)  # the stage is over: nothing stays queued
        busiest += max(work)
        least += max(sum(work) / n, largest)
    return computed, busiest, least


def simulate(prompt_sets: dict[str, list[Batch]], routers: list[str], counts: list[int],
             kv_blocks: int = KV_BLOCKS, block_size: int = BLOCK_SIZE) -> list[Row]:
    """One row per (router, N): the figures summed over every workload (each workload starts
    on empty replicas)."""
    rows = []
    for name in routers:
        for n in counts:
            computed = distinct = requests = 0
            busiest = least = 0.0
            for batches in prompt_sets.values():
                c, b, lo = replay(batches, make_router(name, n, block_size), n, kv_blocks,
                                  block_size)
                computed, busiest, least = computed + c, busiest + b, least + lo
                distinct += distinct_prompt_tokens([p for b_ in batches for p in b_.prompts])
                requests += sum(len(b_.prompts) for b_ in batches)
            rows.append(Row(name, n, distinct / max(computed, 1), busiest / max(least, 1e-9),
                            computed, distinct, requests))
    return rows


def ceiling(prompt_sets: dict[str, list[Batch]], n: int, bound: float = TARGET_LOAD) -> float:
    """The best prefill efficiency any router keeping max/mean load <= ``bound`` can reach (an
    upper bound): a stage of at least ceil(n / bound) requests must run on that many replicas,
    and each of them computes the prefix every prompt of the stage shares (once per replica
    over all stages: the union of those prefixes)."""
    from heliumsql.engine.prefix import common_prefix

    used = math.ceil(n / bound)
    distinct = extra = 0
    for batches in prompt_sets.values():
        distinct += distinct_prompt_tokens([p for b in batches for p in b.prompts])
        shared = [min(b.prompts)[:common_prefix(min(b.prompts), max(b.prompts))]
                  for b in batches if len(b.prompts) >= used]
        extra += (used - 1) * distinct_prompt_tokens(shared)
    return distinct / (distinct + extra)


# -- recording the workflow suite's prompt sets ------------------------------------------------
def scaled(sizes: Any, scale: int) -> Any:
    """``sizes`` with its first count (the workload's independent items) times ``scale``."""
    first = fields(sizes)[0].name
    return replace(sizes, **{first: getattr(sizes, first) * scale})


def record_prompt_sets(scale: int, seed: int = 0) -> dict[str, list[Batch]]:
    """Run each workflow's SQL once (quick model, greedy) and record its ``stream`` calls."""
    import torch

    import heliumsql
    from benchmarks.workflows.model import QUICK_SHAPE, build_model
    from benchmarks.workflows.suite import WORKLOADS
    from benchmarks.workflows.workload import load_tables
    from heliumsql.engine import Engine

    class BatchRecorder(Engine):
        def __init__(self, model: Any) -> None:
            super().__init__(model)
            self.batches: list[Batch] = []

        def stream(self, prompts: Any, params: Any) -> Any:
            from heliumsql.engine.sampling import params_list

            plist = params_list(params, len(prompts))
            self.batches.append(Batch(tuple(tuple(self.encode(p)) for p in prompts),
                                      tuple(p.max_tokens for p in plist)))
            return super().stream(prompts, params)

    torch.set_num_threads(1)
    model = build_model(QUICK_SHAPE, seed)
    out = {}
    for workload in WORKLOADS:
        sizes = scaled(workload.sizes["full"], scale)
        engine = BatchRecorder(model)
        with heliumsql.connect(engine=engine, result_cache=None) as con, torch.inference_mode():
            load_tables(con.duckdb, workload.data(sizes, seed))
            for statement in workload.statements(sizes):
                con.sql(statement).fetchall()
        out[workload.name] = engine.batches
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--scale", type=int, default=16, help="workload items times this (default 16)")
    p.add_argument("--replicas", type=int, nargs="+", default=list(REPLICAS))
    p.add_argument("--kv-blocks", type=int, default=KV_BLOCKS, help="KV blocks per replica")
    p.add_argument("--json", help="write the rows here")
    p.add_argument("--prompts", metavar="FILE",
                   help="the recorded prompt sets: read from FILE if it exists, else written to it")
    p.add_argument("--real", metavar="WORKLOAD", nargs="?", const="map_reduce",
                   help="instead: run WORKLOAD (default map_reduce, full size) on one engine "
                        "and on 2 Ray replicas on this machine (benchmarks/routing_real.py)")
    args = p.parse_args(argv)
    if args.real:
        from benchmarks.routing_real import real_run

        out = real_run(args.real)
        print(json.dumps(out, indent=1))
        if args.json:
            with open(args.json, "w") as f:
                json.dump(out, f, indent=1)
        return 0 if out["same_rows"] else 1
    start = time.perf_counter()
    if args.prompts and os.path.exists(args.prompts):
        with open(args.prompts, "rb") as f:
            saved = pickle.load(f)
        if saved.get("scale") != args.scale:  # the report states the scale it measured
            raise SystemExit(f"{args.prompts} was recorded at --scale {saved.get('scale')}, not "
                             f"{args.scale}: pass that scale or delete the file to record anew")
        sets = saved["sets"]
    else:
        sets = record_prompt_sets(args.scale)
        if args.prompts:
            with open(args.prompts, "wb") as f:
                pickle.dump({"scale": args.scale, "sets": sets}, f)
    recorded = time.perf_counter() - start
    rows = simulate(sets, list(ROUTERS), args.replicas, args.kv_blocks)
    sizes = [f"{k} {sum(len(b.prompts) for b in v)} requests in {len(v)} batches"
             for k, v in sets.items()]
    print(f"prompt sets: {', '.join(sizes)} (recorded in {recorded:.0f} s)")
    ceilings = {n: ceiling(sets, n) for n in args.replicas}
    print(f"ceiling (best efficiency any router with max/mean <= {TARGET_LOAD} can reach): "
          + ", ".join(f"N={n}: {c:.3f}" for n, c in ceilings.items()))
    print(f"{'router':<13} {'N':>3} {'efficiency':>10} {'max/mean':>9} {'computed':>9} {'distinct':>9}")
    for row in rows:
        print(f"{row.router:<13} {row.replicas:>3} {row.efficiency:>10.3f} {row.load_ratio:>9.3f} "
              f"{row.computed_prefill_tokens:>9} {row.distinct_prompt_tokens:>9}")
    ok = [r for r in rows if r.router == "affinity" and r.replicas == max(args.replicas)]
    met = all(r.efficiency >= TARGET_EFFICIENCY and r.load_ratio <= TARGET_LOAD for r in ok)
    print(f"target (affinity at N={max(args.replicas)}: efficiency >= {TARGET_EFFICIENCY}, "
          f"max/mean <= {TARGET_LOAD}): {'met' if met else 'NOT met'}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(dict(scale=args.scale, kv_blocks=args.kv_blocks, block_size=BLOCK_SIZE,
                           ceilings=ceilings, rows=[asdict(r) for r in rows]), f, indent=1)
    return 0 if met else 1


if __name__ == "__main__":
    raise SystemExit(main())
