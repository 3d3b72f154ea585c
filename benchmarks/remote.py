"""HeliumSQL's remote backend vs a LOTUS-style client, both through ``heliumsql serve`` (issue 11).

    python benchmarks/remote.py [--quick] [--json FILE] [--threads 1] [--repeats 3]
                                [--concurrency 1 8 32] [--workloads NAME ...]

``heliumsql serve``'s app runs in its own process (uvicorn, loopback, a free port) over an
``Engine`` on the workflow suite's benchmark model (:mod:`benchmarks.workflows.model`; ``--quick``
uses the tiny one). For each concurrency C and workflow, two clients run against it, interleaved,
each run on a freshly started server with a fresh engine (so no run inherits a warm prefix
cache):

``heliumsql``  ``heliumsql.connect(model="openai:NAME", base_url=..., result_cache=None,
               max_concurrency=C)`` running the workload's SQL statements.
``lotus``      a LOTUS-style client (:mod:`benchmarks.workflows.operators`): operator after
               operator, one chat completion per row in row order, all rows of an operator
               submitted at once to a pool of C worker threads, through the official ``openai``
               client; no merging of identical calls, no LIMIT pushdown.

Figures per (C, workload, client), medians over the runs: requests the server received (counted
by the server), prompt tokens sent (the server's ``prompt_tokens`` delta), prefill tokens the
server computed (``computed_prefill_tokens`` delta), wall time from the first request's
preparation to the last answer (the client's set-up, a connection and its tables or a thread
pool, is not timed).

>>> report = run_benchmark(quick=True, repeats=1, workloads=["records"])   # doctest: +SKIP
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import socket
import subprocess
import statistics
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

if __package__ in (None, ""):  # run as a script: make ``benchmarks`` importable
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import httpx
import torch

from benchmarks.harness import cpu_name, progress
from benchmarks.workflows.operators import ALL as WORKLOADS
from benchmarks.workflows.operators import OPERATORS
from benchmarks.workflows.model import FULL_SHAPE, QUICK_SHAPE, build_model, describe
from benchmarks.workflows.workload import Tables, Workload, load_tables

MODEL_NAME = "bench"
SYSTEMS = ("heliumsql", "lotus")
PREFILL_TARGET = 1.5  # lotus / heliumsql server prefill tokens, geometric mean
WALL_TARGET = 1.3  # lotus / heliumsql wall time, geometric mean
CHAT_PATH = "/v1/chat/completions"


class CountingApp:
    """An ASGI wrapper that counts the chat completion requests the server receives (the
    server's own count, independent of what either client believes it sent) and answers
    ``GET /requests`` with it."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.requests = 0

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope.get("type") == "http" and scope.get("path") == CHAT_PATH:
            self.requests += 1  # the event loop's thread only: no lock needed
        if scope.get("type") == "http" and scope.get("path") == "/requests":
            body = str(self.requests).encode()
            await send({"type": "http.response.start", "status": 200,
                        "headers": [(b"content-type", b"text/plain")]})
            await send({"type": "http.response.body", "body": body})
            return
        await self.app(scope, receive, send)


@dataclass
class Server:
    """A running server: where to reach it."""

    base_url: str

    def stats(self) -> dict[str, int]:
        """The engine's cumulative counters (``GET /stats``) plus the server's request count."""
        root = self.base_url.removesuffix("/v1")
        out = dict(httpx.get(f"{root}/stats", timeout=30.0).json())
        out["requests"] = int(httpx.get(f"{root}/requests", timeout=30.0).text)
        return out


def serve_forever(quick: bool, seed: int, threads: int, num_blocks: int | None) -> None:
    """The server process: ``heliumsql serve``'s app over a fresh ``Engine`` on the benchmark
    model (``num_blocks`` KV blocks of 16 tokens; None: the engine's default pool), on a free
    loopback port (printed on stdout), until killed."""
    import uvicorn

    from heliumsql.engine import Engine
    from heliumsql.engine.sampling import SamplingParams
    from heliumsql.server.app import create_app

    torch.set_num_threads(threads)
    model, tokenizer = build_model(QUICK_SHAPE if quick else FULL_SHAPE, seed)
    engine = Engine((model, tokenizer), device="cpu", num_blocks=num_blocks)
    # Lazy initialisation, untimed; four tokens fill no KV block, so no cache is left behind.
    engine.generate([[5, 6, 7, 8]], SamplingParams(max_tokens=2))
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    print(sock.getsockname()[1], flush=True)
    app = CountingApp(create_app(engine, MODEL_NAME))
    uvicorn.Server(uvicorn.Config(app, log_level="warning")).run(sockets=[sock])


@contextlib.contextmanager
def serve(quick: bool, seed: int, threads: int, num_blocks: int | None) -> Iterator[Server]:
    """A fresh server process (its own interpreter, as a real server is: the client's Python
    work does not compete with the engine for one GIL) on a free loopback port; killed on
    exit."""
    child = subprocess.Popen(
        [sys.executable, os.path.abspath(__file__), "--serve-child", "--seed", str(seed),
         "--threads", str(threads)] + (["--quick"] if quick else [])
        + (["--server-blocks", str(num_blocks)] if num_blocks else []),
        stdout=subprocess.PIPE, text=True,
        cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    try:
        assert child.stdout is not None
        port = int(child.stdout.readline())
        base_url = f"http://127.0.0.1:{port}/v1"
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1.0).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or child.poll() is not None:
                raise RuntimeError("the benchmark server did not become healthy within 120 s")
            time.sleep(0.05)
        yield Server(base_url)
    finally:
        child.terminate()
        child.wait(timeout=30)


class ChatLlm:
    """The LOTUS-style client's model: one chat completion per prompt (the prompt as one user
    message, greedy, as the SQL operators' requests are) through the official ``openai``
    client; an operator's prompts go out at once, in row order, through a pool of
    ``concurrency`` worker threads (as LOTUS's LiteLLM batch completion sends them)."""

    def __init__(self, base_url: str, concurrency: int) -> None:
        from openai import OpenAI

        self.client = OpenAI(base_url=base_url, api_key="unused", max_retries=0, timeout=600.0)
        self.pool = ThreadPoolExecutor(concurrency, thread_name_prefix="lotus")
        self.calls = 0  # requests this client sent, checked against the server's count
        self._lock = threading.Lock()

    def close(self) -> None:
        self.pool.shutdown()
        self.client.close()

    def _ask(self, prompt: str, max_tokens: int, extra: dict[str, Any]) -> str:
        with self._lock:
            self.calls += 1
        response = self.client.chat.completions.create(
            model=MODEL_NAME, messages=[{"role": "user", "content": prompt}],
            max_tokens=max_tokens, temperature=0.0, **extra)
        return response.choices[0].message.content or ""

    def map(self, prompts: list[str], max_tokens: int, **extra: Any) -> list[str]:
        """Every prompt's answer, in order; all submitted at once (``pool.map`` hands them to
        the workers in row order)."""
        return list(self.pool.map(lambda p: self._ask(p, max_tokens, extra), prompts))

    def filter(self, prompts: list[str]) -> list[bool | None]:
        from heliumsql.backends.choices import parse_choice
        from heliumsql.sampling import FILTER_CHOICES, filter_params, filter_verdict

        # The same constrained yes/no the remote backend asks for (vLLM's guided_choice).
        texts = self.map(prompts, filter_params().max_tokens,
                         extra_body={"guided_choice": list(FILTER_CHOICES)})
        return [filter_verdict(parse_choice(t, FILTER_CHOICES)) for t in texts]


def run_heliumsql(server: Server, workload: Workload, sizes: Any, tables: Tables,
                  concurrency: int, sent: list[int], start: Callable[[], None]) -> list[list[tuple]]:
    """The workload's SQL statements through HeliumSQL's remote backend; the requests the
    backend says it sent are appended to ``sent``. ``start`` is called when the set-up
    (connection, tables: a LOTUS user's DataFrames) is done and the timed work begins."""
    import heliumsql

    con = heliumsql.connect(model=f"openai:{MODEL_NAME}", base_url=server.base_url,
                            api_key="unused", result_cache=None, max_concurrency=concurrency)
    try:
        load_tables(con.duckdb, tables)
        con.engine  # the backend (and its openai client) is built here, untimed
        start()
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
              concurrency: int, sent: list[int], start: Callable[[], None]) -> list[list[tuple]]:
    """The workload as LOTUS runs it (:mod:`benchmarks.workflows.operators`): operator after
    operator, one request per row, ``concurrency`` requests in flight."""
    llm = ChatLlm(server.base_url, concurrency)
    start()
    try:
        return OPERATORS[workload.name](tables, llm, sizes)
    finally:
        sent.append(llm.calls)
        llm.close()


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


def measure_once(system: str, quick: bool, seed: int, workload: Workload, sizes: Any,
                 tables: Tables, concurrency: int, into: Measured,
                 num_blocks: int | None = None) -> None:
    """Start a fresh server and ``system``'s client (untimed), time one run of the workload,
    record the counter deltas."""
    with serve(quick, seed, torch.get_num_threads(), num_blocks) as server:
        before = server.stats()
        began: list[float] = []
        sent: list[int] = []  # the client runs no model: the server is its own process
        answers = RUNNERS[system](server, workload, sizes, tables, concurrency, sent,
                                  lambda: began.append(time.perf_counter()))
        into.wall_s.append(time.perf_counter() - began[0])
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


def run_benchmark(quick: bool = False, repeats: int = 3, concurrencies: tuple[int, ...] = (1,),
                  preset: str | None = None, workloads: list[str] | None = None,
                  seed: int = 0, num_blocks: int | None = None) -> dict[str, Any]:
    """Measure both clients on every chosen workload at every concurrency C; return the report
    as a JSON-able dict. ``num_blocks`` sizes the server's KV pool (a server whose prefix cache
    holds only part of the workload, as one shared with other traffic)."""
    shape = QUICK_SHAPE if quick else FULL_SHAPE
    preset = preset or ("quick" if quick else "full")
    model, _ = build_model(shape, seed)  # described in the report; the server builds its own
    chosen = [w for w in WORKLOADS if not workloads or w.name in workloads]
    rows: list[dict[str, Any]] = []
    for concurrency in concurrencies:
        for workload in chosen:
            sizes = workload.sizes[preset]
            tables = workload.data(sizes, seed)
            runs = {name: Measured() for name in SYSTEMS}
            for round_ in range(repeats):  # interleaved: load from other processes hits both
                for name in SYSTEMS:
                    progress(f"remote: C={concurrency} {workload.name} / {name} "
                             f"(run {round_ + 1})")
                    measure_once(name, quick, seed, workload, sizes, tables, concurrency,
                                 runs[name], num_blocks)
            diff = mismatches(runs["lotus"].answers, runs["heliumsql"].answers)
            for name in SYSTEMS:
                m = runs[name]
                rows.append(dict(concurrency=concurrency, workload=workload.name, system=name,
                                 wall_s=m.median("wall_s"), wall_s_runs=m.wall_s,
                                 requests=m.median("requests"),
                                 prompt_tokens=m.median("prompt_tokens"),
                                 computed_prefill_tokens=m.median("computed_prefill_tokens"),
                                 cached_tokens=m.median("cached_tokens"),
                                 client_requests=m.median("client_requests"),
                                 mismatches_vs_lotus=diff))
    return dict(setup=dict(model=describe(model, shape), preset=preset, repeats=repeats,
                           concurrencies=list(concurrencies), server_kv_blocks=num_blocks,
                           torch_threads=torch.get_num_threads(), cpu=cpu_name(),
                           cores=os.cpu_count()),
                results=rows, summary=summarize(rows))


def summarize(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Per concurrency: per-workload lotus/heliumsql ratios, their geometric means and the
    targets' verdicts."""
    by = {(r["concurrency"], r["workload"], r["system"]): r for r in rows}
    out: dict[str, Any] = {}
    for c in dict.fromkeys(r["concurrency"] for r in rows):
        ratios: dict[str, dict[str, float]] = {}
        for workload in dict.fromkeys(r["workload"] for r in rows if r["concurrency"] == c):
            lotus, ours = by[(c, workload, "lotus")], by[(c, workload, "heliumsql")]
            ratios[workload] = dict(
                prefill=lotus["computed_prefill_tokens"] / max(ours["computed_prefill_tokens"], 1),
                prompt=lotus["prompt_tokens"] / max(ours["prompt_tokens"], 1),
                wall=lotus["wall_s"] / ours["wall_s"],
                requests=lotus["requests"] / max(ours["requests"], 1))
        means = {f"geomean_{k}": geomean([r[k] for r in ratios.values()])
                 for k in ("prefill", "prompt", "wall", "requests")}
        out[str(c)] = dict(ratios=ratios, **means,
                           prefill_met=means["geomean_prefill"] >= PREFILL_TARGET,
                           wall_met=means["geomean_wall"] >= WALL_TARGET)
    return dict(by_concurrency=out, prefill_target=PREFILL_TARGET, wall_target=WALL_TARGET)


def print_report(report: dict[str, Any]) -> None:
    """The figures as a plain-text table (medians), then the ratios and the targets per C."""
    print(f"{'C':>3} {'workload':<12} {'system':<10} {'requests':>8} {'prompt tok':>10} "
          f"{'prefill tok':>11} {'wall s':>8} {'mism.':>5}")
    for r in report["results"]:
        print(f"{r['concurrency']:>3} {r['workload']:<12} {r['system']:<10} "
              f"{r['requests']:>8.0f} {r['prompt_tokens']:>10.0f} "
              f"{r['computed_prefill_tokens']:>11.0f} {r['wall_s']:>8.2f} "
              f"{r['mismatches_vs_lotus']:>5}")
    for c, s in report["summary"]["by_concurrency"].items():
        for workload, ratio in s["ratios"].items():
            print(f"C={c:<3} {workload:<12} lotus/heliumsql: prefill {ratio['prefill']:.2f}x, "
                  f"prompt {ratio['prompt']:.2f}x, wall {ratio['wall']:.2f}x, "
                  f"requests {ratio['requests']:.2f}x")
        print(f"C={c:<3} geometric mean: prefill {s['geomean_prefill']:.2f}x (target "
              f"{PREFILL_TARGET}x: {'met' if s['prefill_met'] else 'MISSED'}), prompt tokens "
              f"{s['geomean_prompt']:.2f}x, wall {s['geomean_wall']:.2f}x (target {WALL_TARGET}x: "
              f"{'met' if s['wall_met'] else 'MISSED'})")


def main(argv: list[str] | None = None) -> None:
    """The command line: run, print, optionally write the JSON report."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny model, quick sizes")
    parser.add_argument("--json", help="write the report here")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    parser.add_argument("--repeats", type=int, default=3, help="runs per (workload, client)")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 32],
                        help="C for both clients (each value a separate measurement)")
    parser.add_argument("--preset", help="workload sizes (quick/full; default from --quick)")
    parser.add_argument("--workloads", nargs="*", help="a subset of the workloads")
    parser.add_argument("--seed", type=int, default=0, help="model and data seed")
    parser.add_argument("--server-blocks", type=int, default=None,
                        help="the server's KV pool in 16-token blocks (default: the engine's)")
    parser.add_argument("--serve-child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve_child:
        serve_forever(args.quick, args.seed, args.threads, args.server_blocks)
        return
    # One thread by default: on a shared 2-core machine two OpenMP threads losing their core
    # to the client made the same forward pass several times slower and erratic.
    torch.set_num_threads(args.threads)
    report = run_benchmark(args.quick, args.repeats, tuple(args.concurrency), args.preset,
                           args.workloads, args.seed, args.server_blocks)
    print_report(report)
    if args.json:
        with open(args.json, "w") as out:
            json.dump(report, out, indent=2, default=str)


if __name__ == "__main__":
    main()
