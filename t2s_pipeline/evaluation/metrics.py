"""Scores of predictions beyond the verdict: exact match, rates and breakdowns, the paired comparison of two
models, Spider hardness. Verdicts themselves come from the one judge (sql/judge.py, sql/judge_many.py).
"""

from __future__ import annotations

import math
from collections import defaultdict

from t2s_pipeline.sql.judge_many import statement_key

# --- SQL text --------------------------------------------------------------------------------------


def canonical_sql(sql: str) -> str:
    """sqlglot's canonical SQLite text, lower-cased; unparsable SQL is compared as whitespace-collapsed text."""
    import sqlglot

    try:
        return sqlglot.transpile(sql, read="sqlite", write="sqlite")[0].lower()
    except (sqlglot.errors.SqlglotError, IndexError):
        return " ".join(sql.split()).lower()


def exact_match(gold_sql: str, pred_sql: str) -> bool:
    """Exact match after sqlglot normalization (an empty prediction never matches)."""
    return bool(pred_sql.strip()) and canonical_sql(pred_sql) == canonical_sql(gold_sql)


# --- one verdict -----------------------------------------------------------------------------------


# --- many verdicts, cached and in parallel ------------------------------------------------------------


# --- aggregates --------------------------------------------------------------------------------------


def rate(values: list) -> float:
    return round(sum(values) / len(values), 4) if values else 0.0


def paired_comparison(before: list[bool], after: list[bool], before_sql: list[str] | None = None,
                      after_sql: list[str] | None = None) -> dict:
    """How a second model's verdicts on the same questions differ from a first's: `fixed` (wrong, then right),
    `broken` (right, then wrong), `net`, and `p_value`, the exact two-sided sign test (McNemar) on the changed
    verdicts: how likely a split at least this uneven is if each change were a coin flip. Given both models'
    SQL, `answers_changed` counts the questions whose query text differs (a changed query can keep its verdict)."""
    if len(before) != len(after):
        raise ValueError(f"{len(before)} verdicts against {len(after)}: the models must answer the same questions")
    fixed = sum(bool(a) and not b for b, a in zip(before, after))
    broken = sum(bool(b) and not a for b, a in zip(before, after))
    changed = fixed + broken
    tail = sum(math.comb(changed, i) for i in range(min(fixed, broken) + 1)) / 2 ** changed
    result = {"fixed": fixed, "broken": broken, "net": fixed - broken, "p_value": round(min(1.0, 2 * tail), 4)}
    if before_sql is not None and after_sql is not None:
        result["answers_changed"] = sum(statement_key(b) != statement_key(a) for b, a in zip(before_sql, after_sql))
    return result


def breakdown(predictions: list[dict], key: str, field: str = "ex") -> dict[str, dict]:
    """Accuracy grouped by a meta field (benchmark, db_id, difficulty)."""
    groups: dict[str, list] = defaultdict(list)
    for p in predictions:
        groups[str(p.get(key))].append(p[field])
    return {k: {"n": len(v), field: rate(v)} for k, v in sorted(groups.items())}


def breakdown_all(predictions: list[dict], key: str, fields: tuple[str, ...] = ("ex", "em", "f1")) -> dict[str, dict]:
    """Several metrics grouped by a meta field: {group: {"n", "ex", "em", "f1"}}."""
    groups: dict[str, list[dict]] = defaultdict(list)
    for p in predictions:
        groups[str(p.get(key))].append(p)
    return {k: {"n": len(rows), **{f: rate([r[f] for r in rows if f in r]) for f in fields}}
            for k, rows in sorted(groups.items(), key=lambda kv: _group_order(kv[0]))}


HARDNESS = ("easy", "medium", "hard", "extra")


def _group_order(name: str):
    return (HARDNESS.index(name), "") if name in HARDNESS else (len(HARDNESS), name)


# --- Spider hardness ------------------------------------------------------------------------------------


def spider_hardness(sql: str) -> str | None:
    """Spider's difficulty level (easy, medium, hard, extra) of a query, or None if sqlglot cannot read it.

    The rules of Spider's evaluation.py (`eval_hardness`: components, nesting, other keywords),
    applied to the sqlglot tree instead of Spider's own parse, quirks included (a NOT condition
    counts as an aggregate, and so does each AND/OR in HAVING).
    """
    import sqlglot
    from sqlglot import exp

    try:
        tree = sqlglot.parse_one(sql, read="sqlite")
    except sqlglot.errors.SqlglotError:
        return None
    nested = 0
    while isinstance(tree, exp.SetOperation):
        nested = 1
        tree = tree.this
    while isinstance(tree, (exp.Subquery, exp.Paren)):
        tree = tree.this
    if not isinstance(tree, exp.Select):
        return None
    joins = tree.args.get("joins") or []
    where = tree.args.get("where")
    having = tree.args.get("having")
    group = tree.args.get("group")
    order = tree.args.get("order")
    join_conds = [j.args["on"] for j in joins if j.args.get("on") is not None]
    where_leaves, where_ors = _conditions(where.this) if where else ([], 0)
    having_leaves, having_ors = _conditions(having.this) if having else ([], 0)
    join_leaves, join_ors = [], 0
    for cond in join_conds:
        leaves, ors = _conditions(cond)
        join_leaves += leaves
        join_ors += ors
    leaves = join_leaves + where_leaves + having_leaves

    comp1 = sum(x is not None for x in (where, group, order, tree.args.get("limit")))
    comp1 += len(joins)
    comp1 += join_ors + where_ors + having_ors
    comp1 += sum(isinstance(_strip_not(leaf), exp.Like) for leaf in leaves)

    comp2 = nested + sum(_direct_subqueries(leaf) for leaf in leaves)

    has_agg = lambda e: any(True for _ in _walk_outside_subqueries(e, exp.AggFunc))
    agg = sum(has_agg(item) for item in tree.expressions)
    agg += sum(isinstance(leaf, exp.Not) for leaf in where_leaves)
    if order:
        agg += sum(has_agg(item) for item in order.expressions)
    agg += sum(isinstance(leaf, exp.Not) for leaf in having_leaves) + max(len(having_leaves) - 1, 0)
    others = (agg > 1) + (len(tree.expressions) > 1) + (len(where_leaves) > 1)
    others += bool(group) and len(group.expressions) > 1

    if comp1 <= 1 and others == 0 and comp2 == 0:
        return "easy"
    if (others <= 2 and comp1 <= 1 and comp2 == 0) or (comp1 <= 2 and others < 2 and comp2 == 0):
        return "medium"
    if ((others > 2 and comp1 <= 2 and comp2 == 0) or (2 < comp1 <= 3 and others <= 2 and comp2 == 0)
            or (comp1 <= 1 and others == 0 and comp2 <= 1)):
        return "hard"
    return "extra"


def _strip_not(node):
    from sqlglot import exp

    return node.this if isinstance(node, exp.Not) else node


def _conditions(node) -> tuple[list, int]:
    """The condition units of a boolean expression split on AND/OR (through parentheses), and the OR count."""
    from sqlglot import exp

    if isinstance(node, exp.Paren):
        return _conditions(node.this)
    if isinstance(node, (exp.And, exp.Or)):
        left, lo = _conditions(node.this)
        right, ro = _conditions(node.expression)
        return left + right, lo + ro + isinstance(node, exp.Or)
    return [node], 0


def _walk_outside_subqueries(node, kind):
    """Nodes of `kind` under node, not descending into nested SELECTs."""
    from sqlglot import exp

    stack = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, kind):
            yield current
        for child in current.iter_expressions():
            if not isinstance(child, (exp.Select, exp.Subquery, exp.SetOperation)):
                stack.append(child)


def _direct_subqueries(leaf) -> int:
    """Subqueries that are an operand of a condition unit (Spider's nested SQL in WHERE/HAVING/ON)."""
    from sqlglot import exp

    count, stack = 0, [leaf]
    while stack:
        current = stack.pop()
        for child in current.iter_expressions():
            if isinstance(child, (exp.Select, exp.Subquery, exp.SetOperation)):
                count += 1
            else:
                stack.append(child)
    return count
