"""Kill rate of generated test suites on Spider dev, against the original database alone, and the time taken.

    python bench/test_suite_kill_rate.py [SPIDER_DIR] [--workers 2] [--out DIR]

For each of Spider dev's databases: its gold queries, their mutants, candidate variants, the distilled
suite (sql/test_suite.py). Prints per database and in total: mutants generated, killable (told apart
from their gold by some database: the original or a candidate), killed by the original alone and by
the suite (original + kept variants), and the wall-clock time. Targets (issue 12): suite kill rate
>= 95% of the killable mutants; all databases in under 5 minutes on 2 cores.

Those mutants are the ones the suite was distilled against. A held-out check follows: new mutants
(another seed) and an independent oracle of new candidate variants (another seed, none of them in
the suite); killable = told apart by the original, the oracle or the suite.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import random
import sqlite3
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from t2s_pipeline.sql.compare import orders_top_level
from t2s_pipeline.sql.test_suite import PROFILES, SuiteConfig, _differs, _run, generate_suites
from t2s_pipeline.sql.test_suite_mutants import gold_constants, mutants
from t2s_pipeline.sql.test_suite_variants import boundary_values, build, fill_variant, read_model

DEFAULT_SPIDER = Path(__file__).resolve().parents[1] / ".." / "shared" / "benchmarks" / "spider"


def spider_jobs(spider: Path) -> list[tuple[str, Path, list[str]]]:
    """(db_id, database, gold queries) for each Spider dev database that exists."""
    golds: dict[str, list[str]] = defaultdict(list)
    for example in json.loads((spider / "dev.json").read_text()):
        golds[example["db_id"]].append(example["query"])
    jobs = []
    for db_id, sqls in sorted(golds.items()):
        path = spider / "database" / db_id / f"{db_id}.sqlite"
        if path.is_file():
            jobs.append((db_id, path, sqls))
    return jobs


def held_out(task) -> tuple[int, int, int]:
    """(killable, killed by the original, killed by the suite) for fresh mutants of one database's golds."""
    db_id, path, golds, suite_dir, oracle_size = task
    rng = random.Random(f"held-out:{db_id}")
    model = read_model(path, rng)
    golds = list(dict.fromkeys(golds))
    boundaries = boundary_values(gold_constants(golds))
    oracle = [build(model, fill_variant(model, boundaries, PROFILES[c % len(PROFILES)], rng))
              for c in range(oracle_size)]
    original = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    report = json.loads((Path(suite_dir) / db_id / "report.json").read_text())
    suite = [(sqlite3.connect(Path(suite_dir) / db_id / v["file"]), set(v["skipped_gold"])) for v in report["variants"]]
    killable = by_original = by_suite = 0
    for gold in golds:
        ordered = orders_top_level(gold)
        g_original = _run(original, gold, 5.0)
        if g_original is None:
            continue
        g_oracle = [_run(conn, gold, 5.0) for conn in oracle]
        g_suite = [_run(conn, gold, 5.0) if gold not in skipped else None for conn, skipped in suite]
        for mutant in mutants(gold, model, rng, 30):
            on_original = _differs(g_original, _run(original, mutant, 1.0), ordered)
            on_suite = any(g is not None and _differs(g, _run(conn, mutant, 1.0), ordered)
                           for g, (conn, _) in zip(g_suite, suite))
            on_oracle = any(g is not None and _differs(g, _run(conn, mutant, 1.0), ordered)
                            for g, conn in zip(g_oracle, oracle))
            if on_original or on_suite or on_oracle:
                killable += 1
                by_original += on_original
                by_suite += on_original or on_suite
    return killable, by_original, by_suite


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("spider", nargs="?", default=str(DEFAULT_SPIDER), help="Spider folder (dev.json, database/)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--max-variants", type=int, default=SuiteConfig.max_variants)
    parser.add_argument("--candidates", type=int, default=SuiteConfig.candidates)
    parser.add_argument("--out", help="write the suites here (default: a temporary folder)")
    args = parser.parse_args()
    spider = Path(args.spider)
    if not (spider / "dev.json").is_file():
        print(f"Spider dev not found at {spider.resolve()}: nothing to measure")
        return 1
    jobs = spider_jobs(spider)
    config = SuiteConfig(max_variants=args.max_variants, candidates=args.candidates)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(args.out or tmp)
        start = time.monotonic()
        summary = generate_suites(jobs, out, config, workers=args.workers, log=lambda _: None)
        seconds = time.monotonic() - start
        # The oracle is not filtered for tie-dependent answers, so it can only overstate what is killable.
        tasks = [(db_id, str(path), golds, str(out), args.candidates) for db_id, path, golds in jobs]
        with multiprocessing.get_context("fork").Pool(args.workers) as pool:
            held = pool.map(held_out, tasks, chunksize=1)
    print(f"{'database':<30} {'golds':>5} {'variants':>8} {'mutants':>7} {'killable':>8} "
          f"{'original':>8} {'suite':>6} {'seconds':>7}")
    for db_id, r in summary["by_database"].items():
        print(f"{db_id:<30} {r['gold_queries']:>5} {len(r['variants']):>8} {r['mutants_generated']:>7} "
              f"{r['mutants_killable']:>8} {r['kill_rate_original']:>8.3f} {r['kill_rate_suite']:>6.3f} "
              f"{r['seconds']:>7.1f}")
    print(f"\n{summary['databases']} databases, {summary['variants']} variants kept (at most {config.max_variants} "
          f"each, from {config.candidates} candidates), {summary['mutants_generated']} mutants, "
          f"{summary['mutants_killable']} killable")
    print(f"kill rate, original database alone: {summary['kill_rate_original']:.4f} "
          f"({summary['killed_by_original']}/{summary['mutants_killable']})")
    print(f"kill rate, suite (original + variants): {summary['kill_rate_suite']:.4f} "
          f"({summary['killed_by_suite']}/{summary['mutants_killable']})")
    print(f"time: {seconds:.1f} s with {args.workers} worker processes (target < 300 s on 2 cores)")
    killable, by_original, by_suite = (sum(h[k] for h in held) for k in range(3))
    print(f"held out (new mutants, an oracle of {args.candidates} new variants per database): {killable} killable; "
          f"original alone {by_original / killable:.4f}, suite {by_suite / killable:.4f}")
    ok = summary["kill_rate_suite"] >= 0.95 and seconds < 300
    print("targets met" if ok else "TARGETS NOT MET")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
