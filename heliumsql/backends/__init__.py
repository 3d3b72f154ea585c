"""Other implementations of the engine contract than the local engine.

``model="openai:NAME"`` names a model served by an OpenAI-compatible endpoint; the backend is
built only when the first LLM call needs it (importing this package never imports ``openai``).

>>> is_remote("openai:llama-3.1-8b"), is_remote("path/to/checkpoint")
(True, False)
>>> con = heliumsql.connect(model="openai:llama-3.1-8b", base_url="http://127.0.0.1:8000/v1")  # doctest: +SKIP

``cluster="ray", replicas=N`` runs N local engine replicas on Ray instead of one engine
(:mod:`heliumsql.backends.ray_cluster`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

from heliumsql.engine.interface import CompletionStream, EngineBackend, Params, Prompt
from heliumsql.errors import ModelLoadError

OPENAI_PREFIX = "openai:"
DEFAULT_REPLICAS = 2


@runtime_checkable
class StatementBudgeted(Protocol):
    """A backend that counts each statement's requests against a budget (``max_requests``);
    the connection says when a statement begins."""

    def start_statement(self, max_requests: int | None) -> None: ...


@runtime_checkable
class FailureTolerant(Protocol):
    """A backend whose requests can fail one by one (a remote server). ``stream_tolerant`` is
    ``stream`` with one flag per prompt: a flagged request that still fails after the retries
    is answered by a completion whose ``finish_reason`` is
    :data:`~heliumsql.sampling.REQUEST_FAILED` (its text the error) and the others go on; an
    unflagged failure ends the stream with an error, as ``stream``'s does."""

    def stream_tolerant(self, prompts: Sequence[Prompt], params: Params,
                        tolerate: Sequence[bool]) -> CompletionStream: ...


@runtime_checkable
class ReplicatedBackend(Protocol):
    """A backend made of engine replicas (the Ray cluster): per-replica figures, one dict per
    replica (``requests``, ``prompt_tokens``, ``cached_tokens``, ``computed_prefill_tokens``,
    ``retries``, ``alive``), cumulative; ``EXPLAIN ANALYZE`` prints each query's share."""

    def replica_stats(self) -> list[dict[str, int]]: ...

    def close(self) -> None: ...


def pop_cluster_options(options: dict[str, Any], model: Any = None) -> dict[str, Any] | None:
    """Take ``cluster`` and ``replicas`` out of connection options (the arguments of
    :func:`cluster_backend` besides the model), or ``None`` for a single engine. A cluster for a
    remote ``model`` is refused here, where the options are given (a remote model never reaches
    :func:`cluster_backend`).

    >>> pop_cluster_options({"cluster": "ray"}), pop_cluster_options({})
    ({'cluster': 'ray', 'replicas': 2}, None)
    """
    cluster, replicas = options.pop("cluster", None), options.pop("replicas", None)
    if cluster is None:
        if replicas is not None:
            raise ModelLoadError(f"replicas={replicas} needs a cluster to run them on: add "
                                 "cluster='ray' (or cluster='ray://host:port')")
        return None
    if is_remote(model):
        raise ModelLoadError(f"model {model!r} is served remotely; cluster= starts local engine "
                             "replicas: pass a checkpoint as model=, or leave cluster= out")
    return dict(cluster=cluster, replicas=DEFAULT_REPLICAS if replicas is None else int(replicas))


def cluster_backend(model: Any, cluster: str, replicas: int, **options: Any) -> ReplicatedBackend:
    """The backend for ``connect(model=..., cluster=..., replicas=N)``: ``cluster`` is
    ``"ray"`` (a local Ray instance, or the cluster ``$RAY_ADDRESS`` names) or
    ``"ray://host:port"``; ``options`` go to
    :class:`~heliumsql.backends.ray_cluster.RayClusterBackend` (``device``, ``dtype``,
    ``num_cpus``, ``num_gpus``, ``load_bound`` and the engine's own options).

    >>> cluster_backend("m", "spark", 2)
    Traceback (most recent call last):
    ...
    heliumsql.engine.errors.ModelLoadError: cluster='spark' is not a cluster HeliumSQL can run on: write cluster='ray' (a local Ray instance or $RAY_ADDRESS) or cluster='ray://host:port'
    """
    if cluster != "ray" and not (isinstance(cluster, str) and cluster.startswith("ray://")):
        raise ModelLoadError(f"cluster={cluster!r} is not a cluster HeliumSQL can run on: write "
                             "cluster='ray' (a local Ray instance or $RAY_ADDRESS) or "
                             "cluster='ray://host:port'")
    from heliumsql.backends.ray_cluster import RayClusterBackend

    address = None if cluster == "ray" else cluster
    return RayClusterBackend(model, replicas=replicas, address=address, **options)


def is_remote(model: Any) -> bool:
    """Whether ``model`` names a remote model (``"openai:NAME"``)."""
    return isinstance(model, str) and model.startswith(OPENAI_PREFIX)


def remote_backend(model: str, **options: Any) -> EngineBackend:
    """The backend for ``model`` (``"openai:NAME"``); ``options`` go to
    :class:`~heliumsql.backends.openai_compat.OpenAICompatBackend` (``base_url``, ``api_key``,
    ``max_concurrency``, ``max_requests``, ``timeout``, ``max_retries``, ...)."""
    from heliumsql.backends.openai_compat import OpenAICompatBackend

    name = model[len(OPENAI_PREFIX):]
    if not name:
        raise ModelLoadError(f"model {model!r} names no model: write 'openai:NAME', NAME as the "
                             "server lists it under /v1/models")
    try:
        return OpenAICompatBackend(name, **options)
    except TypeError as exc:  # an engine option the remote backend does not take
        raise ModelLoadError(f"model {model!r}: {exc}; a remote model takes base_url, api_key, "
                             "max_concurrency, max_requests, timeout, max_retries, "
                             "max_context and structured_output") from None


__all__ = ["OPENAI_PREFIX", "FailureTolerant", "ReplicatedBackend", "StatementBudgeted",
           "cluster_backend", "is_remote", "pop_cluster_options", "remote_backend"]
