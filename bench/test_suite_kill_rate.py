"""Kill rate of generated test suites on Spider dev, against the original database alone, and the time taken.

    python bench/test_suite_kill_rate.py [SPIDER_DIR] [--workers 2] [--out DIR]

For each of Spider dev's databases: its gold queries, their mutants, candidate variants, the distilled
suite (sql/test_suite.py). Prints per database and in total: mutants generated, killable (told apart
from their gold by some database: the original or a candidate), killed by the original alone and by
the suite (original + kept variants), and the wall-clock time. Targets (issue 12): suite kill rate
>= 95% of the killable mutants; all databases in under 5 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from t2s_pipeline.sql.test_suite import SuiteConfig, generate_suites

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
    ok = summary["kill_rate_suite"] >= 0.95 and seconds < 300
    print("targets met" if ok else "TARGETS NOT MET")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
