"""``cluster=`` / ``replicas=`` reach the Ray cluster backend from every entry point: connect,
the REPL's --cluster/--replicas, heliumsql.duckdb.register and %%hsql. The backend is replaced
by the suite's local engine behind a recorder (no Ray here: test_ray_cluster.py runs the real
one), so what is checked is the plumbing and that the answers come back."""

from __future__ import annotations

from typing import Any

import duckdb
import pytest

import heliumsql
import heliumsql.backends.ray_cluster as ray_cluster
import heliumsql.duckdb as hduck
from heliumsql.engine import Engine
from heliumsql.repl.cli import main

SQL = "SELECT llm('Say hi', max_tokens => 3) AS a"


class _Recorded:
    """Stands for a RayClusterBackend: answers with the local engine, remembers its options."""

    made: list[dict[str, Any]] = []

    def __init__(self, engine: Engine, model: Any, **options: Any) -> None:
        self._engine, self.closed = engine, False
        self.made.append(dict(options, model=model, backend=self))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._engine, name)

    def replica_stats(self) -> list[dict[str, int]]:
        return [dict(requests=0, alive=1)]

    def close(self) -> None:
        self.closed = True


@pytest.fixture
def made(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    _Recorded.made = []
    monkeypatch.setattr(ray_cluster, "RayClusterBackend",
                        lambda model, **kw: _Recorded(engine, model, **kw))
    return _Recorded.made


def test_connect_starts_the_replicas_and_closing_stops_them(made: list, model_path: Any,
                                                            engine: Engine) -> None:
    expected = heliumsql.connect(engine=engine, result_cache=None).sql(SQL).fetchall()
    con = heliumsql.connect(model=model_path, cluster="ray", replicas=3, num_cpus=0.5,
                            result_cache=None)
    assert not made  # nothing starts before the first LLM call
    assert con.sql(SQL).fetchall() == expected
    (options,) = made
    assert (options["replicas"], options["address"], options["num_cpus"]) == (3, None, 0.5)
    con.close()
    assert options["backend"].closed
    heliumsql.connect(model=model_path, cluster="ray://head:10001", result_cache=None).engine
    assert made[1]["address"] == "ray://head:10001" and made[1]["replicas"] == 2


def test_register_takes_the_cluster_options(made: list, model_path: Any) -> None:
    fns = hduck.register(duckdb.connect(), model=model_path, cluster="ray", replicas=4)
    assert isinstance(fns.engine, _Recorded) and made[0]["replicas"] == 4


def test_the_shell_takes_cluster_and_replicas(made: list, model_path: Any,
                                              capsys: pytest.CaptureFixture) -> None:
    status = main([":memory:", "-m", str(model_path), "--cluster", "ray", "--replicas", "3",
                   "--mode", "csv", "-c", SQL])
    assert status == 0 and made[0]["replicas"] == 3
    assert capsys.readouterr().out.startswith('"a"\n')  # the header, then the answer


def test_the_cell_magic_takes_cluster_and_replicas(made: list, model_path: Any,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from IPython.core.interactiveshell import InteractiveShell

    monkeypatch.setenv("HELIUMSQL_MODEL", str(model_path))
    shell = InteractiveShell.instance()
    try:
        shell.run_line_magic("load_ext", "heliumsql")
        result = shell.run_cell(f"%%hsql --cluster ray --replicas 2\n{SQL}")
        assert result.error_in_exec is None and len(result.result) == 1
        assert made[0]["replicas"] == 2
    finally:
        InteractiveShell.clear_instance()


def test_a_cluster_for_a_remote_model_is_refused_where_it_is_given() -> None:
    # Silently dropped before: a remote model never reached the cluster backend.
    with pytest.raises(heliumsql.ModelLoadError, match="served remotely; cluster= starts local"):
        heliumsql.connect(model="openai:m", base_url="http://127.0.0.1:9/v1", cluster="ray")
    with pytest.raises(heliumsql.ModelLoadError, match="served remotely"):
        hduck.register(duckdb.connect(), model="openai:m", cluster="ray", replicas=2)


def test_an_unknown_engine_option_is_named_before_any_replica_starts(model_path: Any) -> None:
    from heliumsql.backends import cluster_backend

    with pytest.raises(heliumsql.EngineError, match=r"unknown engine option\(s\) \['kv_blocks'\]"):
        cluster_backend(model_path, "ray", 2, kv_blocks=8)
