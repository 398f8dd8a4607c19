"""Execution accuracy, record F1 and exact match for predicted SQL, their breakdowns, Spider hardness.

A verdict for one prediction: {"correct", "reason", "error", "f1"}, reason one of
ok | wrong_result | exec_error | timeout | denied | not_sql, or gold_<status> when the gold query
itself fails (a missing database is an exec_error whose error says "database not found").

The rule itself (one database or a test suite: right on every database) is sql/judge.py's; a verdict
judged on a suite also says `original_correct`, the verdict of the original database alone.

`judge_many` scores a list of predictions: each distinct (database, gold query) is executed once,
a prediction whose text equals a query already run on that database reuses its result, and the work
goes to worker processes when it is big enough to pay for them (see `judge_many`).
"""

from __future__ import annotations

import math
import multiprocessing
import os
import sqlite3
import time
from collections import defaultdict
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

from t2s_pipeline.sql.compare import SPIDER, orders_top_level
from t2s_pipeline.sql.execute import EXEC_ERROR, OK, ExecResult, connect_readonly, execute_sql
from t2s_pipeline.sql.judge import DEFAULT_MAX_ROWS, GOLD_TIMEOUT_FACTOR, judge_runs, prepare_sql
from t2s_pipeline.sql.judge import judge as judge_sql
SEQUENTIAL_BUDGET_S = 0.5  # judge in this process for this long before handing the rest to workers
POOL_START_S = 1.0  # about what starting a forkserver pool and importing in its workers costs on 2 cores


# --- SQL text --------------------------------------------------------------------------------------


def normalize_sql(sql: str) -> str:
    """sqlglot's canonical SQLite text, lower-cased; unparsable SQL is compared as whitespace-collapsed text."""
    import sqlglot

    try:
        return sqlglot.transpile(sql, read="sqlite", write="sqlite")[0].lower()
    except (sqlglot.errors.SqlglotError, IndexError):
        return " ".join(sql.split()).lower()


def exact_match(gold_sql: str, pred_sql: str) -> bool:
    """Exact match after sqlglot normalization (an empty prediction never matches)."""
    return bool(pred_sql.strip()) and normalize_sql(pred_sql) == normalize_sql(gold_sql)


# --- one verdict -----------------------------------------------------------------------------------


def verdict(correct: bool, reason: str, error: str = "", f1: float = 0.0) -> dict:
    return {"correct": correct, "reason": reason, "error": error, "f1": f1}


def judge(db_path, gold_sql: str, pred_sql: str, timeout_s: float = 5.0, gold_rows=None, protocol: str = SPIDER,
          ordered: bool | None = None, max_rows: int = DEFAULT_MAX_ROWS) -> dict:
    """A verdict record for one prediction (see the module doc). db_path: one database, or a list (the original
    first, then its test-suite variants: see sql.judge). gold_rows: the gold result on the original, when known."""
    databases = [db_path] if isinstance(db_path, (str, Path)) else list(db_path)
    if gold_rows is None:
        return judge_sql(pred_sql, gold_sql, databases, ordered, timeout_s, protocol, max_rows).as_dict(
            suite=len(databases) > 1)
    known = ExecResult(OK, list(gold_rows))
    run = lambda i, sql, limit: execute_sql(databases[i], sql, timeout_s=limit, max_rows=max_rows)
    pred_sql = prepare_sql(pred_sql)
    return judge_runs(len(databases), lambda i: known if i == 0 else run(i, gold_sql, timeout_s * GOLD_TIMEOUT_FACTOR),
                      lambda i: run(i, pred_sql, timeout_s), orders_top_level(gold_sql) if ordered is None else ordered,
                      protocol).as_dict(suite=len(databases) > 1)


# --- many verdicts, cached and in parallel ------------------------------------------------------------


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
    gold_key = _key(gold_sql)

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
        key = _key(sql)

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


def _key(sql: str) -> str:
    """Texts that SQLite runs identically: whitespace and a trailing ';' do not matter."""
    return " ".join((sql or "").split()).rstrip(";").strip()


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
        result["answers_changed"] = sum(_key(b) != _key(a) for b, a in zip(before_sql, after_sql))
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
