"""Reading a suite back: on a variant where ties leave the gold's row order open, answers compare as multisets."""

from __future__ import annotations

import json
import sqlite3

from t2s_pipeline.sql.judge import judge
from t2s_pipeline.sql.test_suite_read import clear_caches, orders_on, suite_databases

GOLD = "SELECT name, age FROM person ORDER BY age"


def _database(path, rows) -> str:
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE person (id INTEGER PRIMARY KEY, name TEXT, age INTEGER)")
    conn.executemany("INSERT INTO person VALUES (?, ?, ?)", rows)
    conn.commit()
    conn.close()
    return str(path)


def _suite(tmp_path, unordered: list[str], judged: list[str]):
    """An original without ties and a one-variant suite where ann and bob share an age."""
    original = _database(tmp_path / "people.sqlite", [(1, "ann", 30), (2, "bob", 40), (3, "cy", 50)])
    folder = tmp_path / "suites" / "people"
    folder.mkdir(parents=True)
    _database(folder / "variant-1.sqlite", [(1, "ann", 30), (2, "bob", 30), (3, "cy", 95)])
    report = {"judged_gold": judged, "variants": [{"file": "variant-1.sqlite", "skipped_gold": [],
                                                   "unordered_gold": unordered}]}
    (folder / "report.json").write_text(json.dumps(report))
    clear_caches()
    return original, tmp_path / "suites"


def test_a_variant_with_ties_in_the_gold_order_compares_as_multisets(tmp_path):
    original, suites = _suite(tmp_path, unordered=[GOLD], judged=[GOLD])
    dbs = suite_databases(suites, "people", original, GOLD)
    assert len(dbs) == 2 and orders_on(dbs, GOLD, True) == (True, False)
    # Ties broken the other way: same rows, the order the gold's ORDER BY leaves open. Correct.
    other_tiebreak = judge("SELECT name, age FROM person ORDER BY age, name DESC", GOLD, dbs)
    assert other_tiebreak.correct and other_tiebreak.databases == 2
    # Right on the original by luck, wrong rows on the variant: the variant still judges, and says wrong.
    lucky = judge("SELECT name, age FROM person WHERE age < 90 ORDER BY age", GOLD, dbs)
    assert lucky.original_correct and not lucky.correct
    # Order still counts on the original database.
    assert not judge("SELECT name, age FROM person ORDER BY age DESC", GOLD, dbs).correct


def test_a_gold_the_suite_was_not_made_with_is_probed_for_ties(tmp_path):
    original, suites = _suite(tmp_path, unordered=[], judged=["SELECT 1"])
    dbs = suite_databases(suites, "people", original, GOLD)
    assert len(dbs) == 2 and orders_on(dbs, GOLD, True) == (True, False)
    assert judge("SELECT name, age FROM person ORDER BY age, name DESC", GOLD, dbs).correct
    # Ties that a LIMIT cuts through: the variant cannot judge that gold at all.
    cut = "SELECT name FROM person ORDER BY age LIMIT 1"
    assert suite_databases(suites, "people", original, cut) == (original,)
    # No ORDER BY, or no tie on the variant: as the gold says.
    assert orders_on(dbs, "SELECT name FROM person", False) == (False, False)
    assert orders_on(dbs, "SELECT name, age FROM person ORDER BY name", True) == (True, True)
