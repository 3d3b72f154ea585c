"""Planning ``llm_search(TABLE docs, 'query text', column => 'v', k => 10)``.

The node's input is the searched relation itself (it may read earlier LLM nodes, e.g. vectors
``llm_embed`` makes in the same query); its output table is that relation's top ``k`` rows by
cosine similarity of ``column`` to the query text's embedding, with a ``score`` column
(FLOAT, highest first). The vector column must hold the embedding model's vectors: a
fixed-size array of the model's dimension, checked here, before anything runs.

>>> import duckdb, sqlglot, heliumsql.grammar
>>> from heliumsql.binder import Catalog
>>> from heliumsql.grammar.functions import bind_arguments
>>> con = duckdb.connect()
>>> _ = con.sql("CREATE TABLE docs AS SELECT 1 AS id, [1, 0]::FLOAT[2] AS v")
>>> call = sqlglot.parse_one("SELECT * FROM llm_search(TABLE docs, 'q', column => 'v')",
...                          read="helium").find(heliumsql.grammar.LlmFunc)
>>> _, empty = search_input(sqlglot.parse_one("SELECT * FROM docs"), bind_arguments(call),
...                         Catalog(con, embedding_dimension=lambda model: 2))
>>> con.sql(empty).columns
['id', 'v', 'score']
"""

from __future__ import annotations

import re

from sqlglot import exp

from heliumsql.binder import Catalog
from heliumsql.errors import BindError, PlanError
from heliumsql.grammar.functions import CallArguments

SCORE_COLUMN = "score"
_ARRAY = re.compile(r"^(FLOAT|DOUBLE|DECIMAL\(\d+,\d+\)|INTEGER|BIGINT|SMALLINT|TINYINT)\[(\d+)\]$")


def search_input(source: exp.Query, args: CallArguments, catalog: Catalog
                 ) -> tuple[exp.Query, str]:
    """(the node's input, SQL of an empty relation with the output's columns); BindError when
    the vector column is missing or does not hold the model's vectors."""
    catalog.columns_or_raise(source, "cannot bind the input of llm_search()")
    relation = catalog.con.sql(catalog.sql(source))
    columns = [c.lower() for c in relation.columns]
    wanted = args.option("column")
    if wanted.lower() not in columns:
        raise BindError(f"llm_search(): column => {wanted!r} is not a column of its input; "
                        f"columns: {', '.join(relation.columns)}")
    if SCORE_COLUMN in columns:
        raise PlanError(f"llm_search(): its input already has a column {SCORE_COLUMN!r}, the name "
                        "of the similarity it adds; rename that column in a subquery")
    dimension = catalog.embedding_dimension(args.option("model"))
    kind = str(relation.types[columns.index(wanted.lower())])
    match = _ARRAY.match(kind)
    if match is None or int(match.group(2)) != dimension:
        raise BindError(f"llm_search(): column {wanted} is {kind}, but the embedding model makes "
                        f"FLOAT[{dimension}] vectors; search a column made with llm_embed() by "
                        "the same model")
    empty = (f"SELECT *, CAST(NULL AS FLOAT) AS {SCORE_COLUMN} FROM ({catalog.sql(source)}) "
             "LIMIT 0")
    return source, empty

