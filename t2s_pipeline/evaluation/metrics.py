"""Execution accuracy and exact match for predicted SQL, and their breakdowns."""

from __future__ import annotations

from collections import defaultdict

import sqlglot

from t2s_pipeline.sql.compare import orders_top_level, results_match
from t2s_pipeline.sql.execute import execute_sql


def normalize_sql(sql: str) -> str:
    """sqlglot's canonical SQLite text, lower-cased; unparsable SQL is compared as whitespace-collapsed text."""
    try:
        return sqlglot.transpile(sql, read="sqlite", write="sqlite")[0].lower()
    except (sqlglot.errors.ParseError, sqlglot.errors.TokenError, IndexError):
        return " ".join(sql.split()).lower()


def judge(db_path, gold_sql: str, pred_sql: str, timeout_s: float = 5.0, gold_rows=None) -> dict:
    """A verdict for one prediction: correct, and why not (ok, wrong_result, exec_error, timeout, denied, not_sql)."""
    if gold_rows is None:
        gold = execute_sql(db_path, gold_sql, timeout_s=timeout_s * 6)
        if not gold.ok:
            return {"correct": False, "reason": f"gold_{gold.status}", "error": gold.error}
        gold_rows = gold.rows
    pred = execute_sql(db_path, pred_sql, timeout_s=timeout_s)
    if not pred.ok:
        return {"correct": False, "reason": pred.status, "error": pred.error}
    correct = results_match(gold_rows, pred.rows, ordered=orders_top_level(gold_sql))
    return {"correct": correct, "reason": "ok" if correct else "wrong_result", "error": ""}


def rate(values: list[bool]) -> float:
    return round(sum(values) / len(values), 4) if values else 0.0


def breakdown(predictions: list[dict], key: str, field: str = "ex") -> dict[str, dict]:
    """Accuracy grouped by a meta field (benchmark, db_id, difficulty)."""
    groups: dict[str, list[bool]] = defaultdict(list)
    for p in predictions:
        groups[str(p.get(key))].append(p[field])
    return {k: {"n": len(v), field: rate(v)} for k, v in sorted(groups.items())}
