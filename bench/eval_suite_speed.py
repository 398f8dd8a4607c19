"""`t2s eval --suite` against the official Spider test-suite evaluator with a single database, on the same lines.

    python bench/eval_suite_speed.py OFFICIAL_DIR [--official-python PY] [--spider DIR] [--workers 2]

OFFICIAL_DIR: a checkout of github.com/taoyds/test-suite-sql-eval (not part of this project; the
bench says so and stops when it is absent). PY: a Python with its dependencies (nltk, sqlparse,
tqdm); default this one. Its `process_sql` tokenizes with nltk's word_tokenize, which needs the
punkt sentence model, a download; the bench calls it with preserve_line=True (no sentence split,
no model), which only removes work from the official side.

Lines: Spider dev gold queries whose database exists; predictions alternate between the gold query
and one of its mutants (sql/test_suite_mutants.py), so both right and wrong answers are judged.
Ours judges each line on the original database plus the distilled suite (up to 8 variants); the
official evaluator on the original database alone (`--etype exec`). Both run as fresh processes,
timed end to end, the fastest of --repeat runs each; the suite generation is timed and printed separately (it is the test_suites
asset, made once). Target (issue 12): ours at least 3x faster.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from t2s_pipeline.sql.test_suite import SuiteConfig, generate_suites
from t2s_pipeline.sql.test_suite_mutants import mutants
from t2s_pipeline.sql.test_suite_variants import read_model

DEFAULT_SPIDER = Path(__file__).resolve().parents[1] / ".." / "shared" / "benchmarks" / "spider"
OFFICIAL_SHIM = (
    "import functools, runpy, sys, nltk, process_sql\n"
    "process_sql.word_tokenize = functools.partial(nltk.word_tokenize, preserve_line=True)\n"
    "sys.argv = ['evaluation.py'] + sys.argv[1:]\n"
    "runpy.run_path('evaluation.py', run_name='__main__')\n"
)


def lines(spider: Path, db_dir: Path) -> tuple[list[tuple[str, str]], list[str]]:
    """(gold, db_id) for the dev questions whose database exists, and a prediction per line."""
    rng = random.Random(0)
    models: dict[str, object] = {}
    gold, preds = [], []
    for k, example in enumerate(json.loads((spider / "dev.json").read_text())):
        db_id, sql = example["db_id"], " ".join(example["query"].split())
        path = db_dir / db_id / f"{db_id}.sqlite"
        if not path.is_file():
            continue
        if db_id not in models:
            models[db_id] = read_model(path, rng)
        near = mutants(sql, models[db_id], rng, limit=1) if k % 2 else []
        gold.append((sql, db_id))
        preds.append(near[0] if near else sql)
    return gold, preds


def timed(command: list[str], cwd: Path | None = None) -> tuple[float, str]:
    start = time.monotonic()
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True)
    seconds = time.monotonic() - start
    if done.returncode != 0:
        raise SystemExit(f"{command[:3]} failed ({done.returncode}):\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}")
    return seconds, done.stdout


def execution_row(output: str) -> str:
    match = re.search(r"^execution\s+.*$", output, re.MULTILINE)
    return " ".join(match.group(0).split()) if match else "(no execution row)"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("official", help="checkout of github.com/taoyds/test-suite-sql-eval")
    parser.add_argument("--official-python", default=sys.executable, help="Python with nltk, sqlparse, tqdm")
    parser.add_argument("--spider", default=str(DEFAULT_SPIDER))
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=3, help="runs of each evaluator; the fastest counts")
    args = parser.parse_args()
    official, spider = Path(args.official), Path(args.spider)
    if not (official / "evaluation.py").is_file():
        print(f"the official test-suite evaluator is not at {official}: clone "
              "github.com/taoyds/test-suite-sql-eval there and pass its path; nothing measured")
        return 1
    if not (spider / "dev.json").is_file():
        print(f"Spider dev not found at {spider}: nothing measured")
        return 1
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        db_dir = work / "database"  # a copy: the official evaluator opens databases read-write
        shutil.copytree(spider / "database", db_dir)
        gold, preds = lines(spider, db_dir)
        (work / "gold.sql").write_text("".join(f"{sql}\t{db_id}\n" for sql, db_id in gold))
        (work / "pred.sql").write_text("".join(f"{p}\n" for p in preds))

        start = time.monotonic()
        jobs = {}
        for sql, db_id in gold:
            jobs.setdefault(db_id, []).append(sql)
        summary = generate_suites([(d, db_dir / d / f"{d}.sqlite", s) for d, s in jobs.items()], work / "suites",
                                  SuiteConfig(), workers=args.workers, log=lambda _: None)
        suite_seconds = time.monotonic() - start

        ours_cmd = [sys.executable, "-c", "import sys; from t2s_pipeline.cli import main; sys.exit(main())", "eval",
                    "--gold", str(work / "gold.sql"), "--pred", str(work / "pred.sql"), "--db", str(db_dir),
                    "--suite", str(work / "suites"), "--workers", str(args.workers)]
        ours = [timed(ours_cmd) for _ in range(args.repeat)]
        theirs_cmd = [args.official_python, "-c", OFFICIAL_SHIM, "--gold", str(work / "gold.sql"), "--pred",
                      str(work / "pred.sql"), "--db", str(db_dir), "--table", str(spider / "tables.json"),
                      "--etype", "exec"]
        theirs = [timed(theirs_cmd, cwd=official) for _ in range(args.repeat)]
    (ours_seconds, ours_out), (theirs_seconds, theirs_out) = min(ours), min(theirs)

    suite_line = next((line for line in ours_out.splitlines() if line.startswith("test suite:")), "")
    print(f"{len(gold)} lines (Spider dev questions whose database exists; every other prediction a mutant)")
    print(f"suites generated once for {summary['databases']} databases ({summary['variants']} variants) "
          f"in {suite_seconds:.1f} s (not counted below)")
    print(f"fastest of {args.repeat} runs each (all: ours {', '.join(f'{t:.2f}' for t, _ in ours)} s; official "
          f"{', '.join(f'{t:.2f}' for t, _ in theirs)} s)")
    print(f"ours, t2s eval --suite ({args.workers} workers, original + variants): {ours_seconds:.2f} s  "
          f"{execution_row(ours_out)}")
    print(f"  {suite_line}")
    print(f"official test-suite evaluator, --etype exec, single database: {theirs_seconds:.2f} s  "
          f"{execution_row(theirs_out)}")
    ratio = theirs_seconds / ours_seconds
    print(f"speed-up: {ratio:.1f}x (target >= 3x)")
    return 0 if ratio >= 3 else 1


if __name__ == "__main__":
    sys.exit(main())
