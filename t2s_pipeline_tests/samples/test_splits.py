"""split_by_question: one split per id, deterministic per seed, stratified per database, fractions checked."""

from __future__ import annotations

from collections import Counter

import pytest

from t2s_pipeline.samples.splits import SPLITS, split_by_question

FRACTIONS = {"train": 0.8, "dev": 0.1, "test": 0.1}


def records(sizes: dict[str, int]) -> list[dict]:
    return [{"id": f"bench/train/{db}-{i}", "db_id": db} for db, n in sizes.items() for i in range(n)]


SIZES = {"shop": 30, "school": 20, "flights": 10, "tiny_db": 3}


def test_every_id_goes_to_exactly_one_split():
    recs = records(SIZES)
    assignment = split_by_question(recs, FRACTIONS, seed=0)
    assert set(assignment) == {r["id"] for r in recs}
    assert set(assignment.values()) <= set(SPLITS)
    assert sum(Counter(assignment.values()).values()) == len(recs)


def test_same_seed_same_split_and_other_seed_another():
    recs = records(SIZES)
    first = split_by_question(recs, FRACTIONS, seed=7)
    # Input order must not matter either: the split is by id, not by position.
    again = split_by_question(list(reversed(recs)), FRACTIONS, seed=7)
    other = split_by_question(recs, FRACTIONS, seed=8)
    assert first == again
    assert first != other
    # Another seed reshuffles but keeps the per-split sizes.
    assert Counter(first.values()) == Counter(other.values())


def test_stratified_per_database():
    recs = records(SIZES)
    assignment = split_by_question(recs, FRACTIONS, seed=0)
    per_db: dict[str, Counter] = {db: Counter() for db in SIZES}
    for r in recs:
        per_db[r["db_id"]][assignment[r["id"]]] += 1
    for db, n in SIZES.items():
        if n >= 10:
            assert per_db[db]["test"] >= 1, db
            assert per_db[db]["dev"] >= 1, db
            assert per_db[db]["test"] == round(n * 0.1), db
            assert per_db[db]["dev"] == round(n * 0.1), db
        assert sum(per_db[db].values()) == n


def test_duplicate_ids_are_assigned_once():
    recs = records({"shop": 10}) + records({"shop": 10})
    assignment = split_by_question(recs, FRACTIONS, seed=0)
    assert len(assignment) == 10
    assert Counter(assignment.values())["test"] == 1


@pytest.mark.parametrize("fractions", [
    {"train": 0.8, "dev": 0.1, "test": 0.2},       # sums to 1.1
    {"train": 0.5, "dev": 0.1, "test": 0.1},       # sums to 0.7
    {"train": 0.8, "valid": 0.1, "test": 0.1},     # unknown split name
    {},
])
def test_bad_fractions_are_rejected(fractions):
    with pytest.raises(ValueError, match="split fractions"):
        split_by_question(records({"shop": 10}), fractions)


def test_negative_fractions_are_rejected():
    with pytest.raises(ValueError):
        split_by_question(records({"shop": 10}), {"train": -0.2, "dev": 0.6, "test": 0.6})
