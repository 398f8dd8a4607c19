"""AST helpers for the pipe rewrite: walking one query scope, finding aggregates and windows.

A scope is one SELECT's own expressions: a walk stops at nested queries (IN, EXISTS, scalar and
FROM subqueries), which are rewritten on their own.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

from sqlglot import exp
from sqlglot.dialects.sqlite import SQLite

NESTED = (exp.Query, exp.Subquery)
Step = tuple[str, str]  # (operator, pipe SQL text of the step)
PLAIN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")  # a name SQL needs no quotes for


class Unsupported(Exception):
    """The query uses a construct the rewrite does not handle; `construct` is a short code."""

    def __init__(self, construct: str, detail: str = ""):
        super().__init__(f"{construct}: {detail}" if detail else construct)
        self.construct = construct


def walk_scope(node: exp.Expr, prune: Callable[[exp.Expr], bool] | None = None) -> Iterator[exp.Expr]:
    """Pre-order walk of node that does not enter nested queries (node itself may be one).

    prune(n) -> True: yield n but do not walk below it.
    """
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        if current is not node and isinstance(current, NESTED):
            continue
        if prune is not None and prune(current):
            continue
        stack.extend(reversed(list(current.iter_expressions())))


def nested_queries(node: exp.Expr) -> list[exp.Expr]:
    """The outermost queries nested in node's scope (not node itself), in order of appearance."""
    found = []
    for n in walk_scope(node):
        if n is not node and isinstance(n, NESTED):
            while isinstance(n, exp.Subquery) and isinstance(n.this, NESTED):
                n = n.this
            found.append(n)
    return found


def is_aggregate(node: exp.Expr) -> bool:
    """An aggregate function call of this scope (not a window function; max(a, b) is Greatest).

    `COUNT(*) FILTER (WHERE ...)` is one aggregate: the FILTER node, not the call inside it.
    """
    if isinstance(node, exp.Filter):
        return _aggregate_call(node.this) and not isinstance(node.parent, exp.Window)
    return _aggregate_call(node) and not isinstance(node.parent, (exp.Window, exp.Filter))


# SQLite aggregates that sqlglot reads as plain (anonymous) function calls.
_ANONYMOUS_AGGREGATES = {"total"}


def _aggregate_call(node: exp.Expr) -> bool:
    return isinstance(node, exp.AggFunc) or (isinstance(node, exp.Anonymous)
                                             and node.name.lower() in _ANONYMOUS_AGGREGATES)


def aggregates(node: exp.Expr) -> list[exp.Expr]:
    """The outermost aggregate calls in node's scope, in order of appearance."""
    return [n for n in walk_scope(node, prune=lambda n: is_aggregate(n) or isinstance(n, exp.Window))
            if is_aggregate(n)]


def windows(node: exp.Expr) -> list[exp.Window]:
    return [n for n in walk_scope(node, prune=lambda n: isinstance(n, exp.Window)) if isinstance(n, exp.Window)]


def replace_in_scope(node: exp.Expr, replacement: Callable[[exp.Expr], exp.Expr | None]) -> exp.Expr:
    """A copy of node where each outermost scope node with a replacement is replaced by it."""
    root = node.copy()
    targets = []

    def prune(n):
        new = replacement(n)
        if new is not None:
            targets.append((n, new))
            return True
        return False

    for _ in walk_scope(root, prune=prune):
        pass
    for old, new in targets:
        if old is root:
            return new
        old.replace(new)
    return root


class _Generator(SQLite.Generator):
    """SQLite's generator, writing `x NOT IN (...)`, `x IS NOT NULL`, `x NOT LIKE y` and
    `x NOT BETWEEN a AND b` as people do (sqlglot writes `NOT x IN (...)`, which means the same)."""

    _NEGATED = {exp.In: "IN", exp.Is: "IS", exp.Like: "LIKE", exp.Between: "BETWEEN", exp.Glob: "GLOB"}

    def not_sql(self, expression: exp.Not) -> str:
        inner = expression.this
        word = self._NEGATED.get(type(inner))
        if word:
            left, text = self.sql(inner, "this"), self.sql(inner)
            prefix = f"{left} {word} "
            if text.startswith(prefix):
                negated = "IS NOT" if word == "IS" else f"NOT {word}"
                return f"{left} {negated} {text[len(prefix):]}"
        return super().not_sql(expression)


_GENERATOR = _Generator(dialect=SQLite())


def write(node: exp.Expr) -> str:
    """SQLite text of node, as node.sql(dialect="sqlite") writes it, without its per-call costs.

    No copy: the SQLite generator only rewrites DISTINCT ON, QUALIFY and semi/anti joins, which the
    rewrite rejects, so generating in place leaves the tree as it is (and saves a deep copy).
    """
    return _GENERATOR.generate(node, copy=False)


def key_of(node: exp.Expr) -> str:
    """A normalized text of an expression, to tell equal expressions apart from different ones."""
    return write(node).lower()


def same_column(a: exp.Column, b: exp.Column) -> bool:
    """Same column name, and the same table where both name one."""
    if a.name.lower() != b.name.lower():
        return False
    return not a.table or not b.table or a.table.lower() == b.table.lower()


def unalias(node: exp.Expr) -> exp.Expr:
    return node.this if isinstance(node, exp.Alias) else node


def output_name(item: exp.Expr) -> str | None:
    """The column name a select item produces, where it has a plain one."""
    if isinstance(item, exp.Alias):
        return item.alias
    if isinstance(item, exp.Column) and not isinstance(item.this, exp.Star):
        return item.name
    return None


def ident(name: str) -> str:
    """A name as SQL: quoted only when it must be."""
    if PLAIN.match(name):
        return name
    return write(exp.to_identifier(name, quoted=True))


def strip_table(node: exp.Expr) -> exp.Expr | None:
    """Column T1.x -> x: after SELECT, AGGREGATE or a set operation the table names are gone."""
    if isinstance(node, exp.Column) and node.table:
        return exp.Column(this=node.this.copy())
    return None


def plain_item(item: exp.Expr) -> exp.Expr:
    """`rn AS rn` -> `rn`."""
    if isinstance(item, exp.Alias) and isinstance(item.this, exp.Column) and item.this.name == item.alias:
        return item.this
    return item


def window_or_strip(node: exp.Expr, mapping: dict[str, str]) -> exp.Expr | None:
    if isinstance(node, exp.Window) and key_of(node) in mapping:
        return exp.column(mapping[key_of(node)], quoted=not PLAIN.match(mapping[key_of(node)]))
    return strip_table(node)
