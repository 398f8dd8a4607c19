"""Compare query results the way execution accuracy does.

Two protocols:
- `spider` (the Spider test-suite evaluator, `--etype exec`): the results are equal as multisets of
  rows, or as lists when the gold query orders its top level, allowing any permutation of the
  prediction's columns. Empty results are equal whatever their widths.
- `bird` (BIRD's evaluator): the results are equal as sets of rows (`set(pred) == set(gold)`): row
  order and duplicates are ignored, columns must come in the gold's order.
Values are normalized first: floats rounded to 6 decimals (so 1/3 computed two ways still matches,
and 2 == 2.0 as in Python), -0.0 is 0.0, blobs compare by their bytes.

Also `row_f1`: an F1 between the multisets of result rows, the partial credit of the T5 text-to-SQL
setting (1.0 when the results match, 0.0 for an error).
"""

from __future__ import annotations

from collections import Counter
import re
from functools import lru_cache
from itertools import permutations

SPIDER, BIRD = "spider", "bird"
PROTOCOLS = (SPIDER, BIRD)
MAX_PERMUTATIONS = 5_000  # column permutations tried per comparison (after pruning)


_ORDER_BY = re.compile(r"order\s+by", re.IGNORECASE)


def _norm_value(v):
    if isinstance(v, float):
        if v != v:  # NaN: equal to itself for comparison purposes
            return "NaN"
        return round(v, 6) + 0.0  # +0.0 turns -0.0 into 0.0
    if isinstance(v, (bytes, memoryview)):
        return bytes(v).hex()
    return v


def normalize_rows(rows) -> list[tuple]:
    return [tuple(_norm_value(v) for v in row) for row in rows]


def results_match(gold_rows, pred_rows, ordered: bool, protocol: str = SPIDER) -> bool:
    """True when the prediction's rows equal the gold rows under the protocol (see the module doc)."""
    gold, pred = normalize_rows(gold_rows), normalize_rows(pred_rows)
    if protocol == BIRD:
        return set(gold) == set(pred)
    if protocol != SPIDER:
        raise ValueError(f"unknown protocol {protocol!r}: use one of {PROTOCOLS}")
    return column_permutation(gold, pred, ordered) is not None


def column_permutation(gold: list[tuple], pred: list[tuple], ordered: bool) -> tuple[int, ...] | None:
    """A permutation p of the prediction's columns with [row[p] for row in pred] equal to gold
    (as lists when ordered, else as multisets), or None. Rows must already be normalized."""
    if not gold and not pred:
        return ()
    if len(gold) != len(pred):
        return None
    width = len(gold[0])
    if len(pred[0]) != width:
        return None
    identity = tuple(range(width))
    if _equal(gold, pred, ordered):
        return identity
    if width == 1:
        return None
    # Quick rejection, as the test-suite evaluator does: the rows with their values sorted must agree.
    unorder = lambda row: tuple(sorted(row, key=_sort_key))
    g_sorted, p_sorted = [unorder(r) for r in gold], [unorder(r) for r in pred]
    if (g_sorted != p_sorted) if ordered else (Counter(g_sorted) != Counter(p_sorted)):
        return None
    # Candidates: gold column i can only come from a prediction column with the same multiset of values.
    g_cols = [Counter(r[i] for r in gold) for i in range(width)]
    p_cols = [Counter(r[j] for r in pred) for j in range(width)]
    allowed = [[j for j in range(width) if p_cols[j] == g_cols[i]] for i in range(width)]
    for n, perm in enumerate(_assignments(allowed)):
        if n >= MAX_PERMUTATIONS:
            break
        if _equal(gold, [tuple(row[j] for j in perm) for row in pred], ordered):
            return perm
    return None


def _sort_key(value):
    if value is None:
        return (0, 0.0, "")
    if isinstance(value, (int, float)):
        return (1, float(value), "")
    return (2, 0.0, str(value))


def _assignments(allowed: list[list[int]], prefix: tuple = ()):
    """Every injective choice of one allowed column per position (depth first)."""
    i = len(prefix)
    if i == len(allowed):
        yield prefix
        return
    for j in allowed[i]:
        if j not in prefix:
            yield from _assignments(allowed, prefix + (j,))


def _equal(gold: list[tuple], pred: list[tuple], ordered: bool) -> bool:
    return gold == pred if ordered else Counter(gold) == Counter(pred)


def row_f1(gold_rows, pred_rows) -> float:
    """F1 between the multisets of rows (precision over predicted rows, recall over gold rows).

    Columns are matched first: the prediction's columns are reordered by the permutation that
    best agrees with the gold column values, so a result correct up to column order scores 1.0.
    Two empty results score 1.0.
    """
    gold, pred = normalize_rows(gold_rows), normalize_rows(pred_rows)
    if not gold and not pred:
        return 1.0
    if not gold or not pred:
        return 0.0
    width = len(gold[0])
    if len(pred[0]) == width and width > 1:
        perm = column_permutation(gold, pred, ordered=False) or _best_column_order(gold, pred)
        pred = [tuple(row[j] for j in perm) for row in pred]
    overlap = sum((Counter(gold) & Counter(pred)).values())
    if not overlap:
        return 0.0
    precision, recall = overlap / len(pred), overlap / len(gold)
    return round(2 * precision * recall / (precision + recall), 4)


def _best_column_order(gold: list[tuple], pred: list[tuple]) -> tuple[int, ...]:
    """The column permutation maximizing value-set overlap (exhaustive up to 6 columns, else identity)."""
    width = len(gold[0])
    if width > 6:
        return tuple(range(width))
    g_sets = [{r[i] for r in gold} for i in range(width)]
    p_sets = [{r[j] for r in pred} for j in range(width)]
    score = [[len(g_sets[i] & p_sets[j]) for j in range(width)] for i in range(width)]
    return max(permutations(range(width)), key=lambda p: (sum(score[i][p[i]] for i in range(width)),
                                                           sum(p[i] == i for i in range(width))))


@lru_cache(maxsize=4096)
def orders_top_level(sql: str) -> bool:
    """Whether the outermost query has an ORDER BY (then row order is part of the answer)."""
    if not _ORDER_BY.search(sql):
        return False  # no ORDER BY anywhere: no need to parse
    import sqlglot
    from sqlglot import exp

    try:
        tree = sqlglot.parse_one(sql, read="sqlite")
    except sqlglot.errors.SqlglotError:
        return "order by" in sql.lower()
    return tree.args.get("order") is not None if isinstance(tree, (exp.Select, exp.Union, exp.Intersect, exp.Except)) else False
