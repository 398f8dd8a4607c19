"""The golden_pairs artifact: gold SQL proven by execution, rewritten into pipe SQL, the rewrite proven.

For every example of raw_dir/examples.jsonl (sql/validate.py does the work for one):
- the gold query runs read-only with a timeout on its database. If it fails, the example is
  rejected (`gold_exec_error`, `gold_timeout`) and leaves the chain.
- if it runs, the pair is kept in pairs.jsonl whatever happens to its pipe rewrite, so the `sql`
  target never loses a question to the rewrite. `validation` says what the rewrite came to:
  `match` (then `pipe_sql` and `pipe_ops` are set) or the reason it was not proven
  (`rewrite_unsupported:<construct>`, `pipe_parse_error`, `pipe_exec_error`, `pipe_mismatch`,
  `prefix_error`); such a pair has no `pipe_sql`, and rejects.jsonl also gets a record for the
  failed rewrite (stage golden_pairs, that reason).
The records raw_benchmarks rejected while loading (raw_dir/rejects.jsonl: bad_record, missing_database,
gold_parse_error, duplicate, ...) are carried into rejects.jsonl as they are, so every record of the
source is in pairs.jsonl or rejects.jsonl with its id and reason.
Counts: input (every record of the source) = kept + rejected (load rejects + gold rejects);
examples = input - rejected_at_load (what this stage executed); kept = pipe_validated + pipe_rejected.
validation_rate = pipe_validated / examples: the share of loaded questions with a proven pipe rewrite
(a database missing from the source copy is not the rewrite's failure).
With pipe=False the rewrite is skipped: validation is `executed` and validation_rate = kept / examples.

The input streams through in blocks (BLOCK_SIZE examples), so memory does not grow with it. Within a
block, work runs in parallel (worker processes and this one), in chunks of one database each (one
connection per chunk); output keeps the input order. A query that runs and returns no rows is kept, marked `empty_result`.
"""

from __future__ import annotations

import gc
import json
import multiprocessing
import os
import threading
import time
from collections import Counter, defaultdict
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from t2s_pipeline.records import make_reject, read_json, read_jsonl, write_json
from t2s_pipeline.sql.execute import OK, TIMEOUT, connect_readonly, execute_sql
from t2s_pipeline.sql.validate import MATCH, reason_construct, validate_pair

STAGE = "golden_pairs"
CHUNK_SIZE = 16  # queries per task: small, so the processes finish close together
BLOCK_SIZE = 50_000  # examples in memory at once: millions of rows stream through in blocks


def build_golden_pairs(
    raw_dir: str | Path,
    out_dir: str | Path,
    timeout_s: float = 10.0,
    workers: int | None = None,
    pipe: bool = True,
    block_size: int = BLOCK_SIZE,
) -> dict:
    """Validate every gold query of raw_dir/examples.jsonl; write pairs, rejects and stats to out_dir.

    workers: processes working, this one included (default: all cores); 1 runs in this process only.
    As with any multiprocessing, a script calling this with workers > 1 needs an
    `if __name__ == "__main__":` guard.
    pipe: also rewrite each gold query into pipe SQL and prove the rewrite (the default).
    block_size: examples held in memory at once; the input streams through in blocks of this many.
    """
    start = time.monotonic()
    raw_dir, out_dir = Path(raw_dir), Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    columns = _known_columns(raw_dir) if pipe else {}
    counts = GoldenCounts(pipe)
    with open(out_dir / "pairs.jsonl", "w", encoding="utf-8") as pairs, \
            open(out_dir / "rejects.jsonl", "w", encoding="utf-8") as rejects:
        load_rejects = raw_dir / "rejects.jsonl"
        for reject in read_jsonl(load_rejects) if load_rejects.is_file() else ():
            counts.add_load_reject(reject)
            rejects.write(json.dumps(reject, ensure_ascii=False) + "\n")
        for block in _blocks(read_jsonl(raw_dir / "examples.jsonl"), block_size):
            outcomes = _run_all(raw_dir, block, columns, timeout_s, workers or os.cpu_count() or 1, pipe)
            for example, outcome in zip(block, outcomes):
                pair, reject = _pair_and_reject(example, outcome, pipe)
                counts.add(example, pair, reject)
                if pair is not None:
                    pairs.write(json.dumps(pair, ensure_ascii=False) + "\n")
                if reject is not None:
                    rejects.write(json.dumps(reject, ensure_ascii=False) + "\n")
    stats = counts.stats(time.monotonic() - start)
    write_json(out_dir / "stats.json", stats)
    return stats


def _blocks(records, size: int):
    block = []
    for record in records:
        block.append(record)
        if len(block) == size:
            yield block
            block = []
    if block:
        yield block


def _pair_and_reject(example: dict, outcome: dict, pipe: bool) -> tuple[dict | None, dict | None]:
    """What one example gives: a pair when its gold runs, a reject when the gold or (with pipe) the rewrite fails."""
    if outcome["gold"] != "ok":
        return None, make_reject(example["id"], STAGE, outcome["gold"], outcome["gold_detail"])
    pair = {**example, "ordered": outcome["ordered"], "validation": outcome["validation"],
            "result_rows": outcome["result_rows"], "empty_result": outcome["result_rows"] == 0}
    if outcome["validation"] == MATCH:
        pair.update(pipe_sql=outcome["pipe_sql"], pipe_ops=outcome["pipe_ops"])
        return pair, None
    return pair, make_reject(example["id"], STAGE, outcome["validation"], outcome["detail"]) if pipe else None


def _known_columns(raw_dir: Path) -> dict[str, list[str]]:
    """db_id -> every column name of its schema (tells Spider's "France" from a quoted column)."""
    path = raw_dir / "schemas.json"
    schemas = read_json(path) if path.is_file() else {}
    return {db_id: sorted({c["name"] for t in schema.get("tables", []) for c in t.get("columns", [])})
            for db_id, schema in schemas.items()}


def _run_all(raw_dir: Path, examples: list[dict], columns: dict, timeout_s: float, workers: int,
             pipe: bool) -> list[dict]:
    """One outcome per example, in input order."""
    by_db: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for i, example in enumerate(examples):
        by_db[example["db_id"]].append((i, example["gold_sql"]))
    chunks = [
        (str(raw_dir / "databases" / f"{db_id}.sqlite"), items[k:k + CHUNK_SIZE], timeout_s,
         columns.get(db_id), pipe)
        for db_id, items in by_db.items()
        for k in range(0, len(items), CHUNK_SIZE)
    ]
    chunks.sort(key=lambda c: -len(c[1]))  # big chunks first: the last ones to finish are small
    outcomes: list[dict | None] = [None] * len(examples)
    if workers <= 1 or len(chunks) <= 1:
        results = list(map(_run_chunk, chunks))
    else:
        results = _run_parallel(chunks, min(workers, len(chunks)))
    for chunk_outcomes in results:
        for i, outcome in chunk_outcomes:
            outcomes[i] = outcome
    return outcomes


def _run_parallel(chunks: list, workers: int) -> list:
    """workers - 1 processes take chunks from the front, this process takes them from the back.

    So no core waits on an idle parent, and one process fewer is started. gc.freeze(): forked
    workers then do not copy the parent's memory pages just to update garbage-collector headers.
    """
    gc.collect()
    gc.freeze()
    try:
        with ProcessPoolExecutor(max_workers=workers - 1, mp_context=_mp_context()) as pool:
            futures = [pool.submit(_run_chunk, chunk) for chunk in chunks]
            mine = {}
            for k in range(len(chunks) - 1, -1, -1):
                if not futures[k].cancel():  # a worker has it already, and every chunk before it
                    break
                mine[k] = _run_chunk(chunks[k])
            return [mine[k] if k in mine else futures[k].result() for k in range(len(chunks))]
    finally:
        gc.unfreeze()


def _mp_context():
    """fork when this process runs one thread (a script, the CLI): workers start at once with
    everything imported. With other threads (Dagster's), forking can deadlock: forkserver, with
    this module preloaded so each worker does not import sqlglot again."""
    if threading.active_count() == 1 and "fork" in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("fork")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([__name__])
    return context


def _run_chunk(task) -> list[tuple[int, dict]]:
    """Validate one database's queries on one connection (a worker process calls this)."""
    db_path, items, timeout_s, columns, pipe = task
    try:
        conn = connect_readonly(db_path)
    except FileNotFoundError as e:
        return [(i, _gold_failure("exec_error", str(e))) for i, _ in items]
    known = set(columns) if columns is not None else None
    try:
        outcomes = []
        for i, sql in items:
            if pipe:
                outcome = validate_pair(db_path, sql, known, timeout_s=timeout_s, conn=conn)
            else:
                outcome = _execute_only(db_path, sql, timeout_s, conn)
            outcomes.append((i, outcome))
        return outcomes
    finally:
        conn.close()


def _execute_only(db_path, sql: str, timeout_s: float, conn) -> dict:
    from t2s_pipeline.sql.compare import orders_top_level

    result = execute_sql(db_path, sql, timeout_s=timeout_s, conn=conn)
    if result.status != OK:
        return _gold_failure(result.status, result.error)
    return {"gold": "ok", "gold_detail": "", "result_rows": len(result.rows), "ordered": orders_top_level(sql),
            "validation": "executed", "detail": "", "pipe_sql": None, "pipe_ops": None}


def _gold_failure(status: str, error: str) -> dict:
    return {"gold": "gold_timeout" if status == TIMEOUT else "gold_exec_error", "gold_detail": f"{status}: {error}",
            "result_rows": 0, "ordered": False, "validation": None, "detail": "", "pipe_sql": None, "pipe_ops": None}


class GoldenCounts:
    """The counts of stats.json, added up example by example (the input streams through in blocks)."""

    def __init__(self, pipe: bool = True):
        self.pipe = pipe
        self.total = Counter()
        self.reasons, self.constructs, self.operators = Counter(), Counter(), Counter()
        self.by_benchmark: dict[str, Counter] = defaultdict(Counter)

    def add_load_reject(self, reject: dict) -> None:
        """A record raw_benchmarks rejected: input, and rejected, before this stage."""
        bench = self.by_benchmark[reject["id"].rsplit("/", 2)[0]]  # ids are <benchmark>/<split>/<n>
        for counter in (self.total, bench):
            counter["input"] += 1
            counter["rejected"] += 1
            counter["rejected_at_load"] += 1
        self.reasons[reject["reason"]] += 1

    def add(self, example: dict, pair: dict | None, reject: dict | None) -> None:
        bench = self.by_benchmark[example["benchmark"]]
        self.total["input"] += 1
        self.total["examples"] += 1
        bench["input"] += 1
        if reject is not None:
            self.reasons[reject["reason"]] += 1
        if pair is None:
            self.total["rejected"] += 1
            bench["rejected"] += 1
            return
        self.total["kept"] += 1
        bench["kept"] += 1
        self.total["empty_results"] += pair["empty_result"]
        if pair["validation"] == MATCH:
            self.total["pipe_validated"] += 1
            bench["pipe_validated"] += 1
            self.operators.update(pair["pipe_ops"])
        elif reject is not None:
            self.total["pipe_rejected"] += 1
            if construct := reason_construct(reject["reason"]):
                self.constructs[construct] += 1

    def stats(self, seconds: float) -> dict:
        t = self.total
        proven = t["pipe_validated"] if self.pipe else t["kept"]
        stats = {
            "input": t["input"],
            "kept": t["kept"],
            "rejected": t["rejected"],
            "rejected_at_load": t["rejected_at_load"],
            "examples": t["examples"],
            "pipe_validated": t["pipe_validated"],
            "pipe_rejected": t["pipe_rejected"],
            "rejects_by_reason": dict(self.reasons.most_common()),
            "unsupported_constructs": dict(self.constructs.most_common()),
            "benchmarks": {name: {k: c[k] for k in ("input", "kept", "rejected", "rejected_at_load", "pipe_validated")}
                           for name, c in self.by_benchmark.items()},
            "empty_results": t["empty_results"],
            "operators": dict(self.operators.most_common()),
            "validation": "pipe" if self.pipe else "execution",
            "validation_rate": round(proven / t["examples"], 4) if t["examples"] else 0.0,
            "seconds": round(seconds, 3),
        }
        unproven = t["kept"] - t["pipe_validated"]
        if t["input"] != t["kept"] + t["rejected"] or t["examples"] != t["input"] - t["rejected_at_load"] \
                or (self.pipe and unproven != t["pipe_rejected"]):
            raise AssertionError(f"golden_pairs counts do not reconcile: {stats}")
        return stats
