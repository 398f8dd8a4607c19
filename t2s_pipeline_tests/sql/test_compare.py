"""results_match, row_f1 and orders_top_level: how execution accuracy compares results.

The spider protocol is the Spider test-suite evaluator's (`--etype exec`, with --keep_distinct):
multisets of rows, lists when the gold orders its top level, any column permutation of the
prediction. The bird protocol is BIRD's `set(pred) == set(gold)`.
"""

from __future__ import annotations

import pytest

from t2s_pipeline.sql.compare import column_permutation, orders_top_level, results_match, row_f1


def test_ordered_results_compare_as_lists():
    assert results_match([(1,), (2,)], [(1,), (2,)], ordered=True)
    assert not results_match([(1,), (2,)], [(2,), (1,)], ordered=True)


def test_unordered_results_compare_as_multisets():
    assert results_match([(1,), (2,)], [(2,), (1,)], ordered=False)


def test_duplicates_count():
    assert not results_match([(1,), (1,), (2,)], [(1,), (2,), (2,)], ordered=False)
    assert not results_match([(1,), (1,)], [(1,)], ordered=False)
    assert results_match([(1,), (2,), (1,)], [(1,), (1,), (2,)], ordered=False)


def test_floats_match_within_rounding():
    assert results_match([(1 / 3,)], [(0.3333333333,)], ordered=False)
    assert results_match([(-0.0,)], [(0.0,)], ordered=True)
    assert results_match([(2,)], [(2.0,)], ordered=True)
    assert not results_match([(0.33,)], [(1 / 3,)], ordered=False)


def test_width_mismatch_never_matches():
    assert not results_match([(1, "a")], [(1,)], ordered=False)
    assert not results_match([(1, "a")], [(1,)], ordered=True)


def test_empty_results_match_each_other_whatever_their_width():
    assert results_match([], [], ordered=True)
    assert not results_match([], [(1,)], ordered=False)
    assert not results_match([(1,)], [], ordered=False)


GOLD = [("Ann", 30, "FR"), ("Bob", 45, "DE"), ("Cid", 27, "FR")]


def test_columns_in_another_order_match():
    pred = [(30, "FR", "Ann"), (45, "DE", "Bob"), (27, "FR", "Cid")]
    assert results_match(GOLD, pred, ordered=True)
    assert results_match(GOLD, pred[::-1], ordered=False)
    assert not results_match(GOLD, pred[::-1], ordered=True)
    assert column_permutation(GOLD, pred, ordered=True) == (2, 0, 1)


def test_column_permutation_must_be_the_same_for_every_row():
    # Each row is a permutation of a gold row, but no single column order maps one result on the other.
    gold = [(1, 2), (3, 4)]
    pred = [(2, 1), (3, 4)]
    assert not results_match(gold, pred, ordered=False)


def test_column_permutation_with_equal_column_sets():
    gold = [(1, 2), (2, 1), (1, 1)]
    pred = [(2, 1), (1, 2), (1, 1)]  # swapped columns: also the same rows, so a match either way
    assert results_match(gold, pred, ordered=True)
    assert results_match([(1, 2), (1, 2)], [(2, 1), (2, 1)], ordered=True)
    assert not results_match([(1, 2), (1, 2)], [(2, 1), (1, 2)], ordered=True)


def test_bird_protocol_compares_sets_in_column_order():
    assert results_match([(1,), (1,), (2,)], [(2,), (1,)], ordered=True, protocol="bird")  # duplicates and order
    assert not results_match([(1, "a")], [("a", 1)], ordered=False, protocol="bird")  # columns must agree
    assert results_match([(1, "a")], [("a", 1)], ordered=False, protocol="spider")
    with pytest.raises(ValueError, match="protocol"):
        results_match([], [], ordered=False, protocol="nope")


def test_row_f1():
    assert row_f1([(1,), (2,)], [(1,), (2,)]) == 1.0
    assert row_f1([], []) == 1.0
    assert row_f1([(1,)], []) == 0.0
    assert row_f1([(1,), (2,)], [(1,)]) == pytest.approx(2 / 3, abs=1e-4)  # P 1, R 1/2
    assert row_f1([(1,), (2,)], [(1,), (3,), (4,), (5,)]) == pytest.approx(1 / 3, abs=1e-4)  # P 1/4, R 1/2
    assert row_f1([(1, "a"), (2, "b")], [("a", 1), ("c", 3)]) == 0.5  # columns matched first
    assert row_f1([(1,), (1,)], [(1,)]) == pytest.approx(2 / 3, abs=1e-4)  # duplicates count


@pytest.mark.parametrize("sql, ordered", [
    ("SELECT name FROM singer ORDER BY age", True),
    ("SELECT name FROM singer", False),
    ("SELECT name FROM (SELECT name, age FROM singer ORDER BY age LIMIT 3)", False),  # inner ORDER BY only
    ("SELECT a FROM t UNION SELECT b FROM u ORDER BY 1", True),
    ("SELECT count(*) FROM t WHERE x IN (SELECT y FROM u ORDER BY y)", False),
    ("select name from singer order\n  by age", True),
])
def test_orders_top_level(sql, ordered):
    assert orders_top_level(sql) is ordered
