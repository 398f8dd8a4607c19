"""Read pipe SQL back into SQLite SQL with sqlglot (read="sqlite", write="sqlite"), prefixes included.

One parse yields the SQLite text of the whole query and of every prefix of its top-level pipe:
the parser is sqlglot's own SQLite parser, which builds the query operator by operator, and the
subclass writes the query out after each top-level operator. Three shortcuts keep this to about
the cost of one plain `sqlglot.transpile`: the CTEs sqlglot builds are made from nodes rather than
from parsed strings, the query is not deep-copied at each `|> SELECT`, and each CTE, FROM, JOIN
and WHERE node is written once and reused by the later prefixes (none is changed once the next
operator starts).
A query that starts with WITH (`WITH t AS (...) FROM t |> ...`): sqlglot attaches the WITH to the
query only once the pipe is read, so its prefixes would name `t` without defining it; each prefix
gets the WITH written before it here.
What it writes is what sqlglot's plain transpile of the whole query and of each prefix gives
(except that after `FROM (subquery) AS t` sqlglot wraps a prefix in `SELECT * FROM (...)`, the same
rows): the tests check this on the pinned cases and the embedded benchmark.
"""

from __future__ import annotations

import sqlglot
from sqlglot import exp
from sqlglot.dialects.sqlite import SQLite
from sqlglot.tokens import TokenType

_DIALECT = SQLite()


class _Generator(SQLite.Generator):
    """SQLite's generator, writing each CTE, FROM, JOIN and WHERE node once per parse.

    The parser never changes such a node once the next operator starts: a later WHERE or JOIN
    sets a new node. The memo holds the node itself, so its id cannot be reused by another.
    """

    def __init__(self, **kwargs):
        super().__init__(dialect=_DIALECT, **kwargs)
        self._memo: dict[int, tuple[exp.Expr, str]] = {}

    def _once(self, expression: exp.Expr, write) -> str:
        hit = self._memo.get(id(expression))
        if hit is not None and hit[0] is expression:
            return hit[1]
        text = write(expression)
        self._memo[id(expression)] = (expression, text)
        return text

    def cte_sql(self, expression: exp.CTE) -> str:
        return self._once(expression, super().cte_sql)

    def from_sql(self, expression: exp.From) -> str:
        return self._once(expression, super().from_sql)

    def join_sql(self, expression: exp.Join) -> str:
        return self._once(expression, super().join_sql)

    def where_sql(self, expression: exp.Where) -> str:
        return self._once(expression, super().where_sql)


class _PrefixParser(SQLite.Parser):
    """sqlglot's SQLite parser, recording the SQL of the query after each top-level pipe operator."""

    def reset(self):
        super().reset()
        self._pipe_depth = 0
        self._leading_with: str | None = None  # "WITH t AS (...)" when the statement starts with one
        self.prefixes: list[str] = []
        self.generator = _Generator()

    def _parse_with(self, skip_with_token: bool = False):
        at_start = self._index == 0 and not skip_with_token
        with_ = super()._parse_with(skip_with_token)
        if at_start and with_ is not None:
            self._leading_with = self._write(with_)
        return with_

    def _snapshot(self, query: exp.Expr) -> str:
        """The SQL of the query so far, with the statement's leading WITH when it has one."""
        text = self._write(query)
        if self._leading_with is None:
            return text
        if query.args.get("with_"):  # sqlglot's own CTEs (__tmpN) join the leading ones
            return f"{self._leading_with}, {text[len('WITH '):]}"
        return f"{self._leading_with} {text}"

    def _write(self, query: exp.Expr) -> str:
        # copy=False: SQLite's generator only rewrites DISTINCT ON, QUALIFY and semi/anti joins.
        return self.generator.generate(query, copy=False)

    def _build_pipe_cte(self, query, expressions, alias_cte=None):
        if alias_cte is not None:
            return super()._build_pipe_cte(query, expressions, alias_cte)
        # sqlglot's own, less the parse of the strings "__tmpN" (same tree).
        self._pipe_cte_counter += 1
        name = f"__tmp{self._pipe_cte_counter}"
        with_ = query.args.get("with_")
        ctes = with_.pop() if with_ else None
        new_select = exp.Select(expressions=list(expressions))
        new_select.set("from_", exp.From(this=exp.Table(this=exp.to_identifier(name))))
        cte = exp.CTE(this=query, alias=exp.TableAlias(this=exp.to_identifier(name)))
        if ctes is not None:
            ctes.append("expressions", cte)
        else:
            ctes = exp.With(expressions=[cte])
        new_select.set("with_", ctes)
        return new_select

    def _parse_pipe_syntax_select(self, query: exp.Select) -> exp.Select:
        select = self._parse_select(consume_pipe=False)
        if not select:
            return query
        # sqlglot's own with copy=False: the query before SELECT is not used again.
        return self._build_pipe_cte(query=query.select(*select.expressions, append=False, copy=False),
                                    expressions=[exp.Star()])

    def _parse_pipe_syntax_query(self, query: exp.Query) -> exp.Query | None:
        # The body of sqlglot 30.30's Parser._parse_pipe_syntax_query, plus the snapshots.
        top = self._pipe_depth == 0
        self._pipe_depth += 1
        try:
            if isinstance(query, exp.Subquery):
                query = exp.select("*").from_(query, copy=False)
            if not query.args.get("from_"):
                query = exp.select("*").from_(query.subquery(copy=False), copy=False)
            snapshots = [self._snapshot(query)] if top else []
            while self._match(TokenType.PIPE_GT):
                start_index = self._index
                start_text = self._curr.text.upper()
                parser = self.PIPE_SYNTAX_TRANSFORM_PARSERS.get(start_text)
                if not parser:
                    parsed_query = self._parse_pipe_syntax_set_operator(query)
                    parsed_query = parsed_query or self._parse_pipe_syntax_join(query)
                    if not parsed_query:
                        self._retreat(start_index)
                        self.raise_error(f"Unsupported pipe syntax operator: '{start_text}'.")
                        break
                    query = parsed_query
                else:
                    query = parser(self, query)
                if top and self._match(TokenType.PIPE_GT, advance=False):
                    snapshots.append(self._snapshot(query))
            if top:
                self.prefixes = snapshots  # the outermost pipe is the last one to finish
            return query
        finally:
            self._pipe_depth -= 1


def read_pipe(pipe_sql: str) -> tuple[str, list[str]]:
    """(the SQLite text of the whole pipe query, the SQLite text of each proper prefix).

    Prefix k (1-based) is the query up to and including its k-th top-level step, so a query of
    N steps has N - 1 proper prefixes. Raises sqlglot.errors.SqlglotError when it does not parse.
    """
    tokens = _DIALECT.tokenize(pipe_sql)
    parser = _PrefixParser(dialect=_DIALECT)
    trees = parser.parse(tokens, pipe_sql)
    if len(trees) != 1 or trees[0] is None:
        raise sqlglot.errors.ParseError(f"expected one statement, got {len(trees)}")
    return parser._write(trees[0]), list(parser.prefixes)


def transpile_pipe(pipe_sql: str) -> str:
    """Plain sqlglot: pipe SQL -> SQLite SQL, as any user would call it."""
    return sqlglot.transpile(pipe_sql, read="sqlite", write="sqlite")[0]
