"""Standard SQLite SELECT -> pipe SQL (`FROM t |> WHERE ... |> AGGREGATE ... |> SELECT ...`).

sqlglot reads pipe syntax but cannot write it; this module writes it, from sqlglot's AST of the
standard query. The form, one top-level operator per line:

    FROM <table or subquery> [AS alias]
    |> JOIN ... ON ... | |> LEFT JOIN ... | |> CROSS JOIN ...   (each join; comma joins are CROSS JOIN)
    |> WHERE <condition>
    |> EXTEND <window function> AS name                          (window functions)
    |> AGGREGATE <aggregate> AS name [ASC|DESC], ... GROUP BY <keys>   (aggregation; an ORDER BY of
                                                    aggregates only becomes their ASC/DESC suffixes)
    |> WHERE <condition on the aggregate's output>               (HAVING)
    |> SELECT ... |> DISTINCT                                    (SELECT DISTINCT)
    |> ORDER BY ... |> LIMIT n [OFFSET m]
    |> SELECT <columns>                                          (dropped when it repeats the input)
    |> UNION|INTERSECT|EXCEPT DISTINCT|ALL (<standard query>)   (set operations)

`SELECT name, max(age) FROM t` (SQLite's bare column next to one min/max) becomes the row holding
the extreme: `|> WHERE age IS NOT NULL |> ORDER BY age DESC |> LIMIT 1 |> SELECT name, age AS max_age`.
Subqueries (IN, NOT IN, EXISTS, scalar, in FROM) are rewritten the same way on one line where they
can be, else kept as standard SQL. Only what sqlglot 30.30 reads correctly is written: no
`|> SELECT DISTINCT` (its DISTINCT is dropped), no operator after LIMIT or DISTINCT other than a final
SELECT or ORDER BY/LIMIT, no table-qualified names after SELECT/AGGREGATE/EXTEND, ORDER BY an
alias rather than an aggregate, a set operation's right side in standard SQL. String literals are
written in single quotes: a double-quoted word that names no column (Spider's "France") is a string.

`to_pipe` raises `Unsupported` (with a short `construct` code) for what it does not rewrite, and
sqlglot's ParseError for SQL it cannot read.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlglot
from sqlglot import exp

from t2s_pipeline.sql.pipe_read import read_pipe, transpile_pipe
from t2s_pipeline.sql.pipe_rewrite import Rewriter
from t2s_pipeline.sql.pipe_scope import Unsupported

__all__ = ["PipeQuery", "Unsupported", "to_pipe", "parse_sql", "split_pipe", "read_pipe", "transpile_pipe",
           "top_level_ordered"]


@dataclass(frozen=True)
class PipeQuery:
    steps: tuple[str, ...]  # "FROM ...", then "|> ..." per operator
    ops: tuple[str, ...]  # the operator of each step: FROM, JOIN, WHERE, AGGREGATE, SELECT, ...
    flags: frozenset[str] = frozenset()  # "bare_column", "pipe_subquery": where alternatives exist

    @property
    def sql(self) -> str:
        return "\n".join(self.steps)

    def prefix(self, k: int) -> str:
        """The query made of its first k steps."""
        return "\n".join(self.steps[:k])


def parse_sql(sql: str) -> exp.Expr:
    """sqlglot's tree of one SQLite statement (raises sqlglot.errors.ParseError)."""
    tree = sqlglot.parse_one(sql, read="sqlite")
    if tree is None:
        raise sqlglot.errors.ParseError("empty statement")
    return tree


def to_pipe(sql: str | exp.Expr, known_columns: set[str] | None = None, pipe_subqueries: bool = True,
            bare: str = "group") -> PipeQuery:
    """Rewrite one standard SELECT (text or sqlglot tree) into pipe SQL.

    known_columns: the database's column names (any case). With them, a double-quoted word that is
    not one of them becomes a string literal, as SQLite reads it; without them, a quoted word that
    is compared with something is taken as a string.
    pipe_subqueries: rewrite nested queries into pipe form too (else they stay standard SQL).
    bare: where a selected column that is neither grouped nor aggregated goes: "group" adds it to
    GROUP BY, "wrap" aggregates it as MAX(col) AS col (see pipe_aggregate.py).
    """
    if bare not in ("group", "wrap"):
        raise ValueError(f"bare must be 'group' or 'wrap', got {bare!r}")
    tree = parse_sql(sql) if isinstance(sql, str) else sql
    rewriter = Rewriter(known_columns, pipe_subqueries, bare)
    steps = rewriter.query(tree)
    return PipeQuery(tuple(text for _, text in steps), tuple(op for op, _ in steps), frozenset(rewriter.flags))


def top_level_ordered(tree: exp.Expr) -> bool:
    """Whether the outermost query orders its rows (then row order is part of the answer)."""
    return isinstance(tree, (exp.Select, exp.Union, exp.Intersect, exp.Except)) and tree.args.get("order") is not None


def split_pipe(pipe_sql: str) -> list[str]:
    """The top-level steps of a pipe query: split before each `|>` outside parentheses and quotes."""
    steps, depth, quote, start, i = [], 0, None, 0, 0
    while i < len(pipe_sql):
        ch = pipe_sql[i]
        if quote:
            if ch == quote:
                quote = None
        elif ch in "'\"`[":
            quote = "]" if ch == "[" else ch
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "|" and depth == 0 and pipe_sql.startswith("|>", i):
            steps.append(pipe_sql[start:i].strip())
            start = i
        i += 1
    steps.append(pipe_sql[start:].strip())
    return [s for s in steps if s]
