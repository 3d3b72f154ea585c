"""The real run behind ``python -m benchmarks.routing --real``: one workflow of the suite on one
engine and on a 2-replica Ray cluster (prefix-affinity routing), on this machine.

Both sides use the suite's ~10M-parameter model with one torch thread per engine (the suite's
setting: on a shared machine two OpenMP threads that keep losing a core to other processes make
a forward pass several times slower and erratic), so the cluster has ``replicas`` cores where the
single engine has one: the figure is the scale-out, not a thread-count contest. Replica start-up (Ray, worker processes, model load) is timed apart from the
queries; each side's queries start cold. Rows must be equal (greedy).
"""

from __future__ import annotations

import copy
import time
from typing import Any


def _run(con: Any, workload: Any, sizes: Any, seed: int) -> tuple[float, list, dict[str, int]]:
    from benchmarks.workflows.workload import load_tables

    load_tables(con.duckdb, workload.data(sizes, seed))
    figures = dict(distinct=0, computed=0, requests=0)
    rows = []
    start = time.perf_counter()
    for statement in workload.statements(sizes):
        result = con.sql(statement)
        rows.append(sorted(result.fetchall(), key=repr))
        stats = result.analyze
        figures["distinct"] += stats.distinct_prompt_tokens
        figures["computed"] += stats.computed_prefill_tokens
        figures["requests"] += stats.engine_requests
    return time.perf_counter() - start, rows, figures


def real_run(workload_name: str = "map_reduce", size: str = "full", replicas: int = 2,
             threads: int = 2, seed: int = 0) -> dict[str, Any]:
    """Time ``workload_name`` on one engine and on ``replicas`` Ray replicas."""
    import ray
    import torch

    import heliumsql
    from benchmarks.workflows.model import FULL_SHAPE, build_model
    from benchmarks.workflows.suite import WORKLOADS
    from heliumsql.engine import Engine

    workload = next(w for w in WORKLOADS if w.name == workload_name)
    sizes = workload.sizes[size]
    model, tokenizer = build_model(FULL_SHAPE, seed)
    torch.set_num_threads(max(threads // replicas, 1))
    with torch.inference_mode(), heliumsql.connect(
            engine=Engine((copy.deepcopy(model), tokenizer)), result_cache=None) as con:
        single_s, single_rows, single = _run(con, workload, sizes, seed)
    ray.init(num_cpus=threads, include_dashboard=False, log_to_driver=False)
    try:
        start = time.perf_counter()
        con = heliumsql.connect(model=(model, tokenizer), cluster="ray", replicas=replicas,
                                num_cpus=threads // replicas, result_cache=None)
        con.engine  # starts the replicas and loads the model on each
        startup_s = time.perf_counter() - start
        with con:
            cluster_s, cluster_rows, cluster = _run(con, workload, sizes, seed)
            per_replica = con.engine.replica_stats()
    finally:
        ray.shutdown()
    return dict(workload=workload_name, size=size, replicas=replicas, threads=threads,
                single_s=single_s, cluster_s=cluster_s, startup_s=startup_s,
                speedup=single_s / cluster_s, same_rows=single_rows == cluster_rows,
                single=single, cluster=cluster,
                per_replica=[{k: r[k] for k in ("requests", "computed_prefill_tokens",
                                                "cached_tokens", "retries")} for r in per_replica])
