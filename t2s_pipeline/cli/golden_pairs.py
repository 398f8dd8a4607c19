"""`t2s golden-pairs`: the golden_pairs stage outside Dagster, on a benchmark folder.

    t2s golden-pairs --benchmark spider --root ../shared/benchmarks/spider --out golden/

loads the benchmark (as raw_benchmarks does), then runs the same code as the golden_pairs asset and
writes the same files into --out: pairs.jsonl, rejects.jsonl, stats.json (the loaded benchmark goes
to --raw, a temporary folder by default). Every record of the split files ends up in pairs.jsonl or
rejects.jsonl (load rejects too) and stats.json has input = kept + rejected. A split file cut off
inside its JSON array stops the command (exit 2) with the file and the byte offset. `--speed` also times, in this one process, the work no
implementation can skip (parse each gold query with sqlglot, one sqlglot round trip sqlite -> sqlite,
execute it twice) and prints it next to the golden-pairs time, with the ratio (`--repeat N`: the
best of N runs of each, which keeps other load on the machine from deciding the figure).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

BENCHMARKS = ("spider", "bird", "embedded")


def load(benchmark: str, root: str | None, work_dir: Path, split: str | None = None):
    """The LoadedBenchmark for a named benchmark folder (embedded: generated under work_dir)."""
    from t2s_pipeline.benchmarks.sources import load_embedded
    from t2s_pipeline.benchmarks.spider import DEFAULT_SPLIT_FILES, load_spider

    if benchmark == "embedded":
        return load_embedded(work_dir / "embedded")
    if root is None:
        raise SystemExit(f"--root is required for --benchmark {benchmark}")
    if benchmark == "bird":  # BIRD's own layout: dev.json, dev_tables.json, dev_databases/<db>/<db>.sqlite
        split = split or "dev"
        return load_spider(root, benchmark="bird", split_files={split: f"{split}.json"},
                           tables_file=f"{split}_tables.json", database_dir=f"{split}_databases")
    files = DEFAULT_SPLIT_FILES if split is None else {split: DEFAULT_SPLIT_FILES.get(split, f"{split}.json")}
    return load_spider(root, benchmark=benchmark, split_files=files)


def baseline_seconds(raw_dir: Path, timeout_s: float = 10.0) -> dict:
    """Seconds for the unavoidable work, in this process: sqlglot parse, sqlglot sqlite->sqlite round
    trip, and two executions of every gold query (execute_sql, one connection per database)."""
    import sqlglot

    from t2s_pipeline.records import read_jsonl
    from t2s_pipeline.sql.execute import connect_readonly, execute_sql

    examples = list(read_jsonl(raw_dir / "examples.jsonl"))
    start = time.perf_counter()
    for e in examples:
        try:
            sqlglot.parse_one(e["gold_sql"], read="sqlite")
        except sqlglot.errors.SqlglotError:
            pass
    parsed = time.perf_counter()
    for e in examples:
        try:
            sqlglot.transpile(e["gold_sql"], read="sqlite", write="sqlite")
        except sqlglot.errors.SqlglotError:
            pass
    transpiled = time.perf_counter()
    by_db = defaultdict(list)
    for e in examples:
        by_db[e["db_id"]].append(e["gold_sql"])
    for db_id, queries in by_db.items():
        db_path = raw_dir / "databases" / f"{db_id}.sqlite"
        conn = connect_readonly(db_path)
        try:
            for _ in range(2):
                for sql in queries:
                    execute_sql(db_path, sql, timeout_s=timeout_s, conn=conn)
        finally:
            conn.close()
    executed = time.perf_counter()
    return {"parse": parsed - start, "round_trip": transpiled - parsed, "execute_twice": executed - transpiled,
            "total": executed - start}


def golden_pairs_cli(args: argparse.Namespace) -> int:
    from t2s_pipeline.benchmarks.json_stream import TruncatedJSONError
    from t2s_pipeline.benchmarks.raw import write_raw_benchmarks
    from t2s_pipeline.sql.golden import build_golden_pairs

    with tempfile.TemporaryDirectory(prefix="t2s-golden-") as tmp:
        raw_dir = Path(args.raw) if args.raw else Path(tmp) / "raw"
        try:
            loaded = load(args.benchmark, args.root, Path(tmp), args.split)
            raw = write_raw_benchmarks([loaded], raw_dir)
        except (TruncatedJSONError, FileNotFoundError) as e:  # a broken or missing source: say which, no traceback
            print(f"t2s golden-pairs: {e}", file=sys.stderr)
            return 2
        print(f"loaded {raw['kept']} of {raw['input']} examples over {raw['databases']} databases "
              f"(rejected {raw['rejects_by_reason'] or 0})", flush=True)
        baseline, seconds = None, float("inf")
        for _ in range(max(1, args.repeat) if args.speed else 1):  # best of N, both measured alike
            if args.speed:
                run = baseline_seconds(raw_dir, args.timeout)
                baseline = run if baseline is None or run["total"] < baseline["total"] else baseline
            start = time.perf_counter()
            stats = build_golden_pairs(raw_dir, args.out, timeout_s=args.timeout, workers=args.workers or None,
                                       pipe=not args.no_pipe)
            seconds = min(seconds, time.perf_counter() - start)
    print(f"golden pairs: {stats['kept']} kept, {stats['rejected']} rejected of {stats['input']}; "
          f"pipe rewrites proven {stats['pipe_validated']}, not proven {stats['pipe_rejected']}; "
          f"validation rate {stats['validation_rate']:.4f}")
    print(f"rejects by reason: {json.dumps(stats['rejects_by_reason'])}")
    if stats["unsupported_constructs"]:
        print(f"unsupported constructs: {json.dumps(stats['unsupported_constructs'])}")
    print(f"wrote {Path(args.out) / 'pairs.jsonl'}, rejects.jsonl, stats.json in {seconds:.2f} s")
    if baseline is not None:
        best = f" (best of {args.repeat})" if args.repeat > 1 else ""
        print(f"speed{best}: golden-pairs step {seconds:.3f} s; unavoidable work in one process "
              f"{baseline['total']:.3f} s (parse {baseline['parse']:.3f} + round trip {baseline['round_trip']:.3f} + execute twice "
              f"{baseline['execute_twice']:.3f}); ratio {seconds / baseline['total']:.2f}")
    return 0


def add_parser(sub) -> None:
    p = sub.add_parser("golden-pairs", help="execute gold SQL, rewrite it into pipe SQL and prove the rewrite",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--benchmark", choices=BENCHMARKS, default="spider", help="the benchmark's format (default spider)")
    p.add_argument("--root", help="the benchmark folder (split files, tables.json, database/)")
    p.add_argument("--out", required=True, help="where pairs.jsonl, rejects.jsonl and stats.json go")
    p.add_argument("--split", help="load only this split (dev, train, ...); default: every split file present")
    p.add_argument("--raw", help="keep the loaded benchmark (raw_benchmarks layout) in this folder")
    p.add_argument("--timeout", type=float, default=10.0, help="seconds per query (default 10)")
    p.add_argument("--workers", type=int, default=0, help="worker processes (default: every core)")
    p.add_argument("--no-pipe", action="store_true", help="only execute the gold queries; no pipe rewrite")
    p.add_argument("--speed", action="store_true", help="also time the unavoidable work and print the ratio")
    p.add_argument("--repeat", type=int, default=1, help="with --speed: run both N times and compare the best times")
    p.set_defaults(func=golden_pairs_cli)
