"""Repair conversations: a tool conversation (tools.py) whose first query is a near miss of the gold.

The near miss is a mutant of the gold query (sql/test_suite_mutants.py: one edit, the mistakes a model
makes) that the judge scores wrong on the pair's database: it errors, returns nothing, or returns other
rows than the gold. Judged on the original database alone, so a near miss used here is wrong under the
test-suite judge too (the suite judge needs the original right first); a mutant that returns the gold's
rows is never used, since the conversation would show a working query being replaced. execute_sql shows
what the near miss returned, then the assistant runs the gold and answers with it. The near miss's turn
is marked "train": false: the model sees a failed query and its fix, and never learns to write the miss.
"""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path

from t2s_pipeline.sql.execute import execute_sql
from t2s_pipeline.sql.judge import judge, prepare_sql
from t2s_pipeline.sql.test_suite_mutants import mutants
from t2s_pipeline.sql.test_suite_variants import read_model

ERRORS, EMPTY, OTHER_ROWS = "errors", "returns_nothing", "other_rows"
MUTANTS_TRIED = 8  # per pair, in a seeded random order


class NearMisses:
    """Near misses of gold queries, one database model per database (read once); counts what was tried."""

    def __init__(self, seed: int = 0, timeout_s: float = 5.0):
        self.rng = random.Random(f"{seed}:repairs")
        self.timeout_s = timeout_s
        self.models: dict[str, object] = {}
        self.why: Counter = Counter()
        self.tried = self.judged_right = 0

    def find(self, gold_sql: str, db_path: str | Path, schema: dict, conn=None) -> tuple[str, str] | None:
        """(a mutant of the gold the judge scores wrong on the database, why: errors / returns_nothing /
        other_rows), or None when no mutant of the first MUTANTS_TRIED is wrong (or the gold cannot be mutated)."""
        key = str(db_path)
        if key not in self.models:
            self.models[key] = read_model(db_path, random.Random(0), schema)
        connections = {key: conn} if conn is not None else None
        for sql in mutants(gold_sql, self.models[key], self.rng, limit=MUTANTS_TRIED):
            self.tried += 1
            if judge(sql, gold_sql, [key], timeout_s=self.timeout_s, connections=connections).correct:
                self.judged_right += 1
                continue
            result = execute_sql(key, prepare_sql(sql), timeout_s=self.timeout_s, max_rows=1, conn=conn)
            why = ERRORS if not result.ok else EMPTY if not result.rows else OTHER_ROWS
            self.why[why] += 1
            return sql, why
        return None

    def stats(self) -> dict:
        return {"mutants_tried": self.tried, "mutants_judged_right": self.judged_right, "why": dict(self.why)}
