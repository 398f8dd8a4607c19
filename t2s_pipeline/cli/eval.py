"""`t2s eval`: execution accuracy of a prediction file against a gold file, in the Spider evaluator's formats.

    t2s eval --gold dev_gold.sql --pred pred.sql --db database/ [--suite test_suites/] [--table tables.json]
             [--protocol spider|bird] [--out verdicts.jsonl]

Gold lines are `SQL<TAB>db_id`; prediction lines are SQL (anything after a tab is ignored), in the
same order, one per line (an empty line is an empty prediction, scored not_sql). A database is
DBDIR/<db_id>/<db_id>.sqlite (Spider's layout) or DBDIR/<db_id>.sqlite. A question whose database
is missing gets the verdict exec_error ("database not found: ...") and counts as wrong; the summary
also gives the accuracy on the questions whose database exists.

Test suites: a prediction is correct only if it matches the gold on every database of its suite
(sql/judge.py). The suite of a db_id is every DBDIR/<db_id>/<db_id>*.sqlite (the official Spider
test-suite layout: <db_id>.sqlite is the original), plus, with --suite DIR (a `test_suites` asset
folder), DIR/<db_id>/variant-*.sqlite; a db_id DIR has no variants for gets a warning. The summary then
also gives how many questions were judged on the original database alone, the execution accuracy on the
original database alone and how many predictions it scored correct that the suite scored wrong.

Prints the Spider evaluator's table (count and execution accuracy by hardness: easy, medium, hard,
extra, all; hardness by Spider's rules on the gold query), the verdict counts and the time per
1,000 predictions; --out writes one JSON verdict per line (index, db_id, hardness, correct, reason,
error, f1).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from pathlib import Path

LEVELS = ("easy", "medium", "hard", "extra", "all")


def read_gold(path: Path) -> list[tuple[str, str]]:
    """(sql, db_id) per non-empty line of a Spider gold file."""
    gold = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        sql, sep, db_id = line.strip().rpartition("\t")
        if not sep or not db_id.strip():
            raise ValueError(f"{path}:{n}: expected 'SQL<TAB>db_id', got {line[:80]!r}")
        gold.append((sql.strip(), db_id.strip()))
    return gold


def read_predictions(path: Path, n_gold: int) -> list[str]:
    """One prediction per line (text before a tab); trailing empty lines beyond the gold count are dropped."""
    lines = path.read_text(encoding="utf-8").splitlines()
    while len(lines) > n_gold and not lines[-1].strip():
        lines.pop()
    if len(lines) != n_gold:
        raise ValueError(f"{path} has {len(lines)} predictions for {n_gold} gold queries: they must pair line by line")
    return [line.split("\t", 1)[0].strip() for line in lines]


def database_path(db_dir: Path, db_id: str) -> Path:
    nested = db_dir / db_id / f"{db_id}.sqlite"
    flat = db_dir / f"{db_id}.sqlite"
    return nested if nested.is_file() or not flat.is_file() else flat


def database_suite(db_dir: Path, db_id: str) -> tuple[Path, ...]:
    """The original database, then any other DBDIR/<db_id>/<db_id>*.sqlite (a test suite, sorted by name)."""
    original = database_path(db_dir, db_id)
    others = sorted(p for p in (db_dir / db_id).glob(f"{db_id}*.sqlite") if p != original) \
        if (db_dir / db_id).is_dir() else []
    return (original, *others)


def score(gold: list[tuple[str, str]], preds: list[str], db_dir: Path, protocol: str = "spider",
          timeout_s: float = 5.0, workers: int | None = None, cache: bool = True,
          suite_dir: Path | None = None) -> list[dict]:
    """One verdict record per line: index, db_id, hardness, correct, reason, error, f1 (+ original_correct
    when the line was judged on a suite)."""
    from t2s_pipeline.evaluation.metrics import spider_hardness
    from t2s_pipeline.sql.judge_many import judge_many
    from t2s_pipeline.sql.test_suite_read import suite_databases

    suites = {db_id: database_suite(db_dir, db_id) for db_id in {db_id for _, db_id in gold}}
    items = [((*suites[db_id], *suite_databases(suite_dir, db_id, suites[db_id][0], sql)[1:]), sql, pred)
             for (sql, db_id), pred in zip(gold, preds)]
    verdicts = judge_many(items, timeout_s=timeout_s, protocol=protocol, workers=workers, cache=cache)
    hardness: dict[str, str | None] = {}
    records = []
    for i, ((sql, db_id), pred, v) in enumerate(zip(gold, preds, verdicts)):
        if sql not in hardness:
            hardness[sql] = spider_hardness(sql)
        records.append({"index": i, "db_id": db_id, "hardness": hardness[sql], **v})
    return records


def warn_missing_variants(gold: list[tuple[str, str]], suite_dir: Path) -> None:
    """A warning per db_id the suite folder has no variants for: its questions are judged on the original alone."""
    from t2s_pipeline.sql.test_suite_read import has_variants

    questions = Counter(db_id for _, db_id in gold)
    for db_id in sorted(questions):
        if not has_variants(suite_dir, db_id):
            print(f"warning: the test suite folder {suite_dir} has no variants for {db_id}: its {questions[db_id]} "
                  f"question(s) are judged on the original database alone", file=sys.stderr)


def summary_table(records: list[dict], field: str = "correct", title: str = "EXECUTION ACCURACY",
                  row_name: str = "execution") -> str:
    """The Spider evaluator's table (its print_formated_s layout): counts and accuracy by hardness."""
    counts = Counter(r["hardness"] for r in records)
    right = Counter(r["hardness"] for r in records if r.get(field))
    counts["all"], right["all"] = len(records), sum(bool(r.get(field)) for r in records)
    row = lambda name, values, fmt: ("{:20} " + " ".join([fmt] * len(values))).format(name, *values)
    lines = [row("", LEVELS, "{:20}"), row("count", [counts[level] for level in LEVELS], "{:<20}"),
             f"=====================   {title:<22} ====================="]
    lines.append(row(row_name, [right[level] / counts[level] if counts[level] else 0.0 for level in LEVELS],
                     "{:<20.3f}"))
    other = counts["all"] - sum(counts[level] for level in LEVELS[:-1])
    if other:
        lines.append(f"({other} gold queries sqlglot could not read have no hardness: counted in 'all' only)")
    return "\n".join(line.rstrip() for line in lines)


def run_eval(args: argparse.Namespace) -> int:
    gold_path, pred_path, db_dir = Path(args.gold), Path(args.pred), Path(args.db)
    if not db_dir.is_dir():
        print(f"t2s eval: database folder not found: {db_dir}", file=sys.stderr)
        return 2
    try:
        gold = read_gold(gold_path)
        preds = read_predictions(pred_path, len(gold))
    except (OSError, ValueError) as e:
        print(f"t2s eval: {e}", file=sys.stderr)
        return 2
    if args.table:
        known = {entry["db_id"] for entry in json.loads(Path(args.table).read_text())}
        unknown = sorted({db_id for _, db_id in gold} - known)
        if unknown:
            print(f"warning: {len(unknown)} db_id(s) not in {args.table}: {', '.join(unknown[:5])}", file=sys.stderr)

    start = time.monotonic()
    suite_dir = Path(args.suite) if args.suite else None
    if suite_dir is not None and not suite_dir.is_dir():
        print(f"t2s eval: test suite folder not found: {suite_dir}", file=sys.stderr)
        return 2
    if suite_dir is not None:
        warn_missing_variants(gold, suite_dir)
    records = score(gold, preds, db_dir, args.protocol, args.timeout, args.workers, cache=not args.no_cache,
                    suite_dir=suite_dir)
    seconds = time.monotonic() - start
    if args.exact_match:
        from t2s_pipeline.evaluation.metrics import exact_match

        for record, (sql, _), pred in zip(records, gold, preds):
            record["em"] = exact_match(sql, pred)

    print(summary_table(records))
    if args.exact_match:
        print(summary_table(records, "em", "EXACT MATCH (sqlglot)", "exact match"))
    suite = [r for r in records if "original_correct" in r]
    if suite or suite_dir is not None:
        original = sum(bool(r.get("original_correct", r["correct"])) for r in records)
        caught = sum(bool(r["original_correct"]) and not r["correct"] for r in suite)
        print(f"\ntest suite: {len(suite)} of {len(records)} questions judged on several databases, "
              f"{len(records) - len(suite)} on the original database alone; execution "
              f"accuracy {sum(r['correct'] for r in records) / max(len(records), 1):.3f} on the suite, "
              f"{original / max(len(records), 1):.3f} on the original database alone; "
              f"{caught} predictions correct on the original database and wrong on the suite")
    reasons = Counter(r["reason"] for r in records)
    print("\nverdicts: " + ", ".join(f"{k} {v}" for k, v in sorted(reasons.items(), key=lambda kv: -kv[1])))
    missing = [r for r in records if r["error"].startswith("database not found")]
    if missing:
        present = [r for r in records if not r["error"].startswith("database not found")]
        ids = sorted({r["db_id"] for r in missing})
        acc = sum(r["correct"] for r in present) / len(present) if present else 0.0
        print(f"database not found for {len(missing)} questions ({', '.join(ids)}): scored exec_error.\n"
              f"execution accuracy on the {len(present)} questions whose database exists: {acc:.3f}")
    f1 = sum(r["f1"] for r in records) / len(records) if records else 0.0
    print(f"record F1: {f1:.3f}   protocol: {args.protocol}")
    per_1000 = seconds / len(records) * 1000 if records else 0.0
    print(f"time: {seconds:.2f} s for {len(records)} predictions ({per_1000:.2f} s per 1,000; "
          f"workers {args.workers or 'auto'}, gold cache {'off' if args.no_cache else 'on'})")

    if args.compare_sequential:
        from t2s_pipeline.sql.compare import orders_top_level

        from t2s_pipeline.sql.execute import check_query

        from t2s_pipeline.sql.test_suite_read import clear_caches

        orders_top_level.cache_clear()  # the baseline starts cold too
        check_query.cache_clear()
        clear_caches()
        start = time.monotonic()
        baseline = score(gold, preds, db_dir, args.protocol, args.timeout, workers=1, cache=False, suite_dir=suite_dir)
        base_seconds = time.monotonic() - start
        same = [a["correct"] for a in baseline] == [b["correct"] for b in records]
        print(f"sequential, uncached: {base_seconds:.2f} s; this run: {seconds:.2f} s; "
              f"speed-up {base_seconds / seconds:.2f}x; same verdicts: {same}")

    if args.out:
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        with out.open("w", encoding="utf-8") as f:
            for r in records:
                f.write(json.dumps(r) + "\n")
        print(f"verdicts: {out}")
    return 0


def add_parser(sub) -> None:
    p = sub.add_parser("eval", help="execution accuracy of predicted SQL (Spider evaluator file formats)",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--gold", required=True, help="gold file: one 'SQL<TAB>db_id' per line")
    p.add_argument("--pred", required=True, help="predictions: one SQL per line, in the gold's order")
    p.add_argument("--db", required=True, help="database folder: <db_id>/<db_id>.sqlite or <db_id>.sqlite; more "
                                                "<db_id>/<db_id>*.sqlite files make a test suite, judged on all")
    p.add_argument("--suite", help="test suite folder (<db_id>/variant-*.sqlite and report.json, the test_suites "
                                  "asset): each prediction must also match the gold on these databases")
    p.add_argument("--table", help="Spider tables.json (optional: only used to check the db_ids)")
    p.add_argument("--protocol", choices=("spider", "bird"), default="spider",
                   help="spider: multiset of rows (list when the gold orders), any column order; bird: set of rows")
    p.add_argument("--out", help="write one JSON verdict per line here")
    p.add_argument("--timeout", type=float, default=5.0, help="seconds per predicted query (gold: 6x)")
    p.add_argument("--workers", type=int, default=None, help="processes (default: every core, when worth it)")
    p.add_argument("--no-cache", action="store_true", help="run every gold query and prediction, even repeated ones")
    p.add_argument("--exact-match", action="store_true", help="also report exact match after sqlglot normalization")
    p.add_argument("--compare-sequential", action="store_true",
                   help="also time a sequential, uncached evaluation of the same lines and print both times")
    p.set_defaults(func=run_eval)
