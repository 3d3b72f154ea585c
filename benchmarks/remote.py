"""HeliumSQL's remote backend vs a LOTUS-style client, both through ``heliumsql serve`` (issue 11).

    python benchmarks/remote.py [--quick] [--json FILE] [--threads 1] [--repeats 3]

``heliumsql serve``'s app runs in-process (uvicorn in a thread, loopback, a free port) over an
``Engine`` on the workflow suite's benchmark model (:mod:`benchmarks.workflows.model`; ``--quick``
uses the tiny one). For each workflow two clients run against it, interleaved, each run on a
freshly started server with a fresh engine (so no run inherits a warm prefix cache):

``heliumsql``  ``heliumsql.connect(model="openai:NAME", base_url=..., result_cache=None,
               max_concurrency=C)`` running the workload's SQL statements.
``lotus``      a LOTUS-style client: the workload's row-by-row twin (``Workload.agent``), one
               chat completion per row per operator in row order through the official ``openai``
               client, no merging of identical calls.

Both clients use the same concurrency ``C`` (``--concurrency``, default 1: the row-by-row twin
waits for each answer before it sends the next request, so a larger C would only help HeliumSQL).
Figures per (workload, client), medians over the runs: requests the server received, prompt
tokens sent (the server's ``prompt_tokens`` delta), prefill tokens the server computed
(``computed_prefill_tokens`` delta), wall time.

>>> report = run_benchmark(quick=True, repeats=1, workloads=["records"])   # doctest: +SKIP
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import json
import math
import os
import socket
import statistics
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

if __package__ in (None, ""):  # run as a script: make ``benchmarks`` importable
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import httpx
import torch

from benchmarks.harness import cpu_name, progress
from benchmarks.workflows import debate, exploration, map_reduce, multi_agent, records
from benchmarks.workflows.model import FULL_SHAPE, QUICK_SHAPE, build_model, describe
from benchmarks.workflows.workload import Tables, Workload, load_tables

MODEL_NAME = "bench"
SYSTEMS = ("heliumsql", "lotus")
WORKLOADS: tuple[Workload, ...] = (multi_agent.WORKLOAD, map_reduce.WORKLOAD,
                                   exploration.WORKLOAD, debate.WORKLOAD, records.WORKLOAD)
PREFILL_TARGET = 1.5  # lotus / heliumsql server prefill tokens, geometric mean
WALL_TARGET = 1.3  # lotus / heliumsql wall time, geometric mean
CHAT_PATH = "/v1/chat/completions"


class CountingApp:
    """An ASGI wrapper that counts the chat completion requests the server receives: the
    server's own request count, independent of what either client believes it sent."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.requests = 0
        self._lock = threading.Lock()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope.get("type") == "http" and scope.get("path") == CHAT_PATH:
            with self._lock:
                self.requests += 1
        await self.app(scope, receive, send)


@dataclass
class Server:
    """A running server: where to reach it, its request counter and its counters' reader."""

    base_url: str
    counter: CountingApp

    def stats(self) -> dict[str, int]:
        """The engine's cumulative counters (``GET /stats``) plus the server's request count."""
        root = self.base_url.removesuffix("/v1")
        out = dict(httpx.get(f"{root}/stats", timeout=30.0).json())
        out["requests"] = self.counter.requests
        return out


@contextlib.contextmanager
def serve(model: Any, tokenizer: Any) -> Iterator[Server]:
    """``heliumsql serve``'s app over a fresh ``Engine`` on a copy of ``model`` (the engine may
    patch the model it runs), on a free loopback port; stopped on exit."""
    import uvicorn

    from heliumsql.engine import Engine
    from heliumsql.engine.sampling import SamplingParams
    from heliumsql.server.app import create_app

    engine = Engine((copy.deepcopy(model), tokenizer), device="cpu")
    # Lazy initialisation, untimed; four tokens fill no KV block, so no cache is left behind.
    engine.generate([[5, 6, 7, 8]], SamplingParams(max_tokens=2))
    counter = CountingApp(create_app(engine, MODEL_NAME))
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(counter, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    base_url = f"http://127.0.0.1:{sock.getsockname()[1]}/v1"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(base_url.removesuffix("/v1") + "/health", timeout=1.0).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError("the benchmark server did not become healthy within 60 s")
        time.sleep(0.05)
    try:
        yield Server(base_url, counter)
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()
        close = getattr(engine, "close", None)
        if callable(close):
            close()


class ChatLlm:
    """The LOTUS-style client's model call: the prompt as one user message, sent alone through
    the official ``openai`` client, greedy, as the SQL operators' requests are."""

    def __init__(self, base_url: str) -> None:
        from openai import OpenAI

        self.client = OpenAI(base_url=base_url, api_key="unused", max_retries=0, timeout=600.0)
        self.calls = 0  # requests this client sent, checked against the server's count

    def _ask(self, prompt: str, max_tokens: int, **extra: Any) -> str:
        self.calls += 1
        response = self.client.chat.completions.create(
            model=MODEL_NAME, messages=[{"role": "user", "content": prompt}],
            max_tokens=max_tokens, temperature=0.0, **extra)
        return response.choices[0].message.content or ""

    def __call__(self, prompt: str, max_tokens: int) -> str:
        return self._ask(prompt, max_tokens)

    def filter(self, prompt: str) -> bool | None:
        from heliumsql.backends.choices import parse_choice
        from heliumsql.sampling import FILTER_CHOICES, filter_params, filter_verdict

        # The same constrained yes/no the remote backend asks for (vLLM's guided_choice).
        text = self._ask(prompt, filter_params().max_tokens,
                         extra_body={"guided_choice": list(FILTER_CHOICES)})
        return filter_verdict(parse_choice(text, FILTER_CHOICES))


def run_heliumsql(server: Server, workload: Workload, sizes: Any, tables: Tables,
                  concurrency: int, sent: list[int]) -> list[list[tuple]]:
    """The workload's SQL statements through HeliumSQL's remote backend; the requests the
    backend says it sent are appended to ``sent``."""
    import heliumsql

    con = heliumsql.connect(model=f"openai:{MODEL_NAME}", base_url=server.base_url,
                            api_key="unused", result_cache=None, max_concurrency=concurrency)
    try:
        load_tables(con.duckdb, tables)
        answers, before = [], 0
        for statement in workload.statements(sizes):
            answers.append(con.sql(statement).fetchall())
            if con.engine_loaded:  # the backend's counter is cumulative: this statement's part
                now = con.engine.stats().get("requests", 0)
                sent.append(now - before)
                before = now
        return answers
    finally:
        con.close()


def run_lotus(server: Server, workload: Workload, sizes: Any, tables: Tables,
              concurrency: int, sent: list[int]) -> list[list[tuple]]:
    """The workload's row-by-row twin, one chat request per row per operator (``concurrency``
    is moot: the twin waits for each answer before the next request)."""
    del concurrency
    llm = ChatLlm(server.base_url)
    try:
        return workload.agent(tables, llm, sizes)
    finally:
        sent.append(llm.calls)


RUNNERS = {"heliumsql": run_heliumsql, "lotus": run_lotus}


@dataclass
class Measured:
    """One client on one workload: per-run figures (server counter deltas) and last answers."""

    wall_s: list[float] = field(default_factory=list)
    requests: list[int] = field(default_factory=list)
    prompt_tokens: list[int] = field(default_factory=list)
    computed_prefill_tokens: list[int] = field(default_factory=list)
    cached_tokens: list[int] = field(default_factory=list)
    client_requests: list[int] = field(default_factory=list)
    answers: list[list[tuple]] = field(default_factory=list)

    def median(self, name: str) -> float:
        """The median of the per-run figure ``name``."""
        return float(statistics.median(getattr(self, name)))


def measure_once(system: str, model: Any, tokenizer: Any, workload: Workload, sizes: Any,
                 tables: Tables, concurrency: int, into: Measured) -> None:
    """Start a fresh server (untimed), time one run of ``system``, record the counter deltas."""
    with serve(model, tokenizer) as server:
        before = server.stats()
        with torch.inference_mode():
            start = time.perf_counter()
            sent: list[int] = []
            answers = RUNNERS[system](server, workload, sizes, tables, concurrency, sent)
            into.wall_s.append(time.perf_counter() - start)
        after = server.stats()
    for key in ("requests", "prompt_tokens", "computed_prefill_tokens", "cached_tokens"):
        getattr(into, key).append(after[key] - before[key])
    into.client_requests.append(sum(sent))
    into.answers = [sorted(rows, key=repr) for rows in answers]


def mismatches(reference: list[list[tuple]], answers: list[list[tuple]]) -> int:
    """Rows (over every statement) that one side has and the other lacks, as multisets."""
    total = abs(len(reference) - len(answers))
    for ref, got in zip(reference, answers):
        a, b = Counter(ref), Counter(got)
        total += max(sum((a - b).values()), sum((b - a).values()))
    return total


def geomean(values: list[float]) -> float:
    """The geometric mean (NaN for no values)."""
    return math.exp(sum(map(math.log, values)) / len(values)) if values else float("nan")


def run_benchmark(quick: bool = False, repeats: int = 3, concurrency: int = 1,
                  preset: str | None = None, workloads: list[str] | None = None,
                  seed: int = 0) -> dict[str, Any]:
    """Measure both clients on every chosen workload; return the report as a JSON-able dict."""
    shape = QUICK_SHAPE if quick else FULL_SHAPE
    preset = preset or ("quick" if quick else "full")
    model, tokenizer = build_model(shape, seed)
    chosen = [w for w in WORKLOADS if not workloads or w.name in workloads]
    rows: list[dict[str, Any]] = []
    for workload in chosen:
        sizes = workload.sizes[preset]
        tables = workload.data(sizes, seed)
        runs = {name: Measured() for name in SYSTEMS}
        for round_ in range(repeats):  # interleaved: load from other processes hits both
            for name in SYSTEMS:
                progress(f"remote: {workload.name} / {name} (run {round_ + 1})")
                measure_once(name, model, tokenizer, workload, sizes, tables, concurrency,
                             runs[name])
        diff = mismatches(runs["lotus"].answers, runs["heliumsql"].answers)
        for name in SYSTEMS:
            m = runs[name]
            rows.append(dict(workload=workload.name, system=name, wall_s=m.median("wall_s"),
                             wall_s_runs=m.wall_s, requests=m.median("requests"),
                             prompt_tokens=m.median("prompt_tokens"),
                             computed_prefill_tokens=m.median("computed_prefill_tokens"),
                             cached_tokens=m.median("cached_tokens"),
                             client_requests=m.median("client_requests"),
                             mismatches_vs_lotus=diff))
    return dict(setup=dict(model=describe(model, shape), preset=preset, repeats=repeats,
                           concurrency=concurrency, torch_threads=torch.get_num_threads(),
                           cpu=cpu_name(), cores=os.cpu_count()),
                results=rows, summary=summarize(rows))


def summarize(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Per-workload lotus/heliumsql ratios, their geometric means and the targets' verdicts."""
    by = {(r["workload"], r["system"]): r for r in rows}
    ratios: dict[str, dict[str, float]] = {}
    for workload in dict.fromkeys(r["workload"] for r in rows):
        lotus, ours = by[(workload, "lotus")], by[(workload, "heliumsql")]
        ratios[workload] = dict(
            prefill=lotus["computed_prefill_tokens"] / max(ours["computed_prefill_tokens"], 1),
            wall=lotus["wall_s"] / ours["wall_s"],
            requests=lotus["requests"] / max(ours["requests"], 1))
    prefill = geomean([r["prefill"] for r in ratios.values()])
    wall = geomean([r["wall"] for r in ratios.values()])
    return dict(ratios=ratios, geomean_prefill=prefill, geomean_wall=wall,
                prefill_target=PREFILL_TARGET, wall_target=WALL_TARGET,
                prefill_met=prefill >= PREFILL_TARGET, wall_met=wall >= WALL_TARGET)


def print_report(report: dict[str, Any]) -> None:
    """The figures as a plain-text table (medians), then the targets."""
    head = f"{'workload':<12} {'system':<10} {'requests':>8} {'prompt tok':>10} " \
           f"{'prefill tok':>11} {'wall s':>8} {'mism.':>5}"
    print(head)
    for r in report["results"]:
        print(f"{r['workload']:<12} {r['system']:<10} {r['requests']:>8.0f} "
              f"{r['prompt_tokens']:>10.0f} {r['computed_prefill_tokens']:>11.0f} "
              f"{r['wall_s']:>8.2f} {r['mismatches_vs_lotus']:>5}")
    s = report["summary"]
    for workload, ratio in s["ratios"].items():
        print(f"{workload:<12} lotus/heliumsql: prefill {ratio['prefill']:.2f}x, "
              f"wall {ratio['wall']:.2f}x, requests {ratio['requests']:.2f}x")
    print(f"geometric mean: prefill {s['geomean_prefill']:.2f}x (target {PREFILL_TARGET}x: "
          f"{'met' if s['prefill_met'] else 'MISSED'}), wall {s['geomean_wall']:.2f}x "
          f"(target {WALL_TARGET}x: {'met' if s['wall_met'] else 'MISSED'})")


def main(argv: list[str] | None = None) -> None:
    """The command line: run, print, optionally write the JSON report."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny model, quick sizes")
    parser.add_argument("--json", help="write the report here")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    parser.add_argument("--repeats", type=int, default=3, help="runs per (workload, client)")
    parser.add_argument("--concurrency", type=int, default=1, help="C for both clients")
    parser.add_argument("--preset", help="workload sizes (quick/full; default from --quick)")
    parser.add_argument("--workloads", nargs="*", help="a subset of the workloads")
    args = parser.parse_args(argv)
    # One thread by default: on a shared 2-core machine two OpenMP threads losing their core
    # to the client made the same forward pass several times slower and erratic.
    torch.set_num_threads(args.threads)
    report = run_benchmark(args.quick, args.repeats, args.concurrency, args.preset,
                           args.workloads)
    print_report(report)
    if args.json:
        with open(args.json, "w") as out:
            json.dump(report, out, indent=2, default=str)


if __name__ == "__main__":
    main()
