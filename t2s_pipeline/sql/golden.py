"""The golden_pairs artifact: gold SQL kept only where it runs on its database.

Each gold query is executed read-only with a timeout, in parallel worker processes. Work is cut
into chunks of one database each, so a worker opens one connection per chunk. Output keeps the
input order. A query that runs and returns no rows is kept (legal), marked `empty_result`.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from collections import Counter, defaultdict
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from t2s_pipeline.records import make_reject, read_jsonl, write_json, write_jsonl
from t2s_pipeline.sql.compare import orders_top_level
from t2s_pipeline.sql.execute import OK, TIMEOUT, connect_readonly, execute_sql

STAGE = "golden_pairs"
CHUNK_SIZE = 200  # queries per task: big databases still spread over the workers


def build_golden_pairs(
    raw_dir: str | Path, out_dir: str | Path, timeout_s: float = 10.0, workers: int | None = None
) -> dict:
    """Execute every gold query of raw_dir/examples.jsonl; write pairs, rejects and stats to out_dir.

    workers: processes (default: all cores); 1 runs in this process. As with any multiprocessing,
    a script calling this with workers > 1 needs an `if __name__ == "__main__":` guard.
    """
    start = time.monotonic()
    raw_dir, out_dir = Path(raw_dir), Path(out_dir)
    examples = list(read_jsonl(raw_dir / "examples.jsonl"))
    outcomes = _run_all(raw_dir, examples, timeout_s, workers or os.cpu_count() or 1)

    pairs, rejects = [], []
    for example, outcome in zip(examples, outcomes):
        if outcome["status"] == OK:
            pairs.append({
                **example,
                "ordered": outcome["ordered"],
                "validation": "executed",
                "result_rows": outcome["rows"],
                "empty_result": outcome["rows"] == 0,
            })
        else:
            reason = "gold_timeout" if outcome["status"] == TIMEOUT else "gold_exec_error"
            rejects.append(make_reject(example["id"], STAGE, reason, f"{outcome['status']}: {outcome['error']}"))

    out_dir.mkdir(parents=True, exist_ok=True)
    write_jsonl(out_dir / "pairs.jsonl", pairs)
    write_jsonl(out_dir / "rejects.jsonl", rejects)
    stats = _stats(examples, pairs, rejects, time.monotonic() - start)
    write_json(out_dir / "stats.json", stats)
    return stats


def _run_all(raw_dir: Path, examples: list[dict], timeout_s: float, workers: int) -> list[dict]:
    """One outcome per example, in input order."""
    by_db: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for i, example in enumerate(examples):
        by_db[example["db_id"]].append((i, example["gold_sql"]))
    chunks = [
        (str(raw_dir / "databases" / f"{db_id}.sqlite"), items[k:k + CHUNK_SIZE], timeout_s)
        for db_id, items in by_db.items()
        for k in range(0, len(items), CHUNK_SIZE)
    ]
    outcomes: list[dict | None] = [None] * len(examples)
    if workers <= 1 or len(chunks) <= 1:
        results = map(_run_chunk, chunks)
    else:
        # forkserver: forking a multi-threaded parent (Dagster's) can deadlock; spawn-like but cheaper.
        context = multiprocessing.get_context("forkserver")
        pool = ProcessPoolExecutor(max_workers=min(workers, len(chunks)), mp_context=context)
        with pool:
            results = list(pool.map(_run_chunk, chunks))
    for chunk_outcomes in results:
        for i, outcome in chunk_outcomes:
            outcomes[i] = outcome
    return outcomes


def _run_chunk(task: tuple[str, list[tuple[int, str]], float]) -> list[tuple[int, dict]]:
    """Run one database's queries on one connection (a worker process calls this)."""
    db_path, items, timeout_s = task
    try:
        conn = connect_readonly(db_path)
    except FileNotFoundError as e:
        return [(i, {"status": "exec_error", "error": str(e)}) for i, _ in items]
    try:
        outcomes = []
        for i, sql in items:
            result = execute_sql(db_path, sql, timeout_s=timeout_s, conn=conn)
            outcome = {"status": result.status, "error": result.error}
            if result.ok:
                outcome.update(rows=len(result.rows), ordered=orders_top_level(sql))
            outcomes.append((i, outcome))
        return outcomes
    finally:
        conn.close()


def _stats(examples: list[dict], pairs: list[dict], rejects: list[dict], seconds: float) -> dict:
    benchmark_of = {e["id"]: e["benchmark"] for e in examples}
    by_benchmark: dict[str, Counter] = defaultdict(Counter)
    for e in examples:
        by_benchmark[e["benchmark"]]["input"] += 1
    for p in pairs:
        by_benchmark[p["benchmark"]]["kept"] += 1
    for r in rejects:
        by_benchmark[benchmark_of[r["id"]]]["rejected"] += 1
    return {
        "input": len(examples),
        "kept": len(pairs),
        "rejected": len(rejects),
        "rejects_by_reason": dict(Counter(r["reason"] for r in rejects)),
        "benchmarks": {name: {k: c[k] for k in ("input", "kept", "rejected")} for name, c in by_benchmark.items()},
        "empty_results": sum(p["empty_result"] for p in pairs),
        "validation_rate": round(len(pairs) / len(examples), 4) if examples else 0.0,
        "seconds": round(seconds, 3),
    }
