"""Split questions into train/dev/test by question id, stratified by database, deterministic for a seed."""

from __future__ import annotations

import random
from collections import defaultdict

SPLITS = ("train", "dev", "test")


def split_by_question(records: list[dict], fractions: dict[str, float], seed: int = 0) -> dict[str, str]:
    """Map each record id to a split. Every id goes to exactly one split; each database is cut alike."""
    if abs(sum(fractions.values()) - 1.0) > 1e-6 or set(fractions) - set(SPLITS) or min(fractions.values()) < 0:
        raise ValueError(f"split fractions must be over {SPLITS}, non-negative and sum to 1, got {fractions}")
    by_db: dict[str, list[str]] = defaultdict(list)
    for record in records:
        by_db[record["db_id"]].append(record["id"])
    assignment: dict[str, str] = {}
    for db_id in sorted(by_db):
        ids = sorted(set(by_db[db_id]))
        random.Random(f"{seed}:{db_id}").shuffle(ids)
        n_test = round(len(ids) * fractions.get("test", 0.0))
        n_dev = round(len(ids) * fractions.get("dev", 0.0))
        for i, record_id in enumerate(ids):
            assignment[record_id] = "test" if i < n_test else "dev" if i < n_test + n_dev else "train"
    return assignment
