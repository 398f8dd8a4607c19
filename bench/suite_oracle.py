"""Held-out kill rate of the test suites on Spider dev: mutants and an oracle the suites were not made from.

    python bench/suite_oracle.py [SPIDER_DIR] [--fuzz 30] [--workers 2] [--before PYTHONPATH ...]

The oracle (bench/suite_oracle_fuzz.py, its own code): single-edit mutants of each gold query of kinds
the suites' generator does not make the same way (COUNT(*) vs COUNT(col), LEFT JOIN for JOIN, a constant
swapped for another value of its column, DISTINCT added or dropped, another GROUP BY, ORDER BY or
selected column, the LIKE pattern changed, strict vs non-strict comparison, HAVING dropped, a WHERE
conjunct dropped), and --fuzz random databases per Spider database sampled from its schema, each with a
twin holding the same rows inserted in reverse order. A mutant counts when it returns the gold's result
on the original database and differs from the gold on some fuzz database where the gold's answer is well
defined (the same on the twin, no ORDER BY ... LIMIT cutting through ties; top-level ties compare as a
multiset) and the mutant differs on the twin as well. The kill rate is the share of those that
`t2s eval --suite`'s judge (suite_databases + judge_many) scores wrong.

Each side (this checkout, and each --before PYTHONPATH, e.g. an export of main) builds its own suites from
Spider dev in a fresh process (timed) and judges the same mutants; the figures are printed per kind and
per database side by side. Target (issue 22): >= 95%.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import random
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from suite_oracle_fuzz import KINDS, constants_of, fuzz_database, fuzz_rows, oracle_mutants, read_schema  # noqa: E402

DEFAULT_SPIDER = Path(__file__).resolve().parents[1] / ".." / "shared" / "benchmarks" / "spider"


def spider_jobs(spider: Path) -> list[tuple[str, str, list[str], dict | None]]:
    """(db_id, database, distinct gold queries, tables.json entry) per Spider dev database that exists."""
    golds: dict[str, list[str]] = defaultdict(list)
    for example in json.loads((spider / "dev.json").read_text()):
        golds[example["db_id"]].append(example["query"])
    entries = {e["db_id"]: e for e in json.loads((spider / "tables.json").read_text())}
    return [(db_id, str(spider / "database" / db_id / f"{db_id}.sqlite"), list(dict.fromkeys(sqls)), entries.get(db_id))
            for db_id, sqls in sorted(golds.items()) if (spider / "database" / db_id / f"{db_id}.sqlite").is_file()]


def _rows(conn: sqlite3.Connection, sql: str, timeout_s: float):
    from t2s_pipeline.sql.compare import normalize_rows

    deadline = time.monotonic() + timeout_s
    conn.set_progress_handler(lambda: 1 if time.monotonic() > deadline else 0, 1000)
    try:
        return normalize_rows(conn.execute(sql).fetchmany(10_000))
    except (sqlite3.Error, ValueError, OverflowError):
        return None
    finally:
        conn.set_progress_handler(None, 0)


def _order_on(conn, sql: str, ordered: bool) -> bool | None:
    """None when the gold's answer on this database is one of several tied ones; else whether order counts."""
    from t2s_pipeline.sql.test_suite_mutants import tie_effect, tie_probes

    probes = tie_probes(sql)
    if probes is None:
        return None
    for probe, keys, cut, top in probes:
        rows = _rows(conn, probe, 5.0)
        effect = None if rows is None else tie_effect(rows, keys, cut, top)
        if rows is None or effect == "cut":
            return None
        ordered = ordered and effect != "order"
    return ordered


def truly_wrong(job) -> tuple[list[dict], dict]:
    """The mutants of one database that match the gold on the original and are wrong on the oracle."""
    from t2s_pipeline.sql.compare import orders_top_level, results_match

    db_id, path, golds, entry, n_fuzz, per_gold, seed = job
    rng = random.Random(f"oracle:{seed}:{db_id}")
    ddl, tables = read_schema(path, entry)
    constants = constants_of(golds)
    fuzz = [fuzz_database(ddl, tables, fuzz_rows(tables, constants, rng)) for _ in range(n_fuzz)]
    original = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    original.text_factory = lambda b: b.decode("utf-8", errors="replace")
    out, stats = [], Counter()
    for gold in golds:
        ordered = orders_top_level(gold)
        on_original = _rows(original, gold, 10.0)
        if on_original is None:
            continue
        defined = []  # (database, twin, gold there, gold on the twin, order counts) where the gold is well defined
        for conn, twin in fuzz:
            g, g_twin = _rows(conn, gold, 5.0), _rows(twin, gold, 5.0)
            order = None if g is None or g_twin is None else _order_on(conn, gold, ordered)
            if order is not None and results_match(g, g_twin, order):
                defined.append((conn, twin, g, g_twin, order))
        stats["golds"] += 1
        stats["fuzz_defined"] += len(defined)
        for kind, mutant in oracle_mutants(gold, tables, rng, per_gold):
            stats["mutants"] += 1
            m = _rows(original, mutant, 2.0)
            if m is None or not results_match(on_original, m, ordered):
                continue
            stats["same_on_original"] += 1
            for conn, twin, g, g_twin, order in defined:
                m, m_twin = _rows(conn, mutant, 2.0), _rows(twin, mutant, 2.0)
                if (m is None or not results_match(g, m, order)) and (m_twin is None or not results_match(g_twin, m_twin, order)):
                    out.append({"db_id": db_id, "gold": gold, "mutant": mutant, "kind": kind})
                    break
    original.close()
    for conn, twin in fuzz:
        conn.close()
        twin.close()
    return out, {db_id: dict(stats)}


def judge_side(args) -> int:
    """Child process: build suites with the t2s_pipeline on PYTHONPATH, judge the oracle's mutants, write JSON."""
    from t2s_pipeline.sql.schema import schema_from_spider_tables
    from t2s_pipeline.sql.test_suite import generate_suites
    from t2s_pipeline.sql.test_suite_read import suite_databases

    try:
        from t2s_pipeline.sql.judge_many import judge_many
    except ImportError:
        from t2s_pipeline.evaluation.metrics import judge_many

    spider = Path(args.spider)
    jobs = spider_jobs(spider)
    cases = json.loads(Path(args.judge).read_text())
    with tempfile.TemporaryDirectory() as tmp:
        start = time.monotonic()
        summary = generate_suites([(d, Path(p), g, schema_from_spider_tables(e) if e else None) for d, p, g, e in jobs],
                                  Path(tmp), workers=args.workers, log=lambda _: None)
        build_s = time.monotonic() - start
        originals = {d: p for d, p, _, _ in jobs}
        items = [(suite_databases(tmp, c["db_id"], originals[c["db_id"]], c["gold"]), c["gold"], c["mutant"])
                 for c in cases]
        start = time.monotonic()
        verdicts = judge_many(items, workers=args.workers)
        judge_s = time.monotonic() - start
        golds = judge_many([(item[0], item[1], item[1]) for item in items], workers=args.workers)
    Path(args.result).write_text(json.dumps({
        "killed": [not v["correct"] for v in verdicts], "build_s": round(build_s, 1), "judge_s": round(judge_s, 1),
        "variants": summary["variants"], "gold_wrong": sum(not v["correct"] for v in golds),
        "databases_per_case": round(sum(len(i[0]) for i in items) / max(len(items), 1), 2)}))
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("spider", nargs="?", default=str(DEFAULT_SPIDER))
    parser.add_argument("--fuzz", type=int, default=30, help="random databases per Spider database")
    parser.add_argument("--per-gold", type=int, default=40, help="mutants drawn per gold query")
    parser.add_argument("--seed", type=int, default=0, help="seed of the oracle's mutants and fuzz databases")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--before", action="append", default=[], help="PYTHONPATH of another t2s_pipeline to compare")
    parser.add_argument("--cases", help="reuse (or write) the oracle's truly wrong mutants in this JSON file")
    parser.add_argument("--judge", help=argparse.SUPPRESS)
    parser.add_argument("--result", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.judge:
        return judge_side(args)
    spider = Path(args.spider)
    if not (spider / "dev.json").is_file():
        print(f"Spider dev not found at {spider.resolve()}: nothing measured")
        return 1
    jobs = spider_jobs(spider)
    start = time.monotonic()
    if args.cases and Path(args.cases).is_file():
        saved = json.loads(Path(args.cases).read_text())
        cases, stats = saved["cases"], saved["stats"]
    else:
        tasks = sorted(((d, p, g, e, args.fuzz, args.per_gold, args.seed) for d, p, g, e in jobs),
                       key=lambda t: -len(t[2]))
        with multiprocessing.get_context("fork").Pool(args.workers) as pool:
            done = pool.map(truly_wrong, tasks, chunksize=1)
        cases = [c for found, _ in done for c in found]
        stats = {k: v for _, s in done for k, v in s.items()}
        if args.cases:
            Path(args.cases).write_text(json.dumps({"cases": cases, "stats": stats}))
    oracle_s = time.monotonic() - start
    total = Counter()
    for s in stats.values():
        total.update(s)
    print(f"oracle (seed {args.seed}): {len(jobs)} databases, {args.fuzz} fuzz databases (+ twins) each; {total['golds']} gold queries, "
          f"{total['mutants']} mutants, {total['same_on_original']} return the gold's result on the original, "
          f"{len(cases)} of those wrong on the oracle ({oracle_s:.0f} s)")

    sides = [("this checkout", str(Path(__file__).resolve().parents[1]))] + [(f"before {p}", p) for p in args.before]
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "cases.json").write_text(json.dumps(cases))
        for name, pythonpath in sides:
            out = Path(tmp) / f"result-{len(results)}.json"
            env = {**os.environ, "PYTHONPATH": pythonpath}
            subprocess.run([sys.executable, __file__, str(spider), "--judge", str(Path(tmp) / "cases.json"),
                            "--result", str(out), "--workers", str(args.workers)], env=env, check=True)
            results.append((name, json.loads(out.read_text())))

    def rate(flags: list[bool]) -> str:
        return f"{sum(flags) / len(flags):6.1%}" if flags else "     -"

    header = " ".join(f"{name[:22]:>22}" for name, _ in results)
    for label, key in (("kind", "kind"), ("database", "db_id")):
        print(f"\n{label:<24} {'mutants':>7} {header}")
        for value in sorted({c[key] for c in cases}, key=lambda v: KINDS.index(v) if v in KINDS else v):
            idx = [i for i, c in enumerate(cases) if c[key] == value]
            print(f"{value:<24} {len(idx):>7} " + " ".join(f"{rate([r['killed'][i] for i in idx]):>22}"
                                                        for _, r in results))
    print(f"\n{'all':<24} {len(cases):>7} " + " ".join(f"{rate(r['killed']):>22}" for _, r in results))
    for name, r in results:
        print(f"{name}: {r['variants']} variants for {len(jobs)} databases built in {r['build_s']} s "
              f"({args.workers} workers), {r['databases_per_case']} databases per mutant judged in {r['judge_s']} s; "
              f"killed {sum(r['killed'])}/{len(cases)}; gold queries scored wrong against themselves: {r['gold_wrong']}")
    return 0 if results and sum(results[0][1]["killed"]) >= 0.95 * len(cases) else 1


if __name__ == "__main__":
    sys.exit(main())
