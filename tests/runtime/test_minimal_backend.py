"""A backend that implements only the base engine contract (no prefix cache: no pins, no
cache stamps, no eviction hook, plain-iterator streams) runs every kind of query with the
same rows as the local engine. This is what a remote server or any other backend gets."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from runtime_helpers import WORKFLOW

from heliumsql.engine import Engine
from heliumsql.engine.interface import EngineBackend, PrefixCachingEngine
from heliumsql.engine.request import Completion


class MinimalBackend:
    """Only the base protocol, answering through a real engine it keeps private."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self.tokenizer, self.max_context = engine.tokenizer, engine.max_context
        self.fingerprint = engine.fingerprint
        self.num_streams = 0

    def generate(self, prompts: Sequence[Any], params: Any) -> list[Completion]:
        return self._engine.generate(prompts, params)

    def stream(self, prompts: Sequence[Any], params: Any) -> Iterator[Completion]:
        self.num_streams += 1
        return iter(self._engine.generate(prompts, params))  # a plain iterator: no num_ready

    def cancel(self, stream: Any) -> None:
        pass  # everything was answered when the stream was made

    def stats(self) -> dict[str, int]:
        return {}


QUERIES = [
    "SELECT id, llm('Say {name}', max_tokens => 3) AS a FROM items ORDER BY id",
    "SELECT id FROM items WHERE llm_filter('Red? {descr}') AND llm_filter('Long? {name}') ORDER BY id",
    "SELECT id FROM items WHERE llm_filter('Keep? {name}') ORDER BY id LIMIT 3",
    "SELECT name, llm_agg('Sum up: {descr}', max_tokens => 3) AS s FROM items GROUP BY name ORDER BY name",
    "SELECT id, a FROM llm_map(TABLE items, 'Say {name}', as => 'a', max_tokens => 3) ORDER BY id",
    "SELECT a.id FROM items a JOIN items b ON a.id = b.id AND llm_filter('Same? {a.name} {b.name}') ORDER BY 1",
    "SELECT id, CASE WHEN id > 5 THEN llm('Hi {name}', max_tokens => 2) END AS c FROM items ORDER BY id",
    WORKFLOW,
]


@pytest.mark.parametrize("sql", QUERIES, ids=[f"q{i}" for i in range(len(QUERIES))])
def test_base_protocol_backend_gives_the_same_rows(shared_engine, connect, sql: str) -> None:
    backend = MinimalBackend(shared_engine)
    assert isinstance(backend, EngineBackend) and not isinstance(backend, PrefixCachingEngine)
    assert isinstance(shared_engine, PrefixCachingEngine)
    expected = connect(shared_engine).sql(sql).fetchall()
    assert connect(backend).sql(sql).fetchall() == expected
    assert backend.num_streams > 0  # it really answered through the minimal backend
