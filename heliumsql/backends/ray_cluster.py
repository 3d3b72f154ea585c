"""The engine contract answered by N engine replicas on Ray, with prefix-affinity routing.

``heliumsql.connect(model=..., cluster="ray", replicas=N)`` starts N :class:`~heliumsql.backends.
replica.Replica` actors (one GPU each with ``device="cuda"``, else ``num_cpus`` CPUs) on a local
Ray instance, on the cluster ``$RAY_ADDRESS`` names, or on ``cluster="ray://host:port"``. Each
loads the model once. The driver keeps DuckDB, the planner, the runtime and the result cache;
it loads only the tokenizer (from the first replica).

Routing: each ``stream`` call is cut into prefix subtrees and each subtree sent to one replica
(:class:`~heliumsql.backends.routing.AffinityRouter`: the replica already holding its prefix, else
a stable hash of the prefix, under a load bound). Pins go to the replica the router would send
the prefix to (and later prompts with that prefix follow them there); the eviction priority
goes to every replica, as it was when the query set it. Answers stream back from all replicas
as they finish.

Faults: a replica that dies (actor killed, node lost) is dropped from routing, and the requests
it had not answered are sent again to the others; greedy and seeded answers do not depend on the
replica, so the rows are the same. ``replica_stats()`` gives per-replica figures (requests,
prompt, cached and computed prefill tokens, retries), which ``EXPLAIN ANALYZE`` prints.

>>> con = heliumsql.connect(model="path/to/checkpoint", cluster="ray", replicas=2)  # doctest: +SKIP
"""

from __future__ import annotations

import itertools
import queue
import threading
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from heliumsql.backends.routing import DEFAULT_LOAD_BOUND, AffinityRouter
from heliumsql.engine.interface import CompletionStream, Params, Priority, Prompt
from heliumsql.engine.request import Completion
from heliumsql.engine.sampling import SamplingParams, params_list
from heliumsql.errors import EngineError, HeliumError, ModelLoadError

# Calls one replica serves at once: the open streams of a query plus pins and figures.
_ACTOR_CONCURRENCY = 64
_STAT_KEYS = ("prompt_tokens", "cached_tokens", "computed_prefill_tokens", "generated_tokens",
              "preemptions", "evictions", "steps")


def import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise ModelLoadError("cluster='ray' needs Ray installed: pip install 'heliumsql[ray]'") from None
    return ray


# Cache stamps kept per backend: far more than the queries one process runs at once (an older
# stamp asked for again counts its reuse as computed, a figure, never an answer).
_KEPT_STAMPS = 1024


class _Part:
    """The requests of one stream call sent to one replica (a Ray streaming generator)."""

    __slots__ = ("replica", "indices", "costs", "call_id")

    def __init__(self, replica: int, indices: list[int], costs: list[float], call_id: int) -> None:
        self.replica, self.indices, self.costs, self.call_id = replica, indices, costs, call_id


class _Died:
    def __init__(self, error: BaseException) -> None:
        self.error = error


_END = object()


class ClusterStream:
    """The completions of one ``stream`` call, from every replica, in the order they finish."""

    def __init__(self, backend: RayClusterBackend, ids: list[list[int]],
                 params: list[SamplingParams]) -> None:
        self._backend, self.ids, self.params = backend, ids, params
        self._queue: queue.Queue[tuple[int, Any]] = queue.Queue()
        self._parts: dict[int, _Part] = {}
        self.pending = set(range(len(ids)))
        self.closed = False

    def __iter__(self) -> ClusterStream:
        return self

    def __next__(self) -> Completion:
        while self.pending and not self.closed:
            call_id, item = self._queue.get()
            part = self._parts.get(call_id)
            if part is None:
                continue  # a part already given up (its replica died)
            if isinstance(item, Completion):
                index = part.indices[item.index]
                if index not in self.pending:
                    continue
                self.pending.discard(index)
                self._backend.delivered(part.replica, part.costs[item.index])
                return replace(item, index=index)
            del self._parts[call_id]
            left = [i for i in part.indices if i in self.pending]
            if isinstance(item, _Died):
                self._backend.replica_died(part.replica, unanswered=len(left))
                if left:
                    self._backend.dispatch(self, left, retry=True)
            elif item is not _END:
                self.close()
                raise item
            elif left:
                raise EngineError(f"internal error: replica {part.replica} ended a call with "
                                  f"{len(left)} requests unanswered; please report this")
        raise StopIteration

    def num_ready(self) -> int:
        return self._queue.qsize()

    def add_part(self, part: _Part, generator: Any) -> None:
        self._parts[part.call_id] = part
        threading.Thread(target=self._read, args=(part.call_id, generator), daemon=True,
                         name=f"heliumsql-ray-{part.call_id}").start()

    def _read(self, call_id: int, generator: Any) -> None:
        ray = import_ray()
        try:
            for ref in generator:
                self._queue.put((call_id, ray.get(ref)))
            self._queue.put((call_id, _END))
        except ray.exceptions.RayActorError as exc:
            self._queue.put((call_id, _Died(exc)))
        except ray.exceptions.RayTaskError as exc:
            cause = getattr(exc, "cause", None)
            self._queue.put((call_id, cause if isinstance(cause, HeliumError)
                             else EngineError(f"a replica failed: {exc}")))
        except BaseException as exc:  # noqa: BLE001 - handed to the reading thread
            self._queue.put((call_id, exc))

    def close(self) -> None:
        """Abort every replica's unfinished requests of this call; idempotent."""
        if self.closed:
            return
        self.closed = True
        for part in list(self._parts.values()):
            for i, cost in zip(part.indices, part.costs):
                if i in self.pending:
                    self._backend.delivered(part.replica, cost, answered=False)
            self._backend.abort(part.replica, part.call_id)
        self._parts.clear()
        self.pending.clear()


class _Placement:
    """Where the replicas run, for ``EXPLAIN ANALYZE`` and the REPL's ``.model``."""

    def __init__(self, text: str) -> None:
        self.text = text

    def describe(self) -> str:
        return self.text


class RayClusterBackend:
    """An :class:`~heliumsql.engine.interface.PrefixCachingEngine` over ``replicas`` engine
    replicas on Ray (see the module docstring). ``num_cpus`` / ``num_gpus`` are each replica's
    Ray resources (default: one GPU with a CUDA ``device``, else one CPU); other keywords are
    :class:`~heliumsql.engine.Engine` options.
    """

    def __init__(self, model: Any, *, replicas: int = 2, address: str | None = None,
                 device: str = "cpu", dtype: Any = None, num_cpus: float | None = None,
                 num_gpus: float | None = None, load_bound: float = DEFAULT_LOAD_BOUND,
                 **engine_options: Any) -> None:
        ray = import_ray()
        from heliumsql.backends.replica import Replica

        if replicas < 1:
            raise ModelLoadError(f"replicas must be at least 1, got {replicas}")
        # Checked here, as a single engine checks them: in an actor a bad option would come back
        # as Ray's "actor died" with a remote traceback.
        from heliumsql.engine.config import EngineConfig

        EngineConfig.from_kwargs(**engine_options)
        if not ray.is_initialized():
            ray.init(address=address, include_dashboard=False, log_to_driver=False)
        # "auto": a GPU per replica when the cluster has GPUs (the driver itself may have none).
        gpu = device.startswith("cuda") or (
            device == "auto" and ray.cluster_resources().get("GPU", 0) >= 1)
        num_gpus = (1 if gpu else 0) if num_gpus is None else num_gpus
        num_cpus = (0 if gpu else 1) if num_cpus is None else num_cpus
        threads = None if gpu else max(int(num_cpus), 1)
        # Ray would wait forever for replicas the cluster can never hold: say so now.
        have = ray.cluster_resources()
        for name, each in (("CPU", num_cpus), ("GPU", num_gpus)):
            if each * replicas > have.get(name, 0):
                raise ModelLoadError(
                    f"{replicas} replicas with {each} {name} each need {each * replicas:g} "
                    f"{name}s; the Ray cluster has {have.get(name, 0):g}: lower replicas= or "
                    f"num_{name.lower()}s= (a fraction shares one)")
        # A loaded (model, tokenizer) pair goes into the object store once, not once per actor.
        spec = ray.put(model) if isinstance(model, tuple) else model
        actor = ray.remote(Replica).options(max_concurrency=_ACTOR_CONCURRENCY,
                                            num_cpus=num_cpus, num_gpus=num_gpus)
        self._ray = ray
        self.actors = [actor.remote(spec, device, dtype, threads, engine_options)
                       for _ in range(replicas)]
        try:
            info = ray.get(self.actors[0].describe.remote())
            ray.get([a.describe.remote() for a in self.actors[1:]])
        except ray.exceptions.RayError as exc:
            self._stop_actors()  # (no router yet: close() would fail on it)
            what = repr(model) if isinstance(model, str) else "the given (model, tokenizer) pair"
            raise ModelLoadError(f"the replicas could not load model {what}: {exc}") from None
        self.tokenizer, self.max_context = info["tokenizer"], info["max_context"]
        self.fingerprint = info["fingerprint"]
        self._block_size, self._num_blocks = info["block_size"], info["num_blocks"]
        self._partial = info["partial_blocks"]
        self.placement = _Placement(f"{replicas} Ray replicas, each {info['runs_on']}")
        self.router = AffinityRouter(replicas, self._block_size, load_bound)
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._pins: dict[int, tuple[int, int]] = {}
        self._stamps: dict[int, dict[int, int]] = {}
        self._snapshots = [dict.fromkeys(_STAT_KEYS, 0) for _ in range(replicas)]
        self._requests = [0] * replicas
        self._retries = [0] * replicas
        self._queued = 0

    # -- the base contract ----------------------------------------------------------------
    def encode(self, prompt: Prompt) -> list[int]:
        if isinstance(prompt, str):
            return list(self.tokenizer(prompt, add_special_tokens=True)["input_ids"])
        return [int(t) for t in prompt]

    def generate(self, prompts: Sequence[Prompt], params: Params) -> list[Completion]:
        return sorted(self.stream(prompts, params), key=lambda c: c.index)

    def stream(self, prompts: Sequence[Prompt], params: Params) -> CompletionStream:
        """Route the requests (by prefix subtree) and send each replica its share at once."""
        stream = ClusterStream(self, [self.encode(p) for p in prompts],
                               params_list(params, len(prompts)))
        if prompts:
            self.dispatch(stream, list(range(len(prompts))), retry=False)
        return stream

    def cancel(self, stream: CompletionStream) -> None:
        stream.close()

    def stats(self) -> dict[str, int]:
        """Every replica's counters summed (a dead replica's as last read)."""
        self._refresh()
        out = {k: sum(s.get(k, 0) for s in self._snapshots) for k in _STAT_KEYS}
        out["retries"] = sum(self._retries)
        return out

    def replica_stats(self) -> list[dict[str, int]]:
        """Per replica: ``requests`` it answered, ``retries`` (requests re-sent to it after
        another replica died), its engine counters and ``alive`` (1 or 0)."""
        self._refresh()
        return [dict(self._snapshots[r], requests=self._requests[r], retries=self._retries[r],
                     alive=int(r in self.router.alive)) for r in range(len(self.actors))]

    # -- the prefix-caching capability ----------------------------------------------------
    @property
    def block_size(self) -> int:
        return self._block_size

    @property
    def num_blocks(self) -> int:
        return self._num_blocks

    @property
    def partial_blocks(self) -> bool:
        return self._partial

    def pin(self, token_ids: Sequence[int]) -> int:
        """Pin on the replica the router sends this prefix to (it remembers that)."""
        ids = [int(t) for t in token_ids]
        while True:
            with self._lock:
                if not self.router.alive:
                    raise self._all_dead()
                r = self.router.place(ids, len(ids))
                self.router.directory.add(r, ids)
            handle = self._call(r, "pin", ids)
            if handle is not None:
                pin_id = next(self._ids)
                self._pins[pin_id] = (r, handle)
                return pin_id

    def unpin(self, handle: int) -> None:
        if handle not in self._pins:
            raise EngineError(f"unknown pin handle {handle!r} (already unpinned?)")
        r, inner = self._pins.pop(handle)
        if r in self.router.alive:
            self._call(r, "unpin", inner)

    def cache_stamp(self) -> int:
        stamp = next(self._ids)
        self._stamps[stamp] = {r: s for r in sorted(self.router.alive)
                               if (s := self._call(r, "cache_stamp")) is not None}
        while len(self._stamps) > _KEPT_STAMPS:  # one per query: a long-lived server's grow
            del self._stamps[next(iter(self._stamps))]
        return stamp

    def cached_prefix(self, token_ids: Sequence[int], before: int | None = None) -> int:
        """Asked of the replica that should hold the most of ``token_ids`` (by what was sent
        where); 0 without asking when none should hold any."""
        ids = [int(t) for t in token_ids]
        with self._lock:
            held = {r: self.router.directory.match(r, ids) for r in self.router.alive}
        r = max(held, key=lambda k: (held[k], -k), default=None)
        if r is None or held[r] == 0:
            return 0
        stamp = None if before is None else self._stamps.get(before, {}).get(r)
        if before is not None and stamp is None:
            return 0  # the replica was not asked for a stamp: it held nothing of this query's
        return self._call(r, "cached_prefix", ids, stamp) or 0

    def set_eviction_priority(self, priority: Priority | None) -> None:
        for r in sorted(self.router.alive):
            self._call(r, "set_eviction_priority", priority)

    def num_queued(self) -> int:
        return self._queued

    def close(self) -> None:
        """Stop the replicas (the connection that started them calls this)."""
        self._stop_actors()
        self.router.alive.clear()

    def _stop_actors(self) -> None:
        for a in self.actors:
            try:
                self._ray.kill(a)
            except Exception:  # noqa: BLE001 - already gone
                pass

    # -- routing and faults (called by ClusterStream) -------------------------------------
    def dispatch(self, stream: ClusterStream, indices: list[int], retry: bool) -> None:
        """Route ``stream``'s requests ``indices`` and start one replica call per replica."""
        with self._lock:
            if not self.router.alive:
                raise self._all_dead()
            ids = [stream.ids[i] for i in indices]
            assignment = self.router.route(ids, [stream.params[i].max_tokens for i in indices])
            self._queued += len(indices)
        shares: dict[int, list[int]] = {}
        for k, r in enumerate(assignment.replicas):
            shares.setdefault(r, []).append(k)
        for r, ks in shares.items():
            call_id = next(self._ids)
            if retry:
                self._retries[r] += len(ks)
            generator = self.actors[r].stream.options(num_returns="streaming").remote(
                call_id, [ids[k] for k in ks], [stream.params[indices[k]] for k in ks])
            stream.add_part(_Part(r, [indices[k] for k in ks], [assignment.costs[k] for k in ks],
                                  call_id), generator)

    def delivered(self, replica: int, cost: float, answered: bool = True) -> None:
        with self._lock:
            self.router.release(replica, cost)
            self._queued = max(0, self._queued - 1)
            if answered:
                self._requests[replica] += 1

    def replica_died(self, replica: int, unanswered: int = 0) -> None:
        """``replica`` is gone; ``unanswered`` of the requests sent to it leave the queue (the
        caller dispatches them again, which counts them anew)."""
        with self._lock:
            self.router.remove(replica)
            self._queued = max(0, self._queued - unanswered)

    def abort(self, replica: int, call_id: int) -> None:
        if replica in self.router.alive:
            self.actors[replica].abort.remote(call_id)  # not awaited: closing never blocks

    def _call(self, replica: int, method: str, *args: Any) -> Any:
        """``method`` on one replica, waited for; ``None`` (and the replica dropped) if it died."""
        try:
            return self._ray.get(getattr(self.actors[replica], method).remote(*args))
        except self._ray.exceptions.RayActorError:
            self.replica_died(replica)
            return None
        except self._ray.exceptions.RayTaskError as exc:
            cause = getattr(exc, "cause", None)
            raise cause if isinstance(cause, HeliumError) else EngineError(str(exc)) from None

    def _refresh(self) -> None:
        asked = {r: self.actors[r].stats.remote() for r in sorted(self.router.alive)}
        for r, ref in asked.items():  # all asked at once, then read
            try:
                self._snapshots[r] = self._ray.get(ref)
            except self._ray.exceptions.RayActorError:
                self.replica_died(r)

    def _all_dead(self) -> EngineError:
        return EngineError(f"every replica of the cluster has died ({len(self.actors)} started); "
                           "check the Ray logs (ray status) and reconnect")
