"""Build the logical plan of one statement: every LLM call becomes an ``LlmNode``.

Calls are planned innermost first (CTEs in order, subqueries before the query that reads them;
in one SELECT: FROM, WHERE, GROUP BY, HAVING, ORDER BY, then the SELECT list). Each call's input
is a DuckDB query over the same FROM/JOINs with the WHERE conjuncts that are already free of
unplanned calls, so a SELECT-list call only sees rows that passed an ``llm_filter``. The call
is then replaced by ``__helium_<id>(<prompt>)``; a later call's input reads that result.

Planning creates nothing on the connection: later fragments bind against typed stand-ins for
the answers of earlier calls (:mod:`heliumsql.plan.stand_ins`).

>>> import duckdb, sqlglot, heliumsql.grammar
>>> con = duckdb.connect()
>>> _ = con.sql("CREATE TABLE people AS SELECT 'Ada' AS name")
>>> plan = build_plan(sqlglot.parse_one("SELECT llm('Hi {name}') AS hi FROM people",
...                                     read="helium"), Catalog(con))
>>> plan.statement.sql("duckdb")
"SELECT __HELIUM_1(CONCAT('Hi ', COALESCE(CAST(name AS TEXT), ''))) AS hi FROM people"
>>> con.sql("SELECT count(*) FROM duckdb_functions() WHERE function_name LIKE '__helium%'").fetchall()
[(0,)]
"""

from __future__ import annotations

from sqlglot import exp

from heliumsql.binder import (Catalog, Scope, check_names, referenced_names, render_prompt,
                              unknown_column_error)
from heliumsql.errors import PlanError
from heliumsql.field_order import order_fields
from heliumsql.grammar.dialect import display_sql
from heliumsql.grammar.expressions import LlmFunc, TableArg
from heliumsql.grammar.functions import CallArguments, bind_arguments
from heliumsql.output_types import parse_output_type
from heliumsql.plan.join_candidates import with_texts
from heliumsql.plan.join_classify import pair_key
from heliumsql.plan.llm_join import CANDIDATES, CLASSIFY, NESTED_LOOP, join_candidates
from heliumsql.plan.names import INPUT_ALIAS, PROMPT_COLUMN, dependencies, source_marker
from heliumsql.plan.nodes import EMBEDDING_KINDS, LlmCall, LlmNode, LogicalPlan
from heliumsql.plan.paused_gc import paused_gc
from heliumsql.plan.search import search_input
from heliumsql.scopes import (
    between,
    conjuncts,
    has_llm,
    postorder,
    prune_ctes,
    read_ctes,
    scope_of,
    visible,
    visible_ctes,
)

_CONDITIONAL = (exp.Case, exp.If, exp.Lambda)
_CLAUSE_RANK = {"from_": 0, "joins": 0, "laterals": 0, "where": 1, "group": 2, "having": 3,
                "qualify": 3, "order": 4, "expressions": 5}


def _name_llm_columns(tree: exp.Expr) -> None:
    """Alias unaliased SELECT-list expressions holding LLM calls with their own text, so the
    user sees ``llm('...')`` as the column name rather than the internal UDF call."""
    for select in tree.find_all(exp.Select):
        for projection in select.expressions:
            if not isinstance(projection, exp.Alias) and has_llm(projection):
                name = display_sql(projection)
                projection.replace(exp.alias_(projection.copy(), name, quoted=True))


def _name_subqueries(tree: exp.Expr) -> None:
    """Give each unaliased FROM/JOIN subquery (or VALUES list) the name DuckDB gives it
    (``unnamed_subquery``, ``unnamed_subquery2``, ... per SELECT, in FROM order), so a call's
    scope, its input query and the optimizer's rules can all name its columns, and a user's
    ``unnamed_subquery.col`` still means the same source.

    >>> import sqlglot, heliumsql.grammar
    >>> q = sqlglot.parse_one("SELECT t FROM (SELECT 1 AS t)", read="helium")
    >>> _name_subqueries(q); q.sql("duckdb")
    'SELECT t FROM (SELECT 1 AS t) AS unnamed_subquery'
    """
    for select in tree.find_all(exp.Select):
        from_ = select.args.get("from_")
        if from_ is None:
            continue
        sources = [from_.this] + [j.this for j in select.args.get("joins") or []]
        taken = {s.alias_or_name.lower() for s in sources if s.alias_or_name}
        count = 0
        for source in sources:
            if not isinstance(source, (exp.Subquery, exp.Values)) or source.alias_or_name:
                continue
            count += 1
            name = "unnamed_subquery" if count == 1 else f"unnamed_subquery{count}"
            while name.lower() in taken:  # only when a user alias already took DuckDB's name
                count += 1
                name = f"unnamed_subquery{count}"
            taken.add(name)
            source.set("alias", exp.TableAlias(this=exp.to_identifier(name)))


def _without_calls(scope: exp.Select) -> exp.Select:
    """``scope`` (a copy) with every unplanned call TRUE: DuckDB binds its FROM and JOINs, so
    a call in an ON clause can name the columns of both sides."""
    return scope.copy().transform(lambda e: exp.true() if isinstance(e, LlmFunc) else e)


class Planner:
    """Plans one statement; ``catalog`` binds fragments (and learns a stand-in per node)."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self.nodes: list[LlmNode] = []
        self._cte_sql: dict[int, str] = {}  # id of a CTE node -> its SQL (see _bind_together)

    def plan(self, statement: exp.Expr) -> LogicalPlan:
        tree = statement.copy()
        _name_subqueries(tree)
        _name_llm_columns(tree)
        calls = list(tree.find_all(LlmFunc))
        texts = {id(c): display_sql(c) for c in calls}
        post = postorder(tree)

        def key(call: exp.Expr) -> tuple[int, int, int]:
            scope, clause = scope_of(call)
            return (post[id(scope)] if scope is not None else len(post),
                    _CLAUSE_RANK.get(clause, 6), post[id(call)])

        for call in sorted(calls, key=key):
            self._plan_call(call, texts[id(call)])
        return LogicalPlan(tuple(self.nodes), tree, self._output_columns(tree),
                           stand_ins=self.catalog.stand_ins)

    def _output_columns(self, tree: exp.Expr) -> tuple[str, ...]:
        query = tree if isinstance(tree, exp.Query) else None
        if query is None:
            return ()
        return self.catalog.columns_or_raise(query, "cannot bind the query")

    def _plan_call(self, call: LlmFunc, text: str) -> None:
        args = bind_arguments(call)
        spec = args.function
        node_id = len(self.nodes) + 1
        if spec.kind == "table":
            return self._plan_table(call, args, text, node_id)
        if spec.kind == "search":
            return self._plan_search(call, args, text, node_id)
        if isinstance(call.parent, exp.Table):
            raise PlanError(f"{spec.name}() returns a value, not a table; use llm_map(TABLE t, "
                            "'template') in FROM")
        if isinstance(call.parent, exp.Window):
            raise PlanError(f"{spec.name}() cannot be used as a window function (OVER ...)")
        scope, clause = scope_of(call)
        in_aggregate = between(call, scope, (exp.AggFunc, exp.Window))
        aggregate = spec.kind == "aggregate"
        reason = ""
        if scope is None:
            reason = "not inside a SELECT"
        elif clause in ("joins", "laterals"):
            reason = "in a JOIN condition"
        elif between(call, scope, _CONDITIONAL):
            reason = "in a conditional branch"
        prompt = render_prompt(args, aggregate=aggregate)
        fragment, join = None, None
        if scope is not None:
            local = None
            if not reason:
                local, fragment = self._bind_together(scope, clause, prompt, aggregate, in_aggregate)
            if local is None:
                local = self.catalog.scope(_without_calls(scope) if clause == "joins" else scope,
                                           visible_ctes(scope))
            if local is None:
                reason = reason or "its FROM clause cannot be bound on its own"
            elif not self._resolve(call, args, scope, local):
                reason = reason or "correlated with an outer query"
            elif (clause == "joins" and spec.kind not in EMBEDDING_KINDS
                  and not between(call, scope, _CONDITIONAL)):  # an embedding is no predicate
                planned = join_candidates(call, scope, prompt, visible_ctes(scope), local.sources,
                                          lambda q: self.catalog.columns(q) is not None,
                                          args.strategy, args.k)
                if planned is not None:
                    (fragment, join), reason = planned, ""
                    if join.strategy == CLASSIFY:  # the statement looks pairs up by their key
                        prompt = pair_key(args, join.right, local.sources)
                        fragment.set("expressions", [exp.alias_(prompt.copy(), "prompt")])
                    elif join.strategy == CANDIDATES:  # the operator ranks pairs by these
                        fragment = with_texts(fragment, args, join.left, join.right,
                                              local.sources)
        if args.strategy != NESTED_LOOP and join is None:
            raise PlanError(f"{spec.name}(): strategy => {args.strategy!r} applies to a call in "
                            "the ON clause of an INNER, LEFT, RIGHT or FULL JOIN that reads both "
                            "sides; drop strategy => here")
        if reason:
            fragment = None
        elif fragment is None:
            fragment = self._fragment(scope, clause, prompt, visible_ctes(scope), aggregate,
                                      in_aggregate)
            if self.catalog.columns(fragment) is None:
                fragment, reason = None, "its input cannot be bound on its own"
        declared: tuple[str, ...] = ()
        if args.reorder and fragment is not None:  # the user's choice; see field_order
            args, prompt, fragment, declared = order_fields(
                args, prompt, fragment, self.catalog.con, lambda e: bool(dependencies(e)))
        returns = args.returns
        if spec.kind == "embed":
            returns = f"FLOAT[{self.catalog.embedding_dimension(args.option('model'))}]"
        node = LlmNode(node_id, self._call(args, text, prompt, returns), fragment,
                       dependencies(fragment), reason=reason, declared_fields=declared, join=join)
        self.catalog.stand_ins = self.catalog.stand_ins.with_udf(node_id, returns)
        call.replace(exp.Anonymous(this=node.udf_name, expressions=[prompt.copy()]))
        self.nodes.append(node)

    def _resolve(self, call: LlmFunc, args: CallArguments, scope: exp.Select, local: Scope) -> bool:
        """Check every placeholder and context column; False if one only resolves in an outer
        query (correlated), BindError if it resolves nowhere."""
        correlated = False
        for name, in_template in referenced_names(args):
            if local.has(name):
                continue
            outer = scope.parent
            found = False
            while outer is not None and not found:
                if isinstance(outer, exp.Select):
                    s = self.catalog.scope(outer, visible_ctes(outer))
                    found = s is not None and s.has(name)
                outer = outer.parent
            if not found:
                raise unknown_column_error(name, args.function.name, local, in_template)
            correlated = True
        return not correlated

    def _fragment(self, scope: exp.Select, clause: str, prompt: exp.Expr, with_: exp.With | None,
                  aggregate: bool, in_aggregate: bool) -> exp.Select | None:
        q = exp.Select(expressions=[exp.alias_(prompt.copy(), "prompt")])
        for key in ("from_", "joins"):
            value = scope.args.get(key)
            if value:
                q.set(key, [v.copy() for v in value] if isinstance(value, list) else value.copy())
        where = scope.args.get("where")
        if where is not None:
            keep = [c.copy() for c in conjuncts(where.this) if not has_llm(c)]
            if keep:
                q.where(*keep, copy=False)
        grouped = scope.args.get("group") is not None
        if aggregate or (grouped and not in_aggregate and clause in ("expressions", "having", "order")):
            if grouped:
                q.set("group", scope.args["group"].copy())
            having = scope.args.get("having")
            if having is not None and clause != "having":
                keep = [c.copy() for c in conjuncts(having.this) if not has_llm(c)]
                if keep:
                    q.having(*keep, copy=False)
        if with_ is not None:
            q.set("with_", with_)  # the caller's fresh copy (visible_ctes)
            prune_ctes(q)
        # LIMIT is not copied here: with the optimizer off every row is computed and the final
        # query cuts; push_down_limits narrows the input when the optimizer is on.
        return q

    def _bind_together(self, scope: exp.Select, clause: str, prompt: exp.Expr, aggregate: bool,
                       in_aggregate: bool) -> tuple[Scope | None, exp.Select | None]:
        """The call's input and the columns of each FROM/JOIN source, from one DuckDB bind
        (``SELECT prompt, 0 AS marker0, a.*, 0 AS marker1, b.* ...``): (None, None) when that
        does not bind or cannot be asked (grouped input), and the caller binds step by step.
        A visible CTE is final (its own calls are planned first), so its SQL text is made once
        per statement rather than once per call that reads it."""
        q = self._fragment(scope, clause, prompt, None, aggregate, in_aggregate)
        from_ = scope.args.get("from_")
        if from_ is not None and (aggregate or q.args.get("group") is not None):
            return None, None
        ctes, recursive = visible(scope)
        read = read_ctes(ctes, q)
        sources = [from_.this] + [j.this for j in scope.args.get("joins") or []] if from_ else []
        aliases = [source.alias_or_name for source in sources]
        if not all(aliases):
            return None, None
        projections = list(q.expressions)
        probe = list(projections)
        for i, alias in enumerate(aliases):
            probe += [exp.alias_(exp.Literal.number(0), source_marker(i)),
                      exp.Column(this=exp.Star(), table=exp.to_identifier(alias))]
        q.set("expressions", probe)
        texts = [self._cte_sql.get(id(c)) or self._cte_sql.setdefault(id(c), self.catalog.sql(c))
                 for c in read]
        prefix = f"WITH {'RECURSIVE ' if recursive else ''}{', '.join(texts)} " if read else ""
        columns = self.catalog.columns_of_sql(prefix + self.catalog.sql(q))
        q.set("expressions", projections)
        if columns is None:
            return None, None
        if read:
            q.set("with_", exp.With(expressions=[c.copy() for c in read], recursive=recursive or None))
        markers = [columns.index(source_marker(i)) for i in range(len(aliases))] + [len(columns)]
        return Scope({alias.lower(): tuple(columns[markers[i] + 1:markers[i + 1]])
                      for i, alias in enumerate(aliases)}), q

    def _call(self, args: CallArguments, text: str, prompt: exp.Expr, returns: str | None = None
              ) -> LlmCall:
        spec = args.function
        return LlmCall(spec.name, spec.kind, returns or args.returns, text, prompt, args.template,
                       args.options,
                       tuple(name for name, _ in args.context))

    def _source(self, call: LlmFunc, args: CallArguments) -> exp.Query:
        """A table function's input relation as a query (with the CTEs it can see)."""
        name = args.function.name
        if not isinstance(call.parent, exp.Table):
            raise PlanError(f"{name}() is a table function; use it in FROM: "
                            f"SELECT * FROM {name}(TABLE t, '...')")
        source_arg = args.source
        if isinstance(source_arg, TableArg):
            source: exp.Query = exp.select("*").from_(source_arg.this.copy())
        else:
            source = source_arg.this.copy()
        scope, _ = scope_of(call)
        with_ = visible_ctes(scope if scope is not None else call)
        if with_ is not None and not source.args.get("with_"):
            source.set("with_", with_)
            prune_ctes(source)
        return source

    def _plan_search(self, call: LlmFunc, args: CallArguments, text: str, node_id: int) -> None:
        source = self._source(call, args)
        fragment, empty = search_input(source, args, self.catalog)
        node = LlmNode(node_id, self._call(args, text, args.prompt), fragment, dependencies(fragment))
        self.catalog.stand_ins = self.catalog.stand_ins.with_table(node_id, empty)
        call.replace(exp.to_identifier(node.table_name))
        self.nodes.append(node)

    def _plan_table(self, call: LlmFunc, args: CallArguments, text: str, node_id: int) -> None:
        source = self._source(call, args)
        columns = self.catalog.columns_or_raise(source, "cannot bind the input of llm_map()")
        local = Scope({"": columns})
        check_names(args, local, qualify=False)
        output, n = args.option("as"), args.option("n")
        answer = parse_output_type(args.returns if args.returns != "TABLE" else "VARCHAR")
        # A STRUCT answer becomes one column per field (named by the fields, not ``as``).
        outputs = ([(name, f.sql) for name, f in answer.fields] if answer.kind == "struct"
                   else [(output, answer.sql)])
        added = [name for name, _ in outputs] + (["sample"] if n > 1 else [])
        clash = next((c for c in columns if c.lower() in (a.lower() for a in added)), None)
        if clash:
            raise PlanError(f"llm_map(): the input already has a column {clash!r}; "
                            "name the output column with as => 'other_name'"
                            + (" (or rename the STRUCT field)" if answer.kind == "struct" else ""))
        prompt = render_prompt(args, qualify=False)
        inner = exp.Subquery(this=source, alias=exp.TableAlias(this=exp.to_identifier(INPUT_ALIAS)))
        fragment = exp.select("*", exp.alias_(prompt.copy(), PROMPT_COLUMN)).from_(inner)
        added_sql = [exp.alias_(exp.cast(exp.null(), exp.DataType.build(sql, dialect="duckdb")),
                                name, quoted=True) for name, sql in outputs]
        if n > 1:
            added_sql.append(exp.alias_(exp.cast(exp.null(), "INTEGER"), "sample"))
        empty = (f"SELECT *, {', '.join(a.sql('duckdb') for a in added_sql)} "
                 f"FROM ({self.catalog.sql(source)}) LIMIT 0")
        node = LlmNode(node_id, self._call(args, text, prompt), fragment, dependencies(fragment),
                       output=output, num_samples=n)
        self.catalog.stand_ins = self.catalog.stand_ins.with_table(node_id, empty)
        call.replace(exp.to_identifier(node.table_name))
        self.nodes.append(node)


def build_plan(statement: exp.Expr, catalog: Catalog) -> LogicalPlan:
    """Plan ``statement`` (a parsed ``helium`` statement); see the module docstring."""
    with paused_gc():
        return Planner(catalog).plan(statement)
