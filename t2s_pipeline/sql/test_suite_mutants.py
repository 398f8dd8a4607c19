"""Near-miss queries ("mutants") of a gold query, made by one edit of its sqlglot tree, and the gold's constants.

A suite is distilled by how many mutants it tells apart from their gold, so the edits are the
mistakes a model makes: a comparison swapped or loosened (> for >=, = for !=), AND for OR, a
dropped condition, WHERE or HAVING, DISTINCT added or dropped, LIMIT changed or dropped, the
sort direction flipped, another column of the same type and table, an aggregate swapped (MAX/MIN,
SUM/AVG, COUNT/COUNT DISTINCT), a LEFT join for an inner one, UNION ALL for UNION, EXCEPT for
INTERSECT, a dropped GROUP BY key or another column in its place, COUNT(*) for COUNT(column) and back,
a LIKE pattern anchored or loosened, and a constant replaced by a neighbour or by another value of its
column.
"""

from __future__ import annotations

import random
from functools import lru_cache

import sqlglot
from sqlglot import exp

from t2s_pipeline.sql.test_suite_variants import DatabaseModel

_SWAPS = {exp.EQ: (exp.NEQ,), exp.NEQ: (exp.EQ,), exp.GT: (exp.GTE, exp.LT), exp.GTE: (exp.GT, exp.LTE),
          exp.LT: (exp.LTE, exp.GT), exp.LTE: (exp.LT, exp.GTE)}
_AGG_SWAPS = {exp.Max: (exp.Min,), exp.Min: (exp.Max,), exp.Sum: (exp.Avg,), exp.Avg: (exp.Sum, exp.Max)}
_COMPARISONS = (exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE, exp.Like, exp.Between, exp.In)


def parse(sql: str) -> exp.Expr | None:
    try:
        return sqlglot.parse_one(sql, read="sqlite")
    except (sqlglot.errors.SqlglotError, ValueError):
        return None


def literal_value(node: exp.Literal):
    if node.is_string:
        return node.this
    try:
        return int(node.this)
    except ValueError:
        try:
            return float(node.this)
        except ValueError:
            return node.this


def _column_literals(node: exp.Expr) -> list[tuple[exp.Column, exp.Literal]]:
    """(column, literal) pairs a comparison node puts side by side."""
    if isinstance(node, exp.Between):
        operands = [node.this, node.args.get("low"), node.args.get("high")]
    elif isinstance(node, exp.In):
        operands = [node.this, *node.expressions]
    else:
        operands = [node.this, node.expression]
    column = next((o for o in operands if isinstance(o, exp.Column)), None)
    if column is None:
        return []
    literals = [o.this if isinstance(o, exp.Neg) and isinstance(o.this, exp.Literal) else o for o in operands]
    return [(column, lit) for lit in literals if isinstance(lit, exp.Literal)]


def gold_constants(sqls: list[str]) -> dict[str, set]:
    """column name (lower case) -> the constants the gold queries compare it with."""
    out: dict[str, set] = {}
    for sql in sqls:
        tree = parse(sql)
        if tree is None:
            continue
        for node in tree.find_all(*_COMPARISONS):
            for column, literal in _column_literals(node):
                value = literal_value(literal)
                if isinstance(literal.parent, exp.Neg) and isinstance(value, (int, float)):
                    value = -value
                out.setdefault(column.name.lower(), set()).add(value)
    return out


def having_thresholds(sqls: list[str]) -> dict[str, list[int]]:
    """table name (lower case) -> the whole numbers the gold queries' HAVING clauses compare with, for the
    tables of the SELECTs those HAVING clauses belong to."""
    out: dict[str, set] = {}
    for sql in sqls:
        tree = parse(sql)
        for having in tree.find_all(exp.Having) if tree is not None else ():
            numbers = {literal_value(n) for n in having.find_all(exp.Literal) if not n.is_string}
            numbers = {n for n in numbers if isinstance(n, int) and n > 0}
            select = having.find_ancestor(exp.Select)
            if not numbers or select is None:
                continue
            for source in [select.args.get("from_"), *(select.args.get("joins") or [])]:
                if source is not None and isinstance(source.this, exp.Table):
                    out.setdefault(source.this.name.lower(), set()).update(numbers)
    return {table: sorted(numbers) for table, numbers in out.items()}


def _scope_tables(node: exp.Expr, model: DatabaseModel) -> dict[str, object]:
    """alias or name (lower case) -> model Table, for the tables of the SELECT around node."""
    select = node.find_ancestor(exp.Select)
    if select is None:
        return {}
    out = {}
    sources = [select.args.get("from_")] + list(select.args.get("joins") or [])
    for source in sources:
        table = source.this if source is not None else None
        if isinstance(table, exp.Table):
            found = model.table(table.name)
            if found is not None:
                out[table.alias_or_name.lower()] = found
                out[table.name.lower()] = found
    return out


def _column_table(column: exp.Column, model: DatabaseModel):
    scope = _scope_tables(column, model)
    if column.table:
        return scope.get(column.table.lower())
    name = column.name.lower()
    return next((t for t in dict.fromkeys(scope.values()) if any(c.name.lower() == name for c in t.columns)), None)


def _edits(tree: exp.Expr, model: DatabaseModel, rng: random.Random) -> list[tuple[int, str, object]]:
    """Every single edit of the tree: (walk index of the node, kind, argument)."""
    edits = []
    for k, node in enumerate(tree.walk()):
        kind = type(node)
        if kind in _SWAPS:
            edits += [(k, "replace_op", other) for other in _SWAPS[kind]]
        if isinstance(node, exp.Connector):
            edits += [(k, "connector", None), (k, "keep", "this"), (k, "keep", "expression")]
        if isinstance(node, (exp.Where, exp.Having)):
            edits.append((k, "drop", None))
        if isinstance(node, exp.Not):
            edits.append((k, "keep", "this"))
        if isinstance(node, exp.Between):
            edits += [(k, "between", "low"), (k, "between", "high")]
        if isinstance(node, exp.Like) and isinstance(node.expression, exp.Literal):
            pattern = str(literal_value(node.expression))
            core = pattern.strip("%")
            edits += [(k, "like", p) for p in dict.fromkeys((f"{core}%", f"%{core}", f"%{core}%", core)) if p != pattern]
        if isinstance(node, exp.Select):
            edits.append((k, "distinct", None))
            group = node.args.get("group")
            if group is not None:
                edits.append((k, "drop_group", None))
        if isinstance(node, exp.Limit):
            edits += [(k, "limit", 1), (k, "drop", None)]
        if isinstance(node, exp.Ordered):
            edits.append((k, "flip_order", None))
        if kind in _AGG_SWAPS:
            edits += [(k, "replace_op", other) for other in _AGG_SWAPS[kind]]
        if isinstance(node, exp.Count) and not isinstance(node.this, exp.Star):
            edits += [(k, "count_distinct", None), (k, "count_star", None)]
        if isinstance(node, exp.Count) and isinstance(node.this, exp.Star):
            by_table = {}  # one qualifier per table: its alias where it has one
            for alias, t in _scope_tables(node, model).items():
                if id(t) not in by_table or alias != t.name.lower():
                    by_table[id(t)] = (alias, t)
            columns = [(alias, c.name) for alias, t in by_table.values() for c in t.columns]
            edits += [(k, "count_column", column) for column in rng.sample(columns, min(3, len(columns)))]
        if isinstance(node, exp.Column) and isinstance(node.parent, exp.Group):
            table = _column_table(node, model)
            others = [c.name for c in table.columns if c.name.lower() != node.name.lower()] if table else []
            edits += [(k, "column", name) for name in rng.sample(others, min(2, len(others)))]
        if isinstance(node, exp.Join) and not node.args.get("side") and node.args.get("on") is not None:
            edits.append((k, "left_join", None))
        if isinstance(node, exp.Union):
            edits.append((k, "union_all", None))
        if isinstance(node, (exp.Intersect, exp.Except)):
            edits.append((k, "intersect_except", None))
        if isinstance(node, exp.Column) and not isinstance(node.parent, exp.Ordered | exp.Group):
            table = _column_table(node, model)
            if table is not None:
                mine = next((c for c in table.columns if c.name.lower() == node.name.lower()), None)
                same = [c.name for c in table.columns if mine and c is not mine and c.affinity == mine.affinity]
                edits += [(k, "column", name) for name in rng.sample(same, min(2, len(same)))]
        if isinstance(node, _COMPARISONS):
            for column, literal in _column_literals(node):
                edits += _literal_edits(tree, literal, column, model, rng)
    return edits


def _literal_edits(tree, literal: exp.Literal, column: exp.Column, model: DatabaseModel, rng) -> list:
    k = next(i for i, n in enumerate(tree.walk()) if n is literal)
    value = literal_value(literal)
    edits = []
    if isinstance(value, (int, float)):
        edits += [(k, "literal", value + 1), (k, "literal", value - 1)]
    table = _column_table(column, model)
    if table is not None:
        names = [c.name.lower() for c in table.columns]
        if column.name.lower() in names:
            pool = [v for v in table.pools[names.index(column.name.lower())] if v != value and v is not None]
            edits += [(k, "literal", v) for v in rng.sample(pool, min(2, len(pool)))]
    return edits


def _apply(node: exp.Expr, kind: str, arg) -> exp.Expr | None:
    """Edit the tree in place; returns the node that took `node`'s place when it was replaced."""
    if kind == "replace_op":
        return node.replace(arg(**node.args))
    elif kind == "connector":
        return node.replace((exp.Or if isinstance(node, exp.And) else exp.And)(this=node.this,
                                                                                 expression=node.expression))
    elif kind == "keep":
        return node.replace(node.args[arg])
    elif kind == "drop":
        node.pop()
    elif kind == "between":
        col = node.this
        return node.replace(exp.GTE(this=col, expression=node.args["low"]) if arg == "low"
                     else exp.LTE(this=col, expression=node.args["high"]))
    elif kind == "like":
        node.set("expression", exp.Literal.string(arg))
    elif kind == "distinct":
        node.set("distinct", None if node.args.get("distinct") else exp.Distinct())
    elif kind == "drop_group":
        group = node.args["group"]
        if len(group.expressions) > 1:
            group.expressions[-1].pop()
        else:
            group.pop()
    elif kind == "limit":
        value = literal_value(node.expression)
        node.set("expression", exp.Literal.number(value + arg if isinstance(value, int) else 2))
    elif kind == "flip_order":
        node.set("desc", not node.args.get("desc"))
    elif kind == "count_distinct":
        inner = node.this
        node.set("this", inner.expressions[0] if isinstance(inner, exp.Distinct) else exp.Distinct(expressions=[inner]))
    elif kind == "count_star":
        node.set("this", exp.Star())
    elif kind == "count_column":
        node.set("this", exp.column(arg[1], arg[0]))
    elif kind == "left_join":
        node.set("side", "LEFT")
    elif kind == "union_all":
        node.set("distinct", not node.args.get("distinct"))
    elif kind == "intersect_except":
        return node.replace((exp.Except if isinstance(node, exp.Intersect) else exp.Intersect)(**node.args))
    elif kind == "column":
        node.set("this", exp.to_identifier(arg))
    elif kind == "literal":
        if isinstance(arg, (bytes, bool)):
            raise ValueError("no literal for this value")
        return node.replace(exp.Literal.string(arg) if isinstance(arg, str) else exp.Literal.number(arg))
    else:
        raise ValueError(f"unknown edit {kind!r}")
    return None


def mutants(gold_sql: str, model: DatabaseModel, rng: random.Random, limit: int = 40) -> list[str]:
    """Up to `limit` distinct SQLite texts, each one edit away from the gold (never the gold's own text)."""
    tree = parse(gold_sql)
    if tree is None:
        return []
    gold_text = tree.sql(dialect="sqlite")
    edits = _edits(tree, model, rng)
    rng.shuffle(edits)
    out: dict[str, None] = {}
    for k, kind, arg in edits:
        if len(out) >= limit:
            break
        copy = tree.copy()
        node = next(n for i, n in enumerate(copy.walk()) if i == k)
        try:
            replaced = _apply(node, kind, arg)
            root = replaced if node is copy and replaced is not None else copy
            text = root.sql(dialect="sqlite")
        except (sqlglot.errors.SqlglotError, ValueError, KeyError, AttributeError, TypeError, IndexError):
            continue
        if text != gold_text:
            out[text] = None
    return list(out)


@lru_cache(maxsize=16_384)  # asked once per variant of a suite
def tie_probes(gold_sql: str) -> tuple[tuple[str, int, int | None, bool], ...] | None:
    """Queries that show whether the gold's answer on a database depends on how SQLite breaks ties.

    One per SELECT with an ORDER BY that matters (a LIMIT, or the top level, whose order is compared):
    (probe, number of sort keys, limit + offset or None, top level). The probe is that SELECT with its
    sort keys put first in its select list and no LIMIT, so equal keys with different rows show up.
    None when the gold takes an arbitrary LIMIT (no ORDER BY) or a probe cannot be made: then no
    variant can judge the gold safely. Also one per SELECT that groups and shows or sorts by a column
    that is neither grouped nor aggregated (SQLite takes it from any row of the group): (probe, ANY_ROW,
    None, False), the probe returning the groups where that column holds more than one value.
    """
    tree = parse(gold_sql)
    if tree is None:
        return None
    probes = []
    for select in tree.find_all(exp.Select):
        try:
            bare = _bare_column_probe(select)
        except sqlglot.errors.SqlglotError:
            return None
        if bare is not None:
            probes.append((bare, ANY_ROW, None, False))
        order, limit = select.args.get("order"), select.args.get("limit")
        top = select is tree
        if limit is not None and order is None:
            return None
        if order is None or (limit is None and not top):
            continue
        cut = None
        if limit is not None:
            offset = select.args.get("offset")
            values = [limit.expression] + ([offset.expression] if offset is not None else [])
            if not all(isinstance(v, exp.Literal) and not v.is_string for v in values):
                return None
            cut = sum(int(literal_value(v)) for v in values)
        probe = select.copy()
        probe.set("limit", None)
        probe.set("offset", None)
        keys = [o.this.copy() for o in order.expressions]
        probe.set("expressions", keys + [e.copy() for e in select.expressions])
        try:
            probes.append((probe.sql(dialect="sqlite"), len(keys), cut, top))
        except sqlglot.errors.SqlglotError:
            return None
    return tuple(probes)


ANY_ROW = -1  # a tie probe whose every row means the answer is arbitrary (see tie_probes)


def _bare_column_probe(select: exp.Select) -> str | None:
    """For a SELECT with GROUP BY that shows or sorts by a column neither grouped nor aggregated: the query
    returning its groups where that column takes more than one value (NULL counted as one); else None.
    A single MIN or MAX picks the row bare columns come from, so those are left to the tie probes."""
    group = select.args.get("group")
    if group is None:
        return None
    aggregates = [a for e in select.expressions for a in e.find_all(exp.AggFunc)]
    if len(aggregates) == 1 and isinstance(aggregates[0], (exp.Max, exp.Min)):
        return None
    keys = {c.name.lower() for k in group.expressions for c in ([k] if isinstance(k, exp.Column) else k.find_all(exp.Column))}
    shown = list(select.expressions) + [o.this for o in (select.args.get("order") or exp.Order()).expressions]
    bare = {c.sql(dialect="sqlite"): c for e in shown for c in ([e] if isinstance(e, exp.Column) else e.find_all(exp.Column))
            if c.name.lower() not in keys and c.find_ancestor(exp.AggFunc) is None
            and c.find_ancestor(exp.Select) is select}
    if not bare:
        return None
    probe = select.copy()
    for arg in ("limit", "offset", "order", "distinct"):
        probe.set(arg, None)
    probe.set("expressions", [exp.Literal.number(1)])
    spread = " OR ".join(f"COUNT(DISTINCT QUOTE({text})) > 1" for text in bare)
    having = select.args.get("having")
    condition = f"({having.this.sql(dialect='sqlite')}) AND ({spread})" if having is not None else spread
    probe.set("having", exp.Having(this=sqlglot.parse_one(condition, read="sqlite")))
    return probe.sql(dialect="sqlite")


CUT, ORDER = "cut", "order"  # what ties do to a gold's answer (tie_effect)


def tie_effect(rows: list[tuple], keys: int, cut: int | None, top: bool) -> str | None:
    """What rows with equal sort keys but different values do to the answer (see tie_probes): CUT when a
    limit cuts through them (which rows make it in is arbitrary: the database cannot judge the query),
    ORDER when only their order within the top-level answer is arbitrary (compare as multisets), else None.
    An ANY_ROW probe: CUT when it returns a row."""
    if keys == ANY_ROW:
        return CUT if rows else None
    runs: list[tuple[int, int]] = []  # [start, end) of runs of equal keys
    start = 0
    for i in range(1, len(rows) + 1):
        if i == len(rows) or rows[i][:keys] != rows[start][:keys]:
            runs.append((start, i))
            start = i
    effect = None
    for a, b in runs:
        if len({row[keys:] for row in rows[a:b]}) < 2:
            continue
        if cut is not None and a < cut < b:
            return CUT
        if top and (cut is None or a < cut):
            effect = ORDER
    return effect


def ties_matter(rows: list[tuple], keys: int, cut: int | None, top: bool) -> bool:
    """Whether rows with equal sort keys but different values would change the answer (see tie_probes)."""
    return tie_effect(rows, keys, cut, top) is not None
