"""Variant databases: the reverse-order twin holds the rows the forward copy kept."""

from __future__ import annotations

import random
import sqlite3
from collections import Counter

from t2s_pipeline.sql.test_suite_variants import build, kept_rows, read_model


def test_reverse_twin_keeps_the_rows_the_forward_copy_kept(tmp_path):
    db = tmp_path / "unique.sqlite"
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE person (id INTEGER, email TEXT UNIQUE, age INTEGER)")
    conn.execute("INSERT INTO person VALUES (1, 'a@x', 30)")
    conn.commit()
    conn.close()
    model = read_model(db, random.Random(0))
    # Three candidate rows share an email: the forward copy keeps the first, a reversed insert the last.
    rows = {"person": [(1, "a@x", 30), (2, "b@x", 40), (3, "a@x", 50), (4, "a@x", 60)]}
    forward, twin = build(model, rows), build(model, rows, reverse=True)
    held = lambda c: Counter(c.execute("SELECT * FROM person").fetchall())
    assert held(forward) == held(twin) == Counter([(1, "a@x", 30), (2, "b@x", 40)])
    # Same rows, other insertion order: that is what the twin is for.
    assert [r[0] for r in twin.execute("SELECT id FROM person ORDER BY rowid")] == [2, 1]
    assert kept_rows(forward, model)["person"] == [(1, "a@x", 30), (2, "b@x", 40)]
