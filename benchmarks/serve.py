"""What HTTP clients get from sharing one engine: ``heliumsql serve`` under concurrent clients.

    python benchmarks/serve.py [--model PATH] [--clients 64] [--max-tokens 16] [--json out.json]

The server runs in this process (uvicorn on a free loopback port) around a fresh engine per
mode; clients are the official ``openai`` async client. Every request shares a long instruction
and ends with its own question, as the requests of an agent pipeline do. Modes:

- ``sequential``: one request at a time (what a client library without concurrency sends);
- ``concurrent``: every client at once, over HTTP (they share the engine's batches and cache);
- ``in-process``: the same prompts in one ``Engine.generate`` call, no HTTP (the bound).

Figures: wall time, engine forward steps, prompt / cached / computed-prefill / generated tokens,
median and worst request latency. Greedy answers must be equal in every mode (checked).
Without ``--model`` a tiny random Llama is used.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import openai
import torch
import uvicorn

from heliumsql.engine import Engine, SamplingParams
from heliumsql.prompting import chat_token_ids
from heliumsql.server.app import create_app
from heliumsql.testing import tiny_model

INSTRUCTION = ("You are a careful analyst. Read the ticket below, decide which team owns it "
               "(billing, shipping, returns, technical) and answer with the team's name only. " * 3)


def questions(n: int) -> list[str]:
    return [f"{INSTRUCTION}\nTicket {i}: my order {1000 + i} has a problem." for i in range(n)]


class Server:
    """The app around ``engine`` on a free loopback port, in a background thread."""

    def __init__(self, engine: Engine) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/v1"
        self.server = uvicorn.Server(uvicorn.Config(create_app(engine, "bench"),
                                                    log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]},
                                       daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        while not self.server.started:
            time.sleep(0.02)
        return self.url

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)
        self.sock.close()


async def ask(client: openai.AsyncOpenAI, prompt: str, max_tokens: int) -> tuple[str, float]:
    start = time.perf_counter()
    got = await client.chat.completions.create(
        model="bench", temperature=0, max_tokens=max_tokens,
        messages=[{"role": "user", "content": prompt}])
    return got.choices[0].message.content or "", time.perf_counter() - start


async def over_http(url: str, prompts: list[str], max_tokens: int, concurrent: bool
                    ) -> list[tuple[str, float]]:
    client = openai.AsyncOpenAI(base_url=url, api_key="none", max_retries=0, timeout=600)
    if concurrent:
        return list(await asyncio.gather(*(ask(client, p, max_tokens) for p in prompts)))
    return [await ask(client, p, max_tokens) for p in prompts]


def run_mode(mode: str, model: Any, prompts: list[str], max_tokens: int) -> dict[str, Any]:
    engine = Engine(model, device="cpu")
    start = time.perf_counter()
    if mode == "in-process":
        ids = [chat_token_ids(engine.tokenizer, p) for p in prompts]
        done = engine.generate(ids, SamplingParams(max_tokens=max_tokens))
        answers, latencies = [c.text for c in done], [time.perf_counter() - start] * len(done)
    else:
        with Server(engine) as url:
            start = time.perf_counter()
            out = asyncio.run(over_http(url, prompts, max_tokens, mode == "concurrent"))
        answers, latencies = [a for a, _ in out], [t for _, t in out]
    wall = time.perf_counter() - start
    stats = engine.stats()
    return {"mode": mode, "wall_s": round(wall, 3), "steps": stats["steps"],
            "prompt_tokens": stats["prompt_tokens"], "cached_tokens": stats["cached_tokens"],
            "computed_prefill_tokens": stats["computed_prefill_tokens"],
            "generated_tokens": stats["generated_tokens"],
            "latency_median_s": round(statistics.median(latencies), 3),
            "latency_max_s": round(max(latencies), 3), "answers": answers}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", default=None, help="checkpoint (default: a tiny random Llama)")
    p.add_argument("--clients", type=int, default=64)
    p.add_argument("--max-tokens", type=int, default=16)
    p.add_argument("--json", default=None, help="also write the figures here")
    args = p.parse_args()
    torch.set_num_threads(1)  # as the other CPU benchmarks: figures comparable across machines
    model = args.model or tiny_model(Path(tempfile.mkdtemp()) / "llama", arch="llama", seed=0)
    prompts = questions(args.clients)
    rows = [run_mode(m, model, prompts, args.max_tokens)
            for m in ("sequential", "concurrent", "in-process")]
    if any(r["answers"] != rows[0]["answers"] for r in rows):
        raise SystemExit("answers differ between modes")
    keys = [k for k in rows[0] if k not in ("mode", "answers")]
    print(f"{args.clients} clients, {args.max_tokens} new tokens each, one shared instruction")
    print(f"{'mode':<12}" + "".join(f"{k:>24}" for k in keys))
    for r in rows:
        print(f"{r['mode']:<12}" + "".join(f"{r[k]:>24}" for k in keys))
    if args.json:
        Path(args.json).write_text(json.dumps([{k: v for k, v in r.items() if k != "answers"}
                                               for r in rows], indent=2))


if __name__ == "__main__":
    main()
