"""Many predictions judged at once by the one judge (sql/judge.py), as evaluation files record them.

A verdict record: {"correct", "reason", "error", "f1"} (+ "original_correct" on a test suite), reason one of
ok | wrong_result | exec_error | timeout | denied | not_sql, or gold_<status> when the gold query itself
fails (a missing database is an exec_error whose error says "database not found").

`judge_many` executes each distinct (database, gold query) once, lets a prediction whose text equals a
query already run on that database reuse its result, and hands the work to worker processes when it is
big enough to pay for them.
"""

from __future__ import annotations

import multiprocessing
import os
import sqlite3
import time
from collections import defaultdict
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

from t2s_pipeline.sql.compare import SPIDER, orders_top_level
from t2s_pipeline.sql.execute import EXEC_ERROR, ExecResult, connect_readonly, execute_sql
from t2s_pipeline.sql.judge import DEFAULT_MAX_ROWS, GOLD_TIMEOUT_FACTOR, judge_runs, prepare_sql

SEQUENTIAL_BUDGET_S = 0.5  # judge in this process for this long before handing the rest to workers


POOL_START_S = 1.0  # about what starting a forkserver pool and importing in its workers costs on 2 cores


def verdict(correct: bool, reason: str, error: str = "", f1: float = 0.0) -> dict:
    return {"correct": correct, "reason": reason, "error": error, "f1": f1}


def judge_many(
    items: list[tuple],
    timeout_s: float = 5.0,
    protocol: str = SPIDER,
    workers: int | None = None,
    cache: bool = True,
    max_rows: int = DEFAULT_MAX_ROWS,
    sequential_budget_s: float = SEQUENTIAL_BUDGET_S,
) -> list[dict]:
    """One verdict per (db_path, gold_sql, pred_sql) item, in input order.

    db_path: one database, or a sequence of them (the original first, then its test-suite variants):
    the prediction must match the gold on each (sql.judge.judge_runs), and the verdict then also says
    `original_correct`, the verdict of the original database alone.

    cache=True: items are grouped by (database, gold query), so each gold query runs once, and a
    prediction whose text equals a query already run in its group reuses that result.
    cache=False: every item runs its gold and its prediction (the plain sequential baseline).
    workers: processes to use (default: all cores); 1 keeps everything in this process. With more,
    groups are judged here first and, when that has taken longer than sequential_budget_s, the rest
    goes to a process pool, unless the rest should take less than POOL_START_S here: a pool costs
    about a second to start, more than a few hundred small queries take. (Scripts that call this need an `if __name__ == "__main__":` guard.)
    """
    groups: dict[tuple, list[tuple[int, str]]] = defaultdict(list)
    for i, (db_path, gold_sql, pred_sql) in enumerate(items):
        databases = _databases_key(db_path)
        key = (databases, gold_sql) if cache else (databases, gold_sql, i)
        groups[key].append((i, pred_sql))
    tasks = [(key[0], key[1], preds, timeout_s, protocol, max_rows, cache) for key, preds in groups.items()]
    out: list[dict | None] = [None] * len(items)
    workers = workers or os.cpu_count() or 1
    start, done = time.monotonic(), 0
    connections = _Connections()
    try:
        while done < len(tasks) and (workers <= 1 or _stay_sequential(time.monotonic() - start, done, len(tasks),
                                                                       sequential_budget_s)):
            for i, v in _judge_group(tasks[done], connections):
                out[i] = v
            done += 1
    finally:
        connections.close()
    rest = tasks[done:]
    if rest:
        try:
            # forkserver: forking a multi-threaded parent (Dagster's, torch's) can deadlock.
            context = multiprocessing.get_context("forkserver")
            n_workers = min(workers, len(rest))
            with ProcessPoolExecutor(max_workers=n_workers, mp_context=context) as pool:
                for results in pool.map(_judge_chunk, _chunks(rest, n_workers * 4)):
                    for i, v in results:
                        out[i] = v
        except (BrokenProcessPool, OSError):
            pass  # a worker died (or no pool could start): what is missing is judged here below
        missing = [task for task in rest if any(out[i] is None for i, _ in task[2])]
        connections = _Connections()
        try:
            for task in missing:
                for i, v in _judge_group(task, connections):
                    out[i] = v
        finally:
            connections.close()
    return out  # type: ignore[return-value]


def _stay_sequential(elapsed: float, done: int, total: int, budget_s: float) -> bool:
    """Within the budget; or past it, when the rest should take less here than a pool takes to start (small
    queries on a suite's many small databases)."""
    if elapsed < budget_s:
        return True
    return done > 0 and elapsed / done * (total - done) < POOL_START_S


def _databases_key(db_path) -> str | tuple[str, ...]:
    """One database as its path; a suite (the original first) as a tuple of paths."""
    if isinstance(db_path, (str, Path)):
        return str(db_path)
    paths = tuple(str(p) for p in db_path)
    return paths[0] if len(paths) == 1 else paths


def _chunks(tasks: list, n: int) -> list[list]:
    """About n contiguous chunks (tasks of one database stay together, so a worker reuses its connection)."""
    size = max(1, -(-len(tasks) // n))
    return [tasks[k:k + size] for k in range(0, len(tasks), size)]


class _Connections:
    """Read-only connections kept open per database file (one set per process)."""

    def __init__(self):
        self._open: dict[str, sqlite3.Connection | None] = {}

    def get(self, db_path: str) -> sqlite3.Connection | None:
        if db_path not in self._open:
            try:
                self._open[db_path] = connect_readonly(db_path)
            except (FileNotFoundError, sqlite3.Error):
                self._open[db_path] = None
        return self._open[db_path]

    def close(self) -> None:
        for conn in self._open.values():
            if conn is not None:
                conn.close()
        self._open.clear()


_WORKER_CONNECTIONS: _Connections | None = None


def _judge_chunk(tasks: list) -> list[tuple[int, dict]]:
    """Worker process entry: judge a few groups, keeping connections open for the next chunk."""
    global _WORKER_CONNECTIONS
    if _WORKER_CONNECTIONS is None:
        _WORKER_CONNECTIONS = _Connections()
    out = []
    for task in tasks:
        out.extend(_judge_group(task, _WORKER_CONNECTIONS))
    return out


def _judge_group(task: tuple, connections: _Connections) -> list[tuple[int, dict]]:
    """Judge every prediction of one (databases, gold query): the gold runs once per database."""
    databases, gold_sql, preds, timeout_s, protocol, max_rows, cache = task
    paths = [databases] if isinstance(databases, str) else list(databases)
    suite = len(paths) > 1
    if connections.get(paths[0]) is None:
        if not Path(paths[0]).is_file():
            return [(i, verdict(False, EXEC_ERROR, f"database not found: {paths[0]}")) for i, _ in preds]
        return [(i, verdict(False, EXEC_ERROR, f"cannot open database {paths[0]}")) for i, _ in preds]

    def run(d: int, sql: str, limit: float) -> ExecResult:
        conn = connections.get(paths[d])
        if conn is None:
            return ExecResult(EXEC_ERROR, error=f"cannot open database {paths[d]}")
        return execute_sql(paths[d], sql, timeout_s=limit, max_rows=max_rows, conn=conn)

    results: dict[tuple[int, str], ExecResult] = {}
    gold_key = statement_key(gold_sql)

    def gold_on(d: int) -> ExecResult:
        if (d, gold_key) not in results:
            results[(d, gold_key)] = run(d, gold_sql, timeout_s * GOLD_TIMEOUT_FACTOR)
        return results[(d, gold_key)]

    ordered = orders_top_level(gold_sql)
    if suite and ordered:  # on a suite variant where ties leave the gold's order open, rows compare as multisets
        from t2s_pipeline.sql.test_suite_read import orders_on

        ordered = orders_on(paths, gold_sql, ordered)
    names = [Path(p).name for p in paths]
    out = []
    for i, pred_sql in preds:
        sql = prepare_sql(pred_sql)
        key = statement_key(sql)

        def pred_on(d: int) -> ExecResult:
            if not cache:
                return run(d, sql, timeout_s)
            if (d, key) not in results:
                results[(d, key)] = run(d, sql, timeout_s)
            return results[(d, key)]

        if not cache:  # the uncached baseline runs the gold again for every prediction
            results.clear()
        out.append((i, judge_runs(len(paths), gold_on, pred_on, ordered, protocol, names).as_dict(suite)))
    return out


def statement_key(sql: str) -> str:
    """Texts that SQLite runs identically: whitespace and a trailing ';' do not matter."""
    return " ".join((sql or "").split()).rstrip(";").strip()
