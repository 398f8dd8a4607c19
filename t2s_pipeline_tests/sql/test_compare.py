"""results_match and orders_top_level: how execution accuracy compares results."""

from __future__ import annotations

import pytest

from t2s_pipeline.sql.compare import orders_top_level, results_match


def test_ordered_results_compare_as_lists():
    assert results_match([(1,), (2,)], [(1,), (2,)], ordered=True)
    assert not results_match([(1,), (2,)], [(2,), (1,)], ordered=True)


def test_unordered_results_compare_as_multisets():
    assert results_match([(1,), (2,)], [(2,), (1,)], ordered=False)


def test_duplicates_count():
    assert not results_match([(1,), (1,), (2,)], [(1,), (2,), (2,)], ordered=False)
    assert not results_match([(1,), (1,)], [(1,)], ordered=False)


def test_floats_match_within_rounding():
    assert results_match([(1 / 3,)], [(0.3333333333,)], ordered=False)
    assert results_match([(-0.0,)], [(0.0,)], ordered=True)
    assert not results_match([(0.33,)], [(1 / 3,)], ordered=False)


def test_width_mismatch_never_matches():
    assert not results_match([(1, "a")], [(1,)], ordered=False)
    assert not results_match([(1, "a")], [(1,)], ordered=True)


def test_empty_results_match_each_other():
    assert results_match([], [], ordered=True)
    assert not results_match([], [(1,)], ordered=False)


@pytest.mark.parametrize("sql, ordered", [
    ("SELECT name FROM singer ORDER BY age", True),
    ("SELECT name FROM singer", False),
    ("SELECT name FROM (SELECT name, age FROM singer ORDER BY age LIMIT 3)", False),  # inner ORDER BY only
    ("SELECT a FROM t UNION SELECT b FROM u ORDER BY 1", True),
    ("SELECT count(*) FROM t WHERE x IN (SELECT y FROM u ORDER BY y)", False),
])
def test_orders_top_level(sql, ordered):
    assert orders_top_level(sql) is ordered
