"""Distilled test suites (Zhong et al., 2020) for any benchmark: variant databases that tell near-misses apart.

For one database and the gold queries over it:
  1. mutants of each gold query (test_suite_mutants): one-edit near misses;
  2. candidate variant databases (test_suite_variants), each also built a second time with the rows it
     kept inserted in reverse order: a gold query whose answer changes between the two depends on scan
     order (ties under ORDER BY ... LIMIT, a bare column next to an aggregate), so that variant does
     not judge that gold query; a gold whose top-level ORDER BY leaves tied rows in any order is
     compared there as a multiset;
  3. distillation: the original database always judges; variants are chosen greedily, each killing
     the most mutants not yet killed (a mutant is killed when its result differs from its gold's, or
     it fails where the gold runs), starting from the candidate killing the most of each profile aimed
     at what single edits change. A quarter of the mutants (when 20 or more of them are killable) is
     held out of that choice: the suite grows until `patience` variants in a row kill no held-out
     mutant left alive (the held-out kill rate stopped rising), no candidate kills one more, or
     `max_variants`. Candidates are made until `candidates` or, past one of each profile, `budget_s`.
Written to out_dir/<db_id>/: variant-<k>.sqlite and report.json (variants kept, the gold queries each
variant does not judge and those it compares as multisets, mutants generated, killable (killed by some
database), killed by the original alone and by the suite, the held-out mutants killed as the suite
grew, and a sample of the mutants the suite does not kill).
test_suite_read.suite_databases reads a suite back for the judge.

Deterministic for a seed (the random generator is seeded with seed and db_id).
"""

from __future__ import annotations

import json
import multiprocessing
import os
import random
import sqlite3
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from t2s_pipeline.sql.compare import column_permutation, normalize_rows, orders_top_level
from t2s_pipeline.sql.test_suite_mutants import (CUT, ORDER, gold_constants, having_thresholds, mutants, tie_effect,
                                                 tie_probes)
from t2s_pipeline.sql.test_suite_variants import AIMED, PROFILES, boundary_values, build, fill_variant, read_model, save

REPORT = "report.json"
MAX_RESULT_ROWS = 10_000
UNKILLED_SAMPLE = 25  # unkilled mutants listed per database
MIN_HELD_OUT = 20  # killable held-out mutants needed to size a suite by them


@dataclass(frozen=True)
class SuiteConfig:
    max_variants: int = 24  # variant databases kept per database at most (besides the original)
    candidates: int = 192  # candidate variants generated per database, before distillation
    mutants_per_query: int = 40  # mutants drawn per gold query
    timeout_s: float = 1.0  # per query while distilling (a mutant that runs longer is killed there)
    seed: int = 0
    patience: int = 2  # variants in a row that kill no held-out mutant before the suite stops growing
    budget_s: float = 120.0  # seconds per database for making candidates (past one of each profile)

    def __post_init__(self):
        for name in ("max_variants", "candidates", "mutants_per_query", "patience"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 0:
                raise ValueError(f"test suite config: {name} must be an integer >= 0, got {getattr(self, name)!r}")
        for name in ("timeout_s", "budget_s"):
            if getattr(self, name) <= 0:
                raise ValueError(f"test suite config: {name} must be > 0, got {getattr(self, name)!r}")


def _run(conn: sqlite3.Connection, sql: str, timeout_s: float) -> list[tuple] | None:
    """Normalized rows, or None when the query fails or runs out of time (trusted SQL: ours or the gold's)."""
    deadline = time.monotonic() + timeout_s
    conn.set_progress_handler(lambda: 1 if time.monotonic() > deadline else 0, 1000)
    try:
        return normalize_rows(conn.execute(sql).fetchmany(MAX_RESULT_ROWS))
    except (sqlite3.Error, ValueError, OverflowError):
        return None
    finally:
        conn.set_progress_handler(None, 0)


def _differs(gold: list[tuple], other: list[tuple] | None, ordered: bool) -> bool:
    return other is None or column_permutation(gold, other, ordered) is None


def generate_suite(db_id: str, db_path: str | Path, gold_sqls: list[str], out_dir: str | Path,
                   config: SuiteConfig = SuiteConfig(), schema: dict | None = None) -> dict:
    """Generate, distill and write the suite of one database; returns its report (also in <db_id>/report.json).

    schema: the database's schema (sql/schema.py form), for foreign keys its DDL does not declare."""
    start = time.monotonic()
    rng = random.Random(f"{config.seed}:{db_id}")
    target = Path(out_dir) / db_id
    target.mkdir(parents=True, exist_ok=True)
    model = read_model(db_path, rng, schema)
    golds = list(dict.fromkeys(s for s in gold_sqls if s and s.strip()))
    boundaries = boundary_values(gold_constants(golds))
    thresholds = having_thresholds(golds)

    original = sqlite3.connect(f"file:{Path(db_path).resolve()}?mode=ro", uri=True)
    original.text_factory = lambda b: b.decode("utf-8", errors="replace")
    live: list[tuple[int, str, bool, list[tuple]]] = []  # (gold index, gold, ordered, result on the original)
    probes: dict[int, list | None] = {}
    muts: dict[int, list[str]] = {}
    killed_original: set[tuple[int, int]] = set()
    try:
        for g, sql in enumerate(golds):
            rows = _run(original, sql, config.timeout_s * 5)
            if rows is None:
                continue  # a gold that fails on its own database judges nothing
            ordered = orders_top_level(sql)
            live.append((g, sql, ordered, rows))
            probes[g] = tie_probes(sql)
            # No variant to choose (candidates or max_variants 0): no mutant to run either.
            muts[g] = mutants(sql, model, rng, config.mutants_per_query) if config.candidates and config.max_variants \
                else []
            for m, mutant in enumerate(muts[g]):
                if _differs(rows, _run(original, mutant, config.timeout_s), ordered):
                    killed_original.add((g, m))
    finally:
        original.close()

    candidates, kills, skips, multisets = [], [], [], []
    for c in range(config.candidates):
        if c >= len(PROFILES) and time.monotonic() - start > config.budget_s:
            break
        rows = fill_variant(model, boundaries, PROFILES[c % len(PROFILES)], rng, thresholds)
        conn, twin = build(model, rows), build(model, rows, reverse=True)
        killed, skipped, unordered = set(), set(), set()
        for g, sql, ordered, _ in live:
            gold = _run(conn, sql, config.timeout_s * 5)
            order = None if gold is None else \
                _order_on(conn, twin, sql, gold, ordered, probes[g], config.timeout_s * 5)
            if order is None:
                skipped.add(g)
                continue
            if order != ordered:
                unordered.add(g)
            for m, mutant in enumerate(muts[g]):
                if (g, m) not in killed_original and _differs(gold, _run(conn, mutant, config.timeout_s), order):
                    killed.add((g, m))
        twin.close()
        candidates.append(conn)
        kills.append(killed)
        skips.append(skipped)
        multisets.append(unordered)

    killable = set(killed_original).union(*kills)
    held_out = {(g, m) for g, ms in muts.items() for m in range(len(ms)) if m % 4 == 3}
    if len((killable - killed_original) & held_out) < MIN_HELD_OUT:
        held_out = set()  # too few to tell when the kill rate stops rising: cover them all
    # One of each profile aimed at what single edits change starts the suite: the candidate of that profile
    # killing the most (greedy covers alone leave NULL-, orphan- and group-sensitive mistakes to chance).
    first = [max(same, key=lambda c: len(kills[c] - held_out)) for p in range(AIMED, len(PROFILES))
             if (same := [c for c in range(len(kills)) if c % len(PROFILES) == p and kills[c] - held_out])]
    kept, curve = distill(kills, killed_original, config.max_variants, held_out, config.patience, curve=True,
                          first=first)
    killed_suite = set(killed_original).union(*(kills[c] for c in kept))
    variants = []
    for k, c in enumerate(kept, 1):
        name = f"variant-{k}.sqlite"
        save(candidates[c], target / name)
        variants.append({"file": name, "candidate": c, "profile": asdict(PROFILES[c % len(PROFILES)]),
                         "kills": len(kills[c]), "skipped_gold": [golds[g] for g in sorted(skips[c])],
                         "unordered_gold": [golds[g] for g in sorted(multisets[c])]})
    for conn in candidates:
        conn.close()

    generated = sum(len(v) for v in muts.values())
    unkilled = [{"gold": golds[g], "mutant": muts[g][m], "killable": (g, m) in killable}
                for g, _, _, _ in live for m in range(len(muts[g])) if (g, m) not in killed_suite]
    unkilled.sort(key=lambda u: not u["killable"])  # the ones some candidate told apart first
    report = {
        "db_id": db_id, "gold_queries": len(golds), "gold_queries_run": len(live), "candidates": len(candidates),
        "held_out_killable": len(killable & held_out), "held_out_killed": curve,
        "judged_gold": [sql for _, sql, _, _ in live],
        "variants": variants, "mutants_generated": generated, "mutants_killable": len(killable),
        "killed_by_original": len(killed_original), "killed_by_suite": len(killed_suite),
        "kill_rate_original": _rate(len(killed_original), len(killable)),
        "kill_rate_suite": _rate(len(killed_suite), len(killable)),
        "unkilled": unkilled[:UNKILLED_SAMPLE], "unkilled_count": len(unkilled),
        "config": asdict(config), "seconds": round(time.monotonic() - start, 2),
    }
    (target / REPORT).write_text(json.dumps(report, indent=1, ensure_ascii=False))
    return report


def _order_on(conn, twin, sql: str, gold: list[tuple], ordered: bool, probes: list | None,
              timeout_s: float) -> bool | None:
    """How this variant compares the gold's answer: as a list (True), as a multiset (False: the gold orders its
    top level, but ties leave the order of some of its rows to SQLite), or not at all (None: the answer is
    one of several SQLite chose between, an ORDER BY ... LIMIT cutting through ties, or it changes with the
    rows inserted in reverse order)."""
    if probes is None:
        return None
    for probe, keys, cut, top in probes:
        rows = _run(conn, probe, timeout_s)
        effect = None if rows is None else tie_effect(rows, keys, cut, top)
        if rows is None or effect == CUT:
            return None
        if effect == ORDER:
            ordered = False
    return None if _differs(gold, _run(twin, sql, timeout_s), ordered) else ordered


def _rate(n: int, total: int) -> float:
    return round(n / total, 4) if total else 1.0


def distill(kills: list[set], already: set, max_variants: int, held_out: set = frozenset(), patience: int = 0,
            curve: bool = False, first: list[int] = ()):
    """Greedy set cover: candidate indices, each killing the most mutants the ones before left alive.

    held_out: mutants not chosen for, only counted: with patience > 0 the cover stops once `patience`
    candidates in a row kill none of them left alive. curve: also return the held-out mutants killed
    (`already` included) after each candidate kept, the first entry before any. first: candidates kept
    before the cover starts."""
    alive = set().union(*kills) - already if kills else set()
    held_alive, chosen_from = alive & held_out, alive - held_out
    held_killed = [len(already & held_out)]
    kept: list[int] = []
    for c in first[:max_variants]:  # kept before the cover
        kept.append(c)
        chosen_from -= kills[c]
        held_alive -= kills[c]
        held_killed.append(held_killed[0] + len(alive & held_out) - len(held_alive))
    stale = 0
    while len(kept) < max_variants and chosen_from and not (held_out and patience and stale >= patience):
        best = max(range(len(kills)), key=lambda c: (len(kills[c] & chosen_from), -c))
        if not kills[best] & chosen_from:
            break
        kept.append(best)
        stale = 0 if kills[best] & held_alive else stale + 1
        chosen_from -= kills[best]
        held_alive -= kills[best]
        held_killed.append(held_killed[0] + len(alive & held_out) - len(held_alive))
    return (kept, held_killed) if curve else kept


# --- many databases -------------------------------------------------------------------------------------


def generate_suites(jobs: list[tuple], out_dir: str | Path, config: SuiteConfig = SuiteConfig(),
                    workers: int | None = None, log=print) -> dict:
    """Suites for (db_id, db_path, gold queries[, schema]) jobs, `workers` processes at a time; writes
    out_dir/report.json with the per-database reports and the totals, and returns it. (Scripts need a
    `__main__` guard.)"""
    start = time.monotonic()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tasks = sorted(((job[0], str(job[1]), job[2], str(out), config, job[3] if len(job) > 3 else None) for job in jobs),
                   key=lambda t: -len(t[2]))  # the biggest first: the last to finish are small
    workers = min(workers or os.cpu_count() or 1, len(tasks)) if tasks else 1
    if workers <= 1:
        reports = [_generate_task(t) for t in tasks]
    else:
        pool = _mp_context().Pool(workers)
        try:
            reports = pool.map(_generate_task, tasks, chunksize=1)
            pool.close()  # the workers exit on their own: terminating them shows up as an interrupt in Dagster
            pool.join()
        except BaseException:
            pool.terminate()
            raise
    for r in reports:
        log(f"test suite {r['db_id']}: {len(r['variants'])} variants, {r['mutants_generated']} mutants, "
            f"kill rate original {r['kill_rate_original']:.3f} -> suite {r['kill_rate_suite']:.3f} ({r['seconds']} s)")
    summary = summarize(reports, time.monotonic() - start)
    (out / REPORT).write_text(json.dumps(summary, indent=1, ensure_ascii=False))
    return summary


def _generate_task(task) -> dict:
    db_id, path, golds, out, config, schema = task
    return generate_suite(db_id, path, golds, out, config, schema)


def _mp_context():
    """fork in a single-threaded process (a script); forkserver under threads (Dagster), where forking can hang."""
    if threading.active_count() == 1 and "fork" in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context("forkserver")


def summarize(reports: list[dict], seconds: float) -> dict:
    total = lambda key: sum(r[key] for r in reports)
    killable = total("mutants_killable")
    return {
        "databases": len(reports), "variants": sum(len(r["variants"]) for r in reports),
        "mutants_generated": total("mutants_generated"), "mutants_killable": killable,
        "killed_by_original": total("killed_by_original"), "killed_by_suite": total("killed_by_suite"),
        "kill_rate_original": _rate(total("killed_by_original"), killable),
        "kill_rate_suite": _rate(total("killed_by_suite"), killable),
        "seconds": round(seconds, 2),
        "by_database": {r["db_id"]: {k: v for k, v in r.items() if k not in ("unkilled", "config", "judged_gold")}
                        for r in sorted(reports, key=lambda r: r["db_id"])},
    }
