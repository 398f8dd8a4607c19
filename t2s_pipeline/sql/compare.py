"""Compare query results the way execution accuracy does.

Ordered row lists when the gold query orders its top level, multisets otherwise; floats are
compared after rounding so 1/3 computed two ways still matches.
"""

from __future__ import annotations

from collections import Counter

import sqlglot
from sqlglot import exp


def _norm_value(v):
    if isinstance(v, float):
        return round(v, 6) + 0.0  # +0.0 turns -0.0 into 0.0
    if isinstance(v, bytes):
        return v.hex()
    return v


def _norm_rows(rows) -> list[tuple]:
    return [tuple(_norm_value(v) for v in row) for row in rows]


def results_match(gold_rows, pred_rows, ordered: bool) -> bool:
    """True when the two results are equal: as lists if ordered, else as multisets. Widths must agree."""
    gold, pred = _norm_rows(gold_rows), _norm_rows(pred_rows)
    if gold and pred and len(gold[0]) != len(pred[0]):
        return False
    if ordered:
        return gold == pred
    return Counter(gold) == Counter(pred)


def orders_top_level(sql: str) -> bool:
    """Whether the outermost query has an ORDER BY (then row order is part of the answer)."""
    try:
        tree = sqlglot.parse_one(sql, read="sqlite")
    except sqlglot.errors.ParseError:
        return "order by" in sql.lower()
    return tree.args.get("order") is not None if isinstance(tree, (exp.Select, exp.Union, exp.Intersect, exp.Except)) else False
