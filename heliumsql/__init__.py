"""HeliumSQL: SQL in which LLM calls are query operators.

>>> import heliumsql                                                     # doctest: +SKIP
>>> con = heliumsql.connect(model="path/to/checkpoint")                  # doctest: +SKIP
>>> con.sql("SELECT llm('Say hi to {name}') FROM people").df()           # doctest: +SKIP
"""

from heliumsql.errors import (BindError, CancelledError, EngineError, ExecutionError, HeliumError,
                              ModelLoadError, ParseError, PlanError, PromptTooLongError)

__version__ = "0.1.0"


def connect(database: str = ":memory:", model=None, **options):  # noqa: ANN001, ANN201
    """Open a HeliumSQL connection (see :func:`heliumsql.connection.connect`)."""
    from heliumsql.connection import connect as _connect

    return _connect(database, model=model, **options)


def load_ipython_extension(ipython):  # noqa: ANN001, ANN201 - IPython's entry point
    """``%load_ext heliumsql`` registers the ``%hsql`` / ``%%hsql`` magics."""
    from heliumsql.magics import load_ipython_extension as _load

    _load(ipython)


__all__ = ["BindError", "CancelledError", "EngineError", "ExecutionError", "HeliumError",
           "ModelLoadError", "ParseError", "PlanError", "PromptTooLongError", "connect"]
