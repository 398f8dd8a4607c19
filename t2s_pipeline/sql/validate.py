"""Prove a pipe rewrite equal to its gold query by execution.

The gold and the pipe query (read back with sqlglot, read="sqlite", write="sqlite") run read-only
with a timeout on the benchmark database: the gold through execute_sql's sandbox, the rewrite (made
only of what the gold holds) through run_rewrite, the same read-only connection without the text
screening and authorizer that would cost as much as the query. They match only if both have the same number of
columns and the same rows: as ordered lists when the gold orders its top level, as multisets
otherwise, floats compared after rounding (compare.results_match). Every proper prefix of the
pipe query must execute too, since each one becomes a training prompt.

When the first rewrite does not match and it made a choice that has an alternative (a bare
column put into GROUP BY rather than wrapped; a subquery in pipe form rather than standard SQL),
the alternatives are tried in turn; the first that matches is kept, else the first failure is
reported. Outcomes carry a reason code:
`gold_exec_error`, `gold_timeout`, `rewrite_unsupported:<construct>`, `pipe_parse_error`,
`pipe_exec_error`, `pipe_mismatch`, `prefix_error`.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import sqlglot

from t2s_pipeline.sql.compare import results_match
from t2s_pipeline.sql.execute import (
    EXEC_ERROR, OK, PROGRESS_EVERY, TIMEOUT, ExecResult, connect_readonly, execute_sql,
)
from t2s_pipeline.sql.pipe import PipeQuery, Unsupported, parse_sql, read_pipe, to_pipe, top_level_ordered

MATCH = "match"
GOLD_REASONS = ("gold_exec_error", "gold_timeout")
PIPE_REASONS = ("rewrite_unsupported", "pipe_parse_error", "pipe_exec_error", "pipe_mismatch", "prefix_error")


def validate_pair(
    db_path: str | Path,
    gold_sql: str,
    known_columns: set[str] | None = None,
    timeout_s: float = 10.0,
    max_rows: int = 100_000,
    conn: sqlite3.Connection | None = None,
) -> dict:
    """Execute the gold, rewrite it into pipe SQL and prove the rewrite; never raises for bad SQL.

    Returns {"gold": "ok" | "gold_exec_error" | "gold_timeout", "gold_detail", "result_rows",
    "ordered", "validation": "match" | a reason code | None (gold failed), "detail",
    "pipe_sql", "pipe_ops"} (pipe_sql and pipe_ops only when validation is "match").
    """
    gold = execute_sql(db_path, gold_sql, timeout_s=timeout_s, max_rows=max_rows, conn=conn)
    outcome = {"gold": "ok", "gold_detail": "", "result_rows": len(gold.rows), "ordered": False,
               "validation": None, "detail": "", "pipe_sql": None, "pipe_ops": None}
    if not gold.ok:
        outcome["gold"] = "gold_timeout" if gold.status == TIMEOUT else "gold_exec_error"
        outcome["gold_detail"] = f"{gold.status}: {gold.error}"
        return outcome
    try:
        tree = parse_sql(gold_sql)
    except sqlglot.errors.SqlglotError as e:
        outcome.update(validation="rewrite_unsupported:gold_parse", detail=_first_line(e))
        return outcome
    outcome["ordered"] = top_level_ordered(tree)

    first_failure = None
    options: list[dict] = [{}]
    for i, option in enumerate(options):
        try:
            pipe = to_pipe(tree, known_columns, **option)
        except Unsupported as e:
            failure = (f"rewrite_unsupported:{e.construct}", str(e))
        else:
            failure = check_pipe(db_path, pipe, gold, outcome["ordered"], timeout_s, max_rows, conn)
            if failure is None:
                outcome.update(validation=MATCH, pipe_sql=pipe.sql, pipe_ops=list(pipe.ops))
                return outcome
            if i == 0:
                options += _alternatives(pipe)
        first_failure = first_failure or failure
    outcome["validation"], outcome["detail"] = first_failure
    return outcome


def check_pipe(db_path, pipe: PipeQuery, gold: ExecResult, ordered: bool, timeout_s: float = 10.0,
               max_rows: int = 100_000, conn: sqlite3.Connection | None = None) -> tuple[str, str] | None:
    """None when the pipe query proves equal to the gold result, else (reason, detail)."""
    try:
        full, prefixes = read_pipe(pipe.sql)
    except Exception as e:  # noqa: BLE001 - sqlglot also fails with ValueError and others; never crash a run
        return "pipe_parse_error", f"{type(e).__name__}: {_first_line(e)} | {pipe.sql}"
    if len(prefixes) != len(pipe.steps) - 1 or "|>" not in pipe.sql:
        return "pipe_parse_error", f"sqlglot read {len(prefixes) + 1} steps, wrote {len(pipe.steps)} | {pipe.sql}"
    result = run_rewrite(db_path, full, timeout_s, max_rows, conn)
    if result.status != OK:
        return "pipe_exec_error", f"{result.status}: {result.error} | {full}"
    if len(result.columns) != len(gold.columns):
        return "pipe_mismatch", f"{len(result.columns)} columns, gold has {len(gold.columns)} | {pipe.sql}"
    if not results_match(gold.rows, result.rows, ordered):
        return "pipe_mismatch", (f"{len(result.rows)} rows, gold has {len(gold.rows)}"
                                 f"{' (ordered)' if ordered else ''} | {pipe.sql}")
    for k, prefix in enumerate(prefixes, start=1):
        error = run_prefix(db_path, prefix, timeout_s, conn)
        if error:
            return "prefix_error", f"after step {k}: {error} | {prefix}"
    return None


def run_prefix(db_path, sql: str, timeout_s: float = 10.0, conn: sqlite3.Connection | None = None) -> str:
    """Run one prefix and fetch its first row: "" when it runs, else the error."""
    result = run_rewrite(db_path, sql, timeout_s, max_rows=1, conn=conn)
    return "" if result.ok else f"{result.status}: {result.error}"


def run_rewrite(db_path, sql: str, timeout_s: float = 10.0, max_rows: int = 100_000,
                conn: sqlite3.Connection | None = None) -> ExecResult:
    """Run sqlglot's SQLite text of a pipe rewrite (or of a prefix) read-only, with a deadline.

    The text is sqlglot's writing of a rewrite of a gold query that already ran in execute_sql's
    sandbox: it holds no statement and no function the gold did not, so it skips the sandbox's
    screening of the text and its authorizer, which here cost as much as the query. The connection
    is still read-only (mode=ro), the deadline and the row cap still hold.
    """
    own = conn is None
    conn = conn or connect_readonly(db_path)
    start = time.monotonic()
    deadline = start + timeout_s
    conn.set_progress_handler(lambda: 1 if time.monotonic() > deadline else 0, PROGRESS_EVERY)
    try:
        cursor = conn.execute(sql)
        rows = cursor.fetchmany(max_rows + 1)
        columns = [d[0] for d in cursor.description or []]
        cursor.close()
        return ExecResult(OK, rows[:max_rows], columns, seconds=time.monotonic() - start,
                          truncated=len(rows) > max_rows)
    except sqlite3.OperationalError as e:
        if "interrupted" in str(e):
            return ExecResult(TIMEOUT, error=f"exceeded {timeout_s}s", seconds=time.monotonic() - start)
        return ExecResult(EXEC_ERROR, error=str(e), seconds=time.monotonic() - start)
    except (sqlite3.Error, ValueError, OverflowError) as e:
        return ExecResult(EXEC_ERROR, error=f"{type(e).__name__}: {e}", seconds=time.monotonic() - start)
    finally:
        conn.set_progress_handler(None, 0)
        if own:
            conn.close()


def _alternatives(pipe: PipeQuery) -> list[dict]:
    options = []
    if "bare_column" in pipe.flags:
        options.append({"bare": "wrap"})
    if "pipe_subquery" in pipe.flags:
        options.append({"pipe_subqueries": False})
        if "bare_column" in pipe.flags:
            options.append({"pipe_subqueries": False, "bare": "wrap"})
    return options


def reason_construct(reason: str) -> str | None:
    """`rewrite_unsupported:with` -> `with`; other reasons -> None."""
    prefix = "rewrite_unsupported:"
    return reason[len(prefix):] if reason and reason.startswith(prefix) else None


def _first_line(error: Exception) -> str:
    return (str(error).splitlines() or [type(error).__name__])[0]
