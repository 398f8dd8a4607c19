"""Which databases judge a question (the original, then the test-suite variants that can judge its gold query),
and on which of them the gold's row order counts."""

from __future__ import annotations

import json
import os
import sqlite3
from functools import lru_cache
from pathlib import Path

from t2s_pipeline.sql.test_suite_mutants import CUT, ORDER, tie_effect, tie_probes

REPORT = "report.json"
PROBE_TIMEOUT_S = 5.0


def _key(sql: str) -> str:
    return " ".join(sql.split()).rstrip(";").strip()


@lru_cache(maxsize=256)
def _suite(suite_dir: str, db_id: str) -> tuple[tuple[tuple[str, frozenset, frozenset], ...], frozenset]:
    """((variant path, gold keys it does not judge, gold keys it compares as multisets), ...) and the gold keys
    the suite was made with."""
    path = Path(suite_dir) / db_id / REPORT
    if not path.is_file():
        return (), frozenset()
    report = json.loads(path.read_text())
    variants = tuple((str(Path(suite_dir) / db_id / v["file"]), frozenset(map(_key, v.get("skipped_gold", ()))),
                      frozenset(map(_key, v.get("unordered_gold", ())))) for v in report["variants"])
    return variants, frozenset(map(_key, report.get("judged_gold", ())))


def has_variants(suite_dir: str | Path, db_id: str) -> bool:
    """Whether the suite folder holds variants for db_id."""
    return bool(_suite(str(suite_dir), db_id)[0])


@lru_cache(maxsize=65_536)
def _tie_effects(variant: str, gold_sql: str) -> frozenset | None:
    """For a gold query the suite was not made with: what ties do to its answer on this variant (CUT, ORDER:
    see tie_effect), or None when it cannot be told (an arbitrary LIMIT, a probe that fails)."""
    from t2s_pipeline.sql.compare import normalize_rows
    from t2s_pipeline.sql.execute import connect_readonly, execute_sql

    probes = tie_probes(gold_sql)
    if probes is None:
        return None
    if not probes:
        return frozenset()
    effects = set()
    conn = connect_readonly(variant)
    try:
        for probe, keys, cut, top in probes:
            result = execute_sql(variant, probe, timeout_s=PROBE_TIMEOUT_S, conn=conn)
            if not result.ok:
                return None
            effects.add(tie_effect(normalize_rows(result.rows), keys, cut, top))
    except sqlite3.Error:
        return None
    finally:
        conn.close()
    return frozenset(effects)


def judges(variant: str, gold_sql: str) -> bool:
    """For a gold query the suite was not made with: whether this variant gives it one answer, not one of
    several tied ones (an ORDER BY ... LIMIT cutting through equal keys, a LIMIT without ORDER BY)."""
    effects = _tie_effects(variant, gold_sql)
    return effects is not None and CUT not in effects


def clear_caches() -> None:
    """Forget the suites read and the probes run (for timing a cold start)."""
    _suite.cache_clear()
    _variant_entry.cache_clear()
    _tie_effects.cache_clear()


def orders_on(databases, gold_sql: str, ordered: bool) -> tuple[bool, ...]:
    """Per database, whether the gold's row order counts there: `ordered` (the gold orders its top level) on
    the original and on databases of no suite; on a suite variant, not where ties among the gold's rows
    leave their order to SQLite (then the answers compare as multisets)."""
    paths = [str(p) for p in databases]
    if not ordered or len(paths) < 2:
        return (ordered,) * len(paths)
    key = _key(gold_sql)
    out = [True]
    for path in paths[1:]:
        entry, known = _variant_entry(path)
        if entry is None:
            out.append(True)
        elif key in known:
            out.append(key not in entry[2])
        else:
            effects = _tie_effects(path, gold_sql)
            out.append(effects is None or ORDER not in effects)
    return tuple(out)


@lru_cache(maxsize=4096)
def _variant_entry(path: str) -> tuple[tuple | None, frozenset]:
    """The suite entry of a variant file (None when it belongs to no suite) and its suite's gold keys."""
    folder, name = os.path.split(path)
    variants, known = _suite(os.path.dirname(folder), os.path.basename(folder))
    return next((v for v in variants if os.path.basename(v[0]) == name), None), known


def suite_databases(suite_dir: str | Path | None, db_id: str, original: str | Path, gold_sql: str) -> tuple[str, ...]:
    """The databases that judge a question: the original, then the suite's variants for db_id that can judge
    this gold query (the suite's report says so for the gold queries it was made with; others are probed
    for ties here). No suite, or none for db_id: the original alone."""
    if suite_dir is None:
        return (str(original),)
    variants, known = _suite(str(suite_dir), db_id)
    key = _key(gold_sql)
    if key in known:
        return (str(original), *(path for path, skipped, _ in variants if key not in skipped))
    return (str(original), *(path for path, _, _ in variants if judges(path, gold_sql)))
