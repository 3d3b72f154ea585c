"""Timing a system on a workload the same way for every system.

A *system* is anything that turns a list of token-id prompts into generated token ids
(:class:`System`). :func:`measure` gives each one an untimed ``prepare`` (build a fresh engine,
so no repeat starts with a warm prefix cache), times ``run`` alone while counting the tokens that
pass through the model's embedding layer with a forward hook, then ``release``s it (a KV pool
sized from free GPU memory must not starve the next system).

>>> [timings] = measure([system], prompts, max_new_tokens=16, repeats=3)   # doctest: +SKIP
>>> timings.wall_s_runs                                                    # doctest: +SKIP
(1.02, 0.98, 1.01)
"""

from __future__ import annotations

import contextlib
import platform
import statistics
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

import torch


@dataclass(frozen=True)
class RunOutput:
    """What one ``System.run`` returns: generated ids per prompt (request order) and the prefill
    tokens the system says it computed (``None`` if it cannot tell)."""

    token_ids: list[list[int]]
    computed_prefill_tokens: int | None


class System(Protocol):
    """A contender in a benchmark. ``model`` is the torch module ``run`` executes (hooked to
    count forward tokens); ``config`` describes the settings used, for the report."""

    name: str
    label: str
    model: torch.nn.Module
    config: dict[str, Any]

    def prepare(self) -> None: ...

    def run(self, prompts: Sequence[Sequence[int]], max_new_tokens: int) -> RunOutput: ...

    def release(self) -> None: ...


@dataclass(frozen=True)
class Timings:
    """Everything measured for one system on one workload (the last repeat's outputs)."""

    wall_s_runs: tuple[float, ...]
    output: RunOutput
    forward_tokens: int
    config: dict[str, Any] = field(default_factory=dict)

    @property
    def best(self) -> float:
        return min(self.wall_s_runs)

    @property
    def median(self) -> float:
        return statistics.median(self.wall_s_runs)


def progress(line: str) -> None:
    """Tell whoever watches a long run where it is (stderr, so tables on stdout stay clean)."""
    print(line, file=sys.stderr, flush=True)


@contextlib.contextmanager
def count_forward_tokens(model: torch.nn.Module) -> Iterator[list[int]]:
    """Yield a one-element list that accumulates tokens embedded by ``model`` while open.

    Counting at the embedding layer sees every token a forward pass computes (padding too),
    whatever the system's own bookkeeping says.
    """
    counter = [0]

    def hook(_module: torch.nn.Module, _args: Any, output: torch.Tensor) -> None:
        counter[0] += output.numel() // output.shape[-1]

    handle = model.get_input_embeddings().register_forward_hook(hook)
    try:
        yield counter
    finally:
        handle.remove()


def _synchronize(model: torch.nn.Module) -> None:
    device = next(model.parameters()).device
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _warm_up(system: System, prompts: Sequence[Sequence[int]]) -> None:
    """One untimed run on two prompts pays for lazy initialization (kernel selection,
    first-call allocations), which would otherwise land on whichever system runs first."""
    system.prepare()
    with torch.inference_mode():
        system.run(prompts[:2], 2)
    system.release()


def _timed_run(system: System, prompts: Sequence[Sequence[int]],
               max_new_tokens: int) -> tuple[float, RunOutput, int]:
    system.prepare()
    _synchronize(system.model)
    with count_forward_tokens(system.model) as counter, torch.inference_mode():
        start = time.perf_counter()
        output = system.run(prompts, max_new_tokens)
        _synchronize(system.model)
        elapsed = time.perf_counter() - start
    system.release()
    return elapsed, output, counter[0]


def measure(systems: Sequence[System], prompts: Sequence[Sequence[int]], max_new_tokens: int,
            repeats: int) -> list[Timings]:
    """Time ``repeats`` runs of each system on ``prompts``, each run after a fresh ``prepare``.

    Runs are interleaved (round ``r`` runs every system once) so that load from other
    processes on a shared machine spreads over all systems instead of penalizing one.
    """
    for system in systems:
        _warm_up(system, prompts)
    times: list[list[float]] = [[] for _ in systems]
    last: list[tuple[RunOutput, int]] = [(RunOutput([], None), 0)] * len(systems)
    for round_ in range(repeats):
        for i, system in enumerate(systems):
            elapsed, output, forward = _timed_run(system, prompts, max_new_tokens)
            times[i].append(elapsed)
            last[i] = (output, forward)
            progress(f"  run {round_ + 1}/{repeats} {system.name}: {elapsed:.2f} s")
    return [Timings(tuple(t), out, fwd, dict(s.config))
            for s, t, (out, fwd) in zip(systems, times, last)]


def pick_fastest(candidates: Sequence[System], prompts: Sequence[Sequence[int]],
                 max_new_tokens: int) -> tuple[System | None, list[dict[str, Any]]]:
    """Try each candidate configuration of one system and return the fastest.

    Baselines get their best setting (batch size, cache size) so a speedup over them is not an
    artefact of a poor configuration. A candidate that raises (an API missing from the installed
    transformers, say) is reported and skipped rather than ending the run; ``None`` means every
    candidate failed. Returns the winner and one line per candidate tried (its config and the
    time of its trial run, or its error) for the report; a lone candidate is only warmed up.
    """
    trials: list[tuple[System, float]] = []
    tried: list[dict[str, Any]] = []
    for candidate in candidates:
        try:
            _warm_up(candidate, prompts)
            elapsed = (_timed_run(candidate, prompts, max_new_tokens)[0]
                       if len(candidates) > 1 else 0.0)
        except Exception as exc:  # noqa: BLE001 -- a broken baseline is a finding, not a crash
            candidate.release()
            progress(f"  {candidate.name} {candidate.config} failed: {exc!r}")
            tried.append(dict(config=dict(candidate.config), error=repr(exc)))
            continue
        if len(candidates) > 1:
            progress(f"  trial {candidate.name} {candidate.config}: {elapsed:.2f} s")
            tried.append(dict(config=dict(candidate.config), wall_s=elapsed))
        trials.append((candidate, elapsed))
    winner = min(trials, key=lambda ct: ct[1])[0] if trials else None
    return winner, tried


def cpu_name() -> str:
    """The processor's model name, for the machine line of a report."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


@dataclass(frozen=True)
class ModelShape:
    """Llama hyper-parameters of a benchmark model; ``vocab_size`` None means the tokenizer's.

    >>> ModelShape(64, 128, 2, 4, 2, 16, 256).config_kwargs(vocab_size=300)["vocab_size"]
    300
    """

    hidden_size: int
    intermediate_size: int
    num_hidden_layers: int
    num_attention_heads: int
    num_key_value_heads: int
    head_dim: int
    max_position_embeddings: int
    vocab_size: int | None = None

    def config_kwargs(self, vocab_size: int | None = None) -> dict[str, Any]:
        """Keyword arguments of ``LlamaConfig`` (``vocab_size`` fills in a missing one)."""
        out = asdict(self)
        out["vocab_size"] = self.vocab_size or vocab_size
        return out


# ``--shape NAME``: realistic shapes for GPU runs (random weights; vocabulary from the suite).
NAMED_SHAPES = {
    # Llama-3.2-1B-like: hidden 2048, 16 layers, 32 query / 8 KV heads of 64.
    "1b": ModelShape(2048, 8192, 16, 32, 8, 64, 4096),
}
