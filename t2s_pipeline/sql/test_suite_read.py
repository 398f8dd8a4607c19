"""Which databases judge a question: the original, then the test-suite variants that can judge its gold query."""

from __future__ import annotations

import json
import sqlite3
from functools import lru_cache
from pathlib import Path

from t2s_pipeline.sql.test_suite_mutants import tie_probes, ties_matter

REPORT = "report.json"
PROBE_TIMEOUT_S = 5.0


def _key(sql: str) -> str:
    return " ".join(sql.split()).rstrip(";").strip()


@lru_cache(maxsize=256)
def _suite(suite_dir: str, db_id: str) -> tuple[tuple[tuple[str, frozenset], ...], frozenset]:
    """((variant path, gold keys it does not judge), ...) and the gold keys the suite was made with."""
    path = Path(suite_dir) / db_id / REPORT
    if not path.is_file():
        return (), frozenset()
    report = json.loads(path.read_text())
    variants = tuple((str(Path(suite_dir) / db_id / v["file"]), frozenset(map(_key, v.get("skipped_gold", ()))))
                     for v in report["variants"])
    return variants, frozenset(map(_key, report.get("judged_gold", ())))


@lru_cache(maxsize=65_536)
def judges(variant: str, gold_sql: str) -> bool:
    """For a gold query the suite was not made with: whether this variant gives it one answer, not one of
    several tied ones (an ORDER BY ... LIMIT cutting through equal keys, a LIMIT without ORDER BY)."""
    from t2s_pipeline.sql.compare import normalize_rows
    from t2s_pipeline.sql.execute import connect_readonly, execute_sql

    probes = tie_probes(gold_sql)
    if probes is None:
        return False
    if not probes:
        return True
    conn = connect_readonly(variant)
    try:
        for probe, keys, cut, top in probes:
            result = execute_sql(variant, probe, timeout_s=PROBE_TIMEOUT_S, conn=conn)
            if not result.ok or ties_matter(normalize_rows(result.rows), keys, cut, top):
                return False
    except sqlite3.Error:
        return False
    finally:
        conn.close()
    return True


def suite_databases(suite_dir: str | Path | None, db_id: str, original: str | Path, gold_sql: str) -> tuple[str, ...]:
    """The databases that judge a question: the original, then the suite's variants for db_id that can judge
    this gold query (the suite's report says so for the gold queries it was made with; others are probed
    for ties here). No suite, or none for db_id: the original alone."""
    if suite_dir is None:
        return (str(original),)
    variants, known = _suite(str(suite_dir), db_id)
    key = _key(gold_sql)
    if key in known:
        return (str(original), *(path for path, skipped in variants if key not in skipped))
    return (str(original), *(path for path, _ in variants if judges(path, gold_sql)))
