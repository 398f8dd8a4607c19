"""The aggregation tail of the pipe rewrite: AGGREGATE ... GROUP BY, HAVING, ORDER BY, final SELECT.

`SELECT k, f(x) FROM t GROUP BY k HAVING g(y) > 1 ORDER BY h(z)` becomes
`FROM t |> AGGREGATE f(x) AS f_x, g(y) AS g_y, h(z) AS h_z GROUP BY k |> WHERE g_y > 1
 |> ORDER BY h_z |> SELECT k, f_x`: every AGGREGATE item is an aliased aggregate, aggregates used
only in HAVING or ORDER BY are extra items the final SELECT drops, and the final SELECT is left out
when it would repeat AGGREGATE's output (group keys first, then aggregates). A plain column selected
next to aggregates that is not a group key (a "bare" column) goes into GROUP BY (right when it
depends on the key, as in Spider's `SELECT T1.name ... GROUP BY T1.id`), or with bare="wrap" is
wrapped as `MAX(col) AS col` (the same groups as the gold, so the same plan and tie order);
execution decides which held. With no GROUP BY, a bare column next to one min()/max() is SQLite's
"row holding the extreme" and is written as that row.

Window functions over the groups (`RANK() OVER (ORDER BY COUNT(*) DESC)`, `SUM(COUNT(*)) OVER ()`)
come after the aggregation, as in GoogleSQL: the aggregates they read become AGGREGATE items, and
`|> EXTEND <window over those names> AS name` follows AGGREGATE (and HAVING's WHERE), before ORDER BY.
"""

from __future__ import annotations

from sqlglot import exp

from t2s_pipeline.sql.pipe_scope import (
    PLAIN, Step, Unsupported, aggregates, ident, is_aggregate, key_of, nested_queries, plain_item, replace_in_scope,
    same_column, walk_scope, window_or_strip, windows,
)


class _Keys:
    """Group keys and aggregate aliases, with unique output names."""

    def __init__(self):
        self.keys: list[dict] = []  # {"expr", "key", "name", "aliased"}
        self.aggs: dict[str, str] = {}  # normalized aggregate text -> alias
        self.agg_nodes: list[tuple[exp.Expr, str]] = []
        self.names: set[str] = set()
        self.wrapped: list[tuple[exp.Column, str]] = []  # bare columns wrapped in MAX(), and their names

    def unique(self, base: str) -> str:
        name, n = base, 1
        while name.lower() in self.names:
            n += 1
            name = f"{base}_{n}"
        self.names.add(name.lower())
        return name

    def add_key(self, expr: exp.Expr) -> None:
        if self.match(expr) is not None:
            return
        is_column = isinstance(expr, exp.Column)
        name = self.unique(expr.name if is_column else f"group_{len(self.keys) + 1}")
        self.keys.append({"expr": expr, "key": key_of(expr), "name": name,
                          "aliased": not (is_column and name == expr.name)})

    def match(self, node: exp.Expr) -> dict | None:
        """The group key node stands for, if any."""
        if isinstance(node, exp.Column):
            for key in self.keys:
                if isinstance(key["expr"], exp.Column) and same_column(node, key["expr"]):
                    return key
            return None
        candidates = [k for k in self.keys if type(k["expr"]) is type(node)]
        if candidates:
            text = key_of(node)
            for key in candidates:
                if key["key"] == text:
                    return key
        return None

    def add_aggregate(self, node: exp.Expr, alias: str | None) -> None:
        text = key_of(node)
        if text in self.aggs:
            return
        name = self.unique(alias or _aggregate_name(node))
        self.aggs[text] = name
        self.agg_nodes.append((node, name))

    def output_names(self) -> list[str]:
        return [k["name"] for k in self.keys] + [name for _, name in self.agg_nodes]

    def post(self, expr: exp.Expr) -> exp.Expr:
        """expr as seen after AGGREGATE: aggregates and group keys replaced by their output names."""
        def replacement(node):
            if is_aggregate(node):
                return _column(self.aggs[key_of(node)])
            key = self.match(node)
            if key is not None:
                return _column(key["name"])
            if isinstance(node, exp.Column):
                for column, name in self.wrapped:
                    if same_column(node, column):
                        return _column(name)
            return None

        return replace_in_scope(expr, replacement)


def aggregate_steps(rw, node: exp.Select, items: list, group: list, having, order: list) -> list[Step]:
    sources = items + ([having] if having is not None else []) + [o.this for o in order]
    if having is not None and windows(having):
        raise Unsupported("window_in_having")
    has_windows = any(windows(e) for e in sources)
    if any(isinstance(i, exp.Star) or (isinstance(i, exp.Column) and isinstance(i.this, exp.Star)) for i in items):
        raise Unsupported("star_with_aggregate")
    names = _Keys()
    alias_of = {key_of(i.this): i.alias for i in items if isinstance(i, exp.Alias) and is_aggregate(i.this)}
    suffix = not has_windows and _suffix_order(order, having, node)
    if suffix:  # ordered aggregates first, in ORDER BY order, each with its ASC/DESC
        for o in order:
            names.add_aggregate(o.this, alias_of.get(key_of(o.this)))
    # What the user named comes before generated names, so those step aside.
    for i in items:
        if isinstance(i, exp.Alias) and is_aggregate(i.this):
            names.add_aggregate(i.this, i.alias)
    for g in group:
        names.add_key(g)
    for source in sources:
        for a in aggregates(source) + _window_aggregates(source):
            names.add_aggregate(a, None)
    bare = [n for source in sources
            for n in walk_scope(source, prune=lambda n: is_aggregate(n) or names.match(n) is not None)
            if isinstance(n, exp.Column) and not isinstance(n.this, exp.Star) and names.match(n) is None]
    if bare:
        if not group:
            return _extreme_row_steps(rw, node, items, having, order, names)
        rw.flags.add("bare_column")
        for column in bare:
            if rw.bare == "group":
                names.add_key(column)
            elif not any(same_column(column, c) for c, _ in names.wrapped):
                wrapped = exp.Max(this=column.copy())
                names.add_aggregate(wrapped, column.name)
                names.wrapped.append((column, names.aggs[key_of(wrapped)]))

    direction = {key_of(o.this): " DESC" if o.args.get("desc") else " ASC" for o in order} if suffix else {}
    agg_text = ", ".join(f"{rw.sql(a)} AS {ident(name)}{direction.get(key_of(a), '')}" for a, name in names.agg_nodes)
    key_text = ", ".join(rw.sql(k["expr"]) + (f" AS {ident(k['name'])}" if k["aliased"] else "")
                         for k in names.keys)
    text = "|> AGGREGATE" + (f" {agg_text}" if agg_text else "") + (f" GROUP BY {key_text}" if key_text else "")
    steps: list[Step] = [("AGGREGATE", text)]
    correlated = _outer_names_in_nested(node, sources)
    if len(correlated) > 1:
        raise Unsupported("correlated_after_aggregate", ", ".join(sorted(correlated)))
    if correlated:  # a nested query names the outer table: the grouped rows take its name
        steps.append(("AS", f"|> AS {ident(correlated.pop())}"))
    if having is not None:
        steps.append(("WHERE", "|> WHERE " + rw.sql(names.post(having))))

    out_items = [_post_item(names, i) for i in items]
    post_order = [names.post(o) for o in order]
    wins = [w for e in out_items + post_order for w in windows(e)]
    if wins:  # windows over the groups: computed after the aggregation, then referred to by name
        step, mapping = rw.extend(out_items, wins)
        steps.append(step)
        out_items = [plain_item(replace_in_scope(e, lambda n: window_or_strip(n, mapping))) for e in out_items]
        post_order = [replace_in_scope(e, lambda n: window_or_strip(n, mapping)) for e in post_order]
    out_sql = [rw.sql(i) for i in out_items]
    identity = not wins and out_sql == [ident(n) for n in names.output_names()]
    select = [] if identity else [("SELECT", "|> SELECT " + ", ".join(out_sql))]
    if node.args.get("distinct"):
        return steps + rw.distinct_tail(node, select, out_items, post_order)
    if post_order and not suffix:
        steps.append(("ORDER BY", "|> ORDER BY " + ", ".join(rw.sql(o) for o in post_order)))
    return steps + rw.limit(node) + select


def _outer_names_in_nested(node: exp.Select, sources: list) -> set[str]:
    """The outer FROM/JOIN names that nested queries of sources refer to (correlated subqueries).

    After AGGREGATE the table names are gone; `|> AS name` gives the grouped rows that name again,
    so `(SELECT ... WHERE s2.k = s.k)` still finds `s.k`, a group key.
    """
    tables = [node.args["from_"].this] + [j.this for j in node.args.get("joins") or []]
    outer = {t.alias_or_name.lower(): t.alias_or_name for t in tables if isinstance(t, (exp.Table, exp.Subquery))}
    used = set()
    for source in sources:
        for query in nested_queries(source):
            inner = {t.alias_or_name.lower() for t in query.find_all(exp.Table, exp.Subquery) if t.alias_or_name}
            for column in query.find_all(exp.Column):
                name = column.table.lower()
                if name and name in outer and name not in inner:
                    used.add(outer[name])
    return used


def _window_aggregates(source: exp.Expr) -> list[exp.Expr]:
    """The aggregates inside the window functions of source: `COUNT(*)` of `RANK() OVER (ORDER BY COUNT(*))`."""
    return [a for w in windows(source) for part in w.iter_expressions() for a in aggregates(part)]


def _suffix_order(order: list, having, node: exp.Select) -> bool:
    """Whether ORDER BY goes onto the AGGREGATE items as ASC/DESC suffixes.

    When every ORDER BY term is an aggregate (Spider's `GROUP BY k ORDER BY count(*) DESC LIMIT 1`),
    `|> AGGREGATE COUNT(*) AS c DESC GROUP BY k` sorts in the same SELECT that groups, as the gold
    does, so rows that tie come out in the same order; a separate `|> ORDER BY` sorts one query
    later and SQLite then breaks ties the other way.
    """
    if not order or having is not None or node.args.get("distinct"):
        return False
    seen = set()
    for o in order:
        if not is_aggregate(o.this) or o.args.get("nulls_first") != (not o.args.get("desc")):
            return False
        k = key_of(o.this)
        if k in seen:
            return False
        seen.add(k)
    return True


def _extreme_row_steps(rw, node, items, having, order, names: _Keys) -> list[Step]:
    """`SELECT name, max(age) FROM t`: SQLite takes the bare columns from the row holding the max.

    Rewritten as that row: `|> WHERE age IS NOT NULL |> ORDER BY age DESC |> LIMIT 1 |> SELECT name, age`.
    Only for exactly one min()/max() and no GROUP BY, HAVING, ORDER BY, LIMIT or DISTINCT.
    """
    if (len(names.agg_nodes) != 1 or having is not None or order or node.args.get("limit")
            or node.args.get("distinct")):
        raise Unsupported("bare_column_without_group_by")
    agg, name = names.agg_nodes[0]
    if not isinstance(agg, (exp.Max, exp.Min)) or agg.expressions or isinstance(agg.this, exp.Distinct):
        raise Unsupported("bare_column_without_group_by")
    arg = rw.sql(agg.this)
    out = [replace_in_scope(i, lambda n: exp.Alias(this=n.this.copy(), alias=exp.to_identifier(name))
                            if n is agg or (is_aggregate(n) and key_of(n) == key_of(agg)) else None)
           for i in items]
    out = [i.this if isinstance(i, exp.Alias) and isinstance(i.this, exp.Alias) else i for i in out]
    return [("WHERE", f"|> WHERE {arg} IS NOT NULL"),
            ("ORDER BY", f"|> ORDER BY {arg} {'DESC' if isinstance(agg, exp.Max) else 'ASC'}"),
            ("LIMIT", "|> LIMIT 1"),
            ("SELECT", "|> SELECT " + ", ".join(rw.sql(i) for i in out))]


def _post_item(names: _Keys, item: exp.Expr) -> exp.Expr:
    if isinstance(item, exp.Alias):
        inner = names.post(item.this)
        if isinstance(inner, exp.Column) and inner.name == item.alias:
            return inner
        return exp.Alias(this=inner, alias=item.args["alias"].copy())
    return names.post(item)


def _aggregate_name(node: exp.Expr) -> str:
    if isinstance(node, exp.Filter):
        return _aggregate_name(node.this) + "_filtered"
    fn = node.name.lower() if isinstance(node, exp.Anonymous) else node.key.lower()
    arg = node.this if not isinstance(node, exp.Anonymous) else (node.expressions or [None])[0]
    if isinstance(arg, exp.Star):
        return f"{fn}_all"
    distinct = isinstance(arg, exp.Distinct)
    if distinct and len(arg.expressions) == 1:
        arg = arg.expressions[0]
    if isinstance(arg, exp.Column) and PLAIN.match(arg.name):
        return f"{fn}_{'distinct_' if distinct else ''}{arg.name.lower()}"
    return fn


def _column(name: str) -> exp.Column:
    return exp.column(name, quoted=not PLAIN.match(name))
