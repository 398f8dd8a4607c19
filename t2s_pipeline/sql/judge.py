"""The judge: is a predicted query correct, on the original database and on every database of its test suite?

    from t2s_pipeline.sql.judge import judge
    verdict = judge(pred_sql, gold_sql, [original_db, *suite_variants], ordered=None, timeout_s=5.0)
    verdict.correct, verdict.reason, verdict.original_correct

Every place that scores a prediction (eval_report, `t2s eval`, a training reward) goes through
`judge_runs`, the rule itself: the prediction is correct only when its result matches the gold's on
every database (compared as `sql.compare.results_match` says). The first database is the original:
a gold query that fails there is a gold failure (reason gold_<status>); a gold query that errors or
times out on a later database drops that database, it never counts against the prediction. Judging
stops at the first database where the prediction differs.
"""

from __future__ import annotations

import re
import sqlite3
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Sequence

from t2s_pipeline.sql.compare import SPIDER, orders_top_level, results_match, row_f1
from t2s_pipeline.sql.execute import EXEC_ERROR, OK, WRONG_RESULT, ExecResult, execute_sql

GOLD_TIMEOUT_FACTOR = 6  # the gold query gets this many times the prediction's time limit
DEFAULT_MAX_ROWS = 100_000


_PIPE = re.compile(r"\|>")


def prepare_sql(sql: str) -> str:
    """The SQL to execute: pipe SQL (`FROM t |> WHERE ...`) read back into standard SQLite with sqlglot.

    Text without a pipe operator, or that sqlglot cannot read, is returned unchanged (SQLite then
    reports the error).
    """
    if not _PIPE.search(sql or ""):
        return sql
    import sqlglot

    try:
        return sqlglot.transpile(sql, read="sqlite", write="sqlite")[0]
    except (sqlglot.errors.SqlglotError, IndexError):
        return sql


@dataclass(frozen=True)
class Verdict:
    correct: bool
    reason: str  # ok | wrong_result | exec_error | timeout | denied | not_sql | gold_<status>
    error: str = ""  # what went wrong; for a suite-only failure, which database told them apart
    f1: float = 0.0  # record F1 on the database that decided (1.0 when correct)
    original_correct: bool | None = None  # the verdict the original database alone would give
    databases: int = 1  # databases the prediction was compared on (gold failures on variants not counted)

    def as_dict(self, suite: bool = False) -> dict:
        """The verdict record of evaluation files: correct, reason, error, f1 (+ original_correct for a suite)."""
        out = asdict(self)
        del out["databases"]
        if not suite:
            del out["original_correct"]
        return out


def compare_runs(gold: ExecResult, pred: ExecResult, ordered: bool, protocol: str = SPIDER) -> Verdict:
    """The verdict on one database for a prediction and a gold query that both ran."""
    if pred.truncated and not gold.truncated:
        return Verdict(False, WRONG_RESULT, f"more than {len(gold.rows)} rows (the gold has {len(gold.rows)})",
                       row_f1(gold.rows, pred.rows))
    correct = results_match(gold.rows, pred.rows, ordered, protocol)
    note = "both results reached the row cap: compared on the first rows" if gold.truncated and pred.truncated else ""
    return Verdict(correct, OK if correct else WRONG_RESULT, note, 1.0 if correct else row_f1(gold.rows, pred.rows))


def gold_failure(gold: ExecResult) -> Verdict:
    if gold.error.startswith("database not found"):
        return Verdict(False, EXEC_ERROR, gold.error)
    return Verdict(False, f"gold_{gold.status}", gold.error)


def judge_runs(n_databases: int, gold_on: Callable[[int], ExecResult], pred_on: Callable[[int], ExecResult],
               ordered: bool | Sequence[bool], protocol: str = SPIDER, names: Sequence[str] = ()) -> Verdict:
    """The rule, over databases 0..n-1 (0 the original); gold_on(i) / pred_on(i) run a query on database i.
    ordered: whether row order counts, for all databases or one flag per database."""
    order_on = (lambda i: ordered) if isinstance(ordered, bool) else (lambda i: ordered[i])
    gold = gold_on(0)
    if not gold.ok:
        return gold_failure(gold)
    pred = pred_on(0)
    if not pred.ok:
        return Verdict(False, pred.status, pred.error, original_correct=False)
    first = compare_runs(gold, pred, order_on(0), protocol)
    if not first.correct:
        return Verdict(False, first.reason, first.error, first.f1, original_correct=False)
    used = 1
    for i in range(1, n_databases):
        gold = gold_on(i)
        if not gold.ok:
            continue  # the gold cannot answer on this variant: the variant does not judge this question
        used += 1
        where = names[i] if i < len(names) else f"database {i}"
        pred = pred_on(i)
        if not pred.ok:
            return Verdict(False, pred.status, f"on {where}: {pred.error}", original_correct=True, databases=used)
        verdict = compare_runs(gold, pred, order_on(i), protocol)
        if not verdict.correct:
            return Verdict(False, verdict.reason, f"differs from the gold on {where}", verdict.f1,
                           original_correct=True, databases=used)
    return Verdict(True, OK, first.error, 1.0, original_correct=True, databases=used)


def judge(pred_sql: str, gold_sql: str, databases: Sequence[str | Path], ordered: bool | None = None,
          timeout_s: float = 5.0, protocol: str = SPIDER, max_rows: int = DEFAULT_MAX_ROWS,
          connections: dict[str, sqlite3.Connection] | None = None) -> Verdict:
    """Judge one prediction on `databases` (the original first, then its suite variants, if any).

    ordered: whether row order counts (default: the gold orders its top level, except on a suite variant
    where ties leave the order of its rows open: test_suite_read.orders_on). timeout_s: per predicted
    query; the gold gets GOLD_TIMEOUT_FACTOR times as long. Pipe SQL is read back into SQLite first.
    connections: optional {path: open read-only connection}, reused across calls (a reward loop).
    Never raises for bad SQL: the verdict's reason says what happened.
    """
    if not databases:
        raise ValueError("judge needs at least one database (the original)")
    paths = [str(p) for p in databases]
    pred_sql = prepare_sql(pred_sql)

    def run(i: int, sql: str, limit: float) -> ExecResult:
        conn = (connections or {}).get(paths[i])
        return execute_sql(paths[i], sql, timeout_s=limit, max_rows=max_rows, conn=conn)

    if ordered is None:  # the gold's ORDER BY; on a suite variant where ties leave it open, multisets
        from t2s_pipeline.sql.test_suite_read import orders_on

        ordered = orders_on(paths, gold_sql, orders_top_level(gold_sql))
    return judge_runs(len(paths), lambda i: run(i, gold_sql, timeout_s * GOLD_TIMEOUT_FACTOR),
                      lambda i: run(i, pred_sql, timeout_s), ordered, protocol, [Path(p).name for p in paths])
