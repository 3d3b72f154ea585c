"""HeliumSQL's LLM functions as vectorized UDFs on a plain ``duckdb`` connection.

>>> import duckdb, heliumsql.duckdb                                       # doctest: +SKIP
>>> con = duckdb.connect()                                                # doctest: +SKIP
>>> fns = heliumsql.duckdb.register(con, model="path/to/checkpoint")     # doctest: +SKIP
>>> con.sql("SELECT llm('Translate to French: ' || word, max_tokens => 8) FROM words")  # doctest: +SKIP

What you get: ``llm(prompt, ...)`` → VARCHAR, ``llm_filter(prompt, ...)`` → BOOLEAN,
``llm_agg(template, value, ...)`` → VARCHAR (an aggregate: ``{}`` in the template becomes the
group's values, sorted, one per line), and the typed calls whose type does not depend on their
arguments (a DuckDB UDF's return type is fixed when it is created):
``llm_classify(prompt, ['bug', 'feature'], ...)`` → VARCHAR, one of the labels, and
``llm_score(prompt, low, high, ...)`` → INTEGER in [low, high], both decoded under their JSON
schema with the same format instruction before the prompt as in :func:`heliumsql.connect`, so
the answers are the same; and ``llm_embed(text [, model => PATH])`` → ``FLOAT[]`` (a list: its
length is the model's, unknown when the UDF is created; cast to ``FLOAT[d]`` for DuckDB's array
functions), the same vectors as in :func:`heliumsql.connect`. Not here: ``returns => 'TYPE'`` (its type is the argument's) and
``llm_classify(..., multi => true)`` (VARCHAR[]); labels are a list (no descriptions). Named options use DuckDB's macro syntax, ``name => value``
or ``name := value``: ``max_tokens`` (64), ``temperature`` (0), ``top_p`` (1), ``top_k`` (0),
``seed``, ``system``, ``stop`` (a list: ``stop => ['\\n']``); ``llm_filter`` takes ``system``.
They are macros over Arrow UDFs whose parameters are all positional, because DuckDB's Python UDFs
have no named or optional parameters.

What this mode cannot do that :func:`heliumsql.connect` can — DuckDB hands a UDF 2,048 rows at a
time and never shows it the query, so:
- the prompt is text, not a template: write ``'Review: ' || review`` (or ``format(...)``) instead
  of ``'Review: {review}'``; a NULL prompt gives NULL; no context-column arguments, no
  ``llm_map`` (use ``SELECT *, llm(...) FROM t``), no ``EXPLAIN`` of LLM operators;
- no whole-query planning: identical calls in different places of one query, prefixes shared
  across operators, cache-aware ordering of every prompt of the query and LIMIT pushdown all need
  the plan. What remains is per chunk: identical prompts in a chunk are generated once, answers
  are remembered across chunks and calls (``max_memo`` entries), and the engine's prefix cache
  serves whatever the previous chunk left in it. ``benchmarks/udf_vs_connect.py`` measures the gap.
"""

from __future__ import annotations

import collections
import itertools
import threading
from collections.abc import Sequence
from functools import partial
from typing import Any

import duckdb
import pyarrow as pa
import sqlglot
from sqlglot import exp

from heliumsql.backends import cluster_backend, is_remote, pop_cluster_options, remote_backend
from heliumsql.embedding_model import EmbeddingModels, embed_texts
from heliumsql.errors import ExecutionError
from heliumsql.grammar.functions import FUNCTIONS, bind_arguments
from heliumsql.grammar.typed_calls import instruction, schema_text
from heliumsql.output_types import decode_json, parse_output_type
from heliumsql.models import require_model
from heliumsql.prompting import chat_token_ids
from heliumsql.sampling import FILTER_CHOICES, filter_params, filter_verdict, sampling_params

# Macro parameters (name, SQL type); defaults are NULL and filled from the grammar's catalog,
# so UDF mode and heliumsql.connect() never disagree on a default.
_GENERATION_ARGS = (
    ("max_tokens", "INTEGER"), ("temperature", "DOUBLE"), ("top_p", "DOUBLE"), ("top_k", "INTEGER"),
    ("seed", "BIGINT"), ("system", "VARCHAR"), ("stop", "VARCHAR[]"),
)
_FILTER_ARGS = (("system", "VARCHAR"),)
# The typed UDFs: their own positional arguments, then the generation options.
_CLASSIFY_ARGS = (("labels", "VARCHAR[]"),)
_SCORE_ARGS = (("low", "INTEGER"), ("high", "INTEGER"))
_EMBED_ARGS = (("model", "VARCHAR"),)
_ids = itertools.count(1)


class LLMFunctions:
    """The engine and answer memo behind the UDFs of one :func:`register` call.

    One instance serves every chunk, every thread and every cursor it is attached to, so all of
    them share the engine's KV cache and the memo. ``stats()`` tells how much work was saved.
    """

    def __init__(self, model: Any = None, *, engine: Any = None, device: str = "auto",
                 max_memo: int = 100_000, embedding_model: Any = None,
                 **engine_options: Any) -> None:
        self._cluster = pop_cluster_options(engine_options, model)  # cluster="ray": replicas on Ray
        # llm_embed's models, as heliumsql.connect() has them (nothing loads before a call).
        self.embeddings = EmbeddingModels(embedding_model, model, device,
                                          llm_known=engine is None or model is not None)
        self._model, self._device, self._engine_options = model, device, engine_options
        self._engine = engine
        self._lock = threading.RLock()
        self._memo: collections.OrderedDict[tuple[Any, ...], Any] = collections.OrderedDict()
        self.max_memo = max_memo
        self.suffix = f"{next(_ids)}"
        self._stats = collections.Counter()

    # -- the engine ----------------------------------------------------------------------------
    @property
    def engine(self) -> Any:
        """The shared engine, loaded on the first LLM call."""
        with self._lock:
            if self._engine is None:
                if is_remote(self._model):  # base_url, api_key, ... go to the remote backend
                    self._engine = remote_backend(self._model, **self._engine_options)
                    return self._engine
                from heliumsql.engine import Engine

                model = require_model(self._model, "heliumsql.duckdb.register(con, model=...)")
                make = Engine if self._cluster is None else partial(cluster_backend,
                                                                     **self._cluster)
                self._engine = make(model, device=self._device, **self._engine_options)
            return self._engine

    def stats(self) -> dict[str, int]:
        """``rows`` seen, ``prompts`` after per-chunk dedupe, ``memo_hits``, ``generated``
        (requests sent to the engine), ``chunks``, plus the engine's own figures once loaded."""
        out = dict(self._stats)
        if self._engine is not None:
            out.update({f"engine_{k}": v for k, v in self._engine.stats().items()})
        return out

    # -- registration --------------------------------------------------------------------------
    def udf_name(self, function: str) -> str:
        return f"__helium_{function}_{self.suffix}"

    def create_udfs(self, con: duckdb.DuckDBPyConnection) -> None:
        """Create the Arrow UDFs (once per database: DuckDB shares them with its cursors)."""
        for function, args, returns, impl in (
                ("llm", _GENERATION_ARGS, "VARCHAR", self._llm_udf),
                ("llm_filter", _FILTER_ARGS, "BOOLEAN", self._filter_udf),
                ("llm_classify", _CLASSIFY_ARGS + _GENERATION_ARGS, "VARCHAR",
                 self._classify_udf),
                ("llm_score", _SCORE_ARGS + _GENERATION_ARGS, "INTEGER", self._score_udf),
                ("llm_embed", _EMBED_ARGS, "FLOAT[]", self._embed_udf)):
            con.create_function(self.udf_name(function), impl,
                                ["VARCHAR"] + [t for _, t in args], returns, type="arrow",
                                null_handling="special", side_effects=False)

    def attach(self, con: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
        """Define ``llm``, ``llm_filter`` and ``llm_agg`` on ``con`` (a cursor of the database
        the UDFs were created on, e.g. one per thread); returns ``con``.

        >>> cur = fns.attach(con.cursor())                                # doctest: +SKIP
        """
        def params(args: Sequence[tuple[str, str]]) -> tuple[str, str]:
            decl = "".join(f", {name} := NULL" for name, _ in args)
            return decl, "".join(f", {name}" for name, _ in args)

        gen_decl, gen_pass = params(_GENERATION_ARGS)
        filt_decl, filt_pass = params(_FILTER_ARGS)
        llm, flt = self.udf_name("llm"), self.udf_name("llm_filter")
        # Temporary macros: connection-local, so nothing is written into a database file.
        con.execute(f"CREATE OR REPLACE TEMP MACRO llm(prompt{gen_decl}) AS "
                    f"{llm}(CAST(prompt AS VARCHAR){gen_pass})")
        con.execute(f"CREATE OR REPLACE TEMP MACRO llm_filter(prompt{filt_decl}) AS "
                    f"{flt}(CAST(prompt AS VARCHAR){filt_pass})")
        con.execute(
            f"CREATE OR REPLACE TEMP MACRO llm_agg(template, value{gen_decl}) AS {llm}("
            "replace(template, '{}', string_agg(COALESCE(CAST(value AS VARCHAR), ''), chr(10) "
            f"ORDER BY value)){gen_pass})")
        con.execute(f"CREATE OR REPLACE TEMP MACRO llm_classify(prompt, labels{gen_decl}) AS "
                    f"{self.udf_name('llm_classify')}(CAST(prompt AS VARCHAR), "
                    f"CAST(labels AS VARCHAR[]){gen_pass})")
        con.execute(f"CREATE OR REPLACE TEMP MACRO llm_score(prompt, low, high{gen_decl}) AS "
                    f"{self.udf_name('llm_score')}(CAST(prompt AS VARCHAR), CAST(low AS INTEGER), "
                    f"CAST(high AS INTEGER){gen_pass})")
        con.execute(f"CREATE OR REPLACE TEMP MACRO llm_embed(text, model := NULL) AS "
                    f"{self.udf_name('llm_embed')}(CAST(text AS VARCHAR), CAST(model AS VARCHAR))")
        return con

    # -- the UDFs ------------------------------------------------------------------------------
    def _llm_udf(self, prompts: Any, max_tokens: Any, temperature: Any, top_p: Any, top_k: Any,
                 seed: Any, system: Any, stop: Any) -> pa.Array:
        rows = _columns(prompts, max_tokens, temperature, top_p, top_k, seed, system, stop)
        keys = []
        for prompt, *values in rows:
            given = _given(values)
            # The options exactly as llm(...) in heliumsql.connect() would hold them (defaults
            # from the grammar's catalog), so the derived sampling seed is the same too.
            # These UDFs are untyped, and an untyped call holds no ``returns`` option.
            options = tuple((a.name, given[a.name] if given.get(a.name) is not None else a.default)
                            for a in FUNCTIONS["llm"].args if a.name != "returns")
            keys.append(None if prompt is None else (prompt, given["system"], options))
        answers = self._answer(keys, lambda c, _: c.text)
        return pa.array(answers, type=pa.string())

    # DuckDB counts a UDF's parameters from its signature: each generation option is spelled.
    def _classify_udf(self, prompts: Any, labels: Any, max_tokens: Any, temperature: Any,
                      top_p: Any, top_k: Any, seed: Any, system: Any, stop: Any) -> pa.Array:
        generation = (max_tokens, temperature, top_p, top_k, seed, system, stop)
        keys, bound = [], {}  # ``bound``: the chunk's distinct option sets, bound once each
        for prompt, row_labels, *values in _columns(prompts, labels, *generation):
            keys.append(None if prompt is None or row_labels is None else
                        typed_key("llm_classify", prompt, _given(values), bound,
                                  labels=row_labels))
        return pa.array(self._answer(keys, _typed_value), type=pa.string())

    def _score_udf(self, prompts: Any, low: Any, high: Any, max_tokens: Any, temperature: Any,
                   top_p: Any, top_k: Any, seed: Any, system: Any, stop: Any) -> pa.Array:
        generation = (max_tokens, temperature, top_p, top_k, seed, system, stop)
        keys, bound = [], {}
        for prompt, lo, hi, *values in _columns(prompts, low, high, *generation):
            keys.append(None if prompt is None or lo is None or hi is None else
                        typed_key("llm_score", prompt, _given(values), bound, low=lo, high=hi))
        return pa.array(self._answer(keys, _typed_value), type=pa.int32())

    def _filter_udf(self, prompts: Any, system: Any) -> pa.Array:
        keys = [None if p is None else (p, s, None) for p, s in _columns(prompts, system)]
        answers = self._answer(keys, lambda c, _: filter_verdict(c.choice))
        return pa.array(answers, type=pa.bool_())

    def _embed_udf(self, texts: Any, models: Any) -> pa.Array:
        """Each distinct text of the chunk embedded once by the model its row names (NULL: the
        registration's default); a NULL text gives NULL."""
        rows = _columns(texts, models)
        out: list[list[float] | None] = [None] * len(rows)
        by_model: dict[str | None, list[int]] = collections.defaultdict(list)
        for i, (text, name) in enumerate(rows):
            if text is not None:
                by_model[name].append(i)
        with self._lock:
            for name, where in by_model.items():
                vectors = embed_texts(self.embeddings.get(name), [rows[i][0] for i in where]).vectors
                for i in where:
                    out[i] = vectors[rows[i][0]].tolist()
        self._stats["embedded"] += sum(map(len, by_model.values()))
        return pa.array(out, type=pa.list_(pa.float32()))

    def _answer(self, keys: list[tuple[Any, ...] | None], value: Any) -> list[Any]:
        """Answer every row: memo first, then each distinct missing prompt once, in one call."""
        self._stats["chunks"] += 1
        self._stats["rows"] += len(keys)
        distinct = list(dict.fromkeys(k for k in keys if k is not None))
        self._stats["prompts"] += len(distinct)
        with self._lock:
            found = {k: self._memo[k] for k in distinct if k in self._memo}
            for k in found:
                self._memo.move_to_end(k)
            missing = [k for k in distinct if k not in found]
            self._stats["memo_hits"] += len(found)
            if missing:
                engine = self.engine
                inputs = [chat_token_ids(engine.tokenizer, prompt, system)
                          for prompt, system, _ in missing]
                plist = [filter_params() if options is None else
                         sampling_params(dict(options), fingerprint=engine.fingerprint,
                                         prompt=prompt, json_schema=schema_text(dict(options)))
                         for prompt, _, options in missing]
                completions = engine.generate(inputs, plist)
                self._stats["generated"] += len(missing)
                for k, c in zip(missing, completions):
                    found[k] = value(c, k)
                    self._memo[k] = found[k]
                while len(self._memo) > self.max_memo:
                    self._memo.popitem(last=False)
        return [None if k is None else found[k] for k in keys]


def register(con: duckdb.DuckDBPyConnection, model: Any = None, *, engine: Any = None,
             device: str = "auto", **options: Any) -> LLMFunctions:
    """Register ``llm``, ``llm_filter``, ``llm_agg``, ``llm_classify``, ``llm_score`` and
    ``llm_embed`` on a plain DuckDB connection.

    ``model`` is what :func:`heliumsql.connect` takes (checkpoint directory, cached Hugging
    Face id, ``(model, tokenizer)`` pair, ``None`` for the built-in model, ``"openai:NAME"`` for
    a model of an OpenAI-compatible server with ``base_url=`` and ``api_key=``, defaulting to
    ``$OPENAI_BASE_URL`` / ``$OPENAI_API_KEY``, and the remote backend's other options such as
    ``max_concurrency=``: each chunk's distinct prompts go out concurrently); ``engine=`` shares an
    existing engine instead (e.g. ``heliumsql.connect(...).engine`` or another registration's
    ``.engine``). The engine loads on the first LLM call, on ``device`` (``"auto"``: CUDA
    with bfloat16 when present, else CPU with float32); ``cluster="ray", replicas=N`` runs it as
    N replicas on Ray, as :func:`heliumsql.connect` does. Other ``options`` go to the engine
    (``max_memo=`` sizes the answer memo; ``embedding_model=PATH`` is ``llm_embed``'s default
    model, a local sentence-transformers checkpoint, as in :func:`heliumsql.connect`). For other
    threads, attach a cursor:
    ``fns.attach(con.cursor())``.

    >>> fns = register(duckdb.connect(), model="path/to/checkpoint")     # doctest: +SKIP
    >>> remote = register(duckdb.connect(), model="openai:llama-3.1-8b",
    ...                   base_url="http://gpu-box:8000/v1")                # doctest: +SKIP
    >>> fns.stats()["generated"]                                          # doctest: +SKIP
    0
    """
    max_memo = options.pop("max_memo", 100_000)
    functions = LLMFunctions(model, engine=engine, device=device, max_memo=max_memo, **options)
    functions.create_udfs(con)
    functions.attach(con)
    return functions


def _columns(*arrays: Any) -> list[tuple[Any, ...]]:
    return list(zip(*(a.to_pylist() for a in arrays)))


def _given(values: Sequence[Any]) -> dict[str, Any]:
    """The generation options of one row, by name (NULL: not given)."""
    given = dict(zip((name for name, _ in _GENERATION_ARGS), values))
    if given["stop"] is not None:
        given["stop"] = tuple(given["stop"])
    return given


def _typed_options(function: str, given: tuple[tuple[str, Any], ...],
                   typed: tuple[tuple[str, Any], ...]) -> tuple[tuple[str, Any], ...]:
    """The options ``heliumsql.connect()`` binds for the same call (the grammar's own binder
    over the call written as SQL), so identity, instruction, schema and seeds are the same;
    a bad argument is the binder's BindError."""
    args = [exp.Literal.string("")]
    if function == "llm_classify":
        args.append(exp.Array(expressions=[exp.Literal.string(v) for v in dict(typed)["labels"]]))
    else:
        args += [exp.Literal.number(dict(typed)[name]) for name in ("low", "high")]
    sql = ", ".join(a.sql("duckdb") for a in args)
    for name, value in given:
        literal = exp.Array(expressions=[exp.Literal.string(s) for s in value]) \
            if name == "stop" else exp.convert(value)
        sql += f", {name} => {literal.sql('duckdb')}"
    call = sqlglot.parse_one(f"SELECT {function}({sql})", read="helium").expressions[0]
    return bind_arguments(call).options


def typed_key(function: str, prompt: str, given: dict[str, Any], bound: dict[Any, Any],
              **typed: Any) -> tuple[str, Any, tuple[tuple[str, Any], ...]]:
    """The memo key of a typed call: the prompt after the format instruction (what connect()
    sends for the same rendered template), the system message, and the bound options
    (``bound`` remembers the options of each distinct set of arguments)."""
    fixed = tuple((k, tuple(v) if isinstance(v, list) else v) for k, v in typed.items())
    ident = (function, tuple((k, v) for k, v in given.items() if v is not None), fixed)
    if ident not in bound:
        bound[ident] = _typed_options(*ident)
    options = bound[ident]
    return instruction(dict(options)) + prompt, given["system"], options


def _typed_value(completion: Any, key: tuple[str, Any, tuple[tuple[str, Any], ...]]) -> Any:
    options = dict(key[2])
    try:
        return decode_json(parse_output_type(options["returns"]), completion.text)
    except (ValueError, TypeError) as exc:  # only a server that ignored the schema gets here
        raise ExecutionError(f"the answer {completion.text!r} to the prompt {key[0][-80:]!r} is "
                             f"not a {options['returns']} ({exc})") from None



__all__ = ["FILTER_CHOICES", "LLMFunctions", "register", "typed_key"]
