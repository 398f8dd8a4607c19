"""Self-consistency: the vote by execution result over candidate queries."""

from __future__ import annotations

import sqlite3

import pytest

from t2s_pipeline.evaluation.self_consistency import result_key, vote


@pytest.fixture
def db(tmp_path):
    path = tmp_path / "music.sqlite"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE singer (id INTEGER PRIMARY KEY, name TEXT, age INTEGER)")
    conn.executemany("INSERT INTO singer VALUES (?, ?, ?)", [(1, "Ann", 25), (2, "Bob", 41), (3, "Cid", 35)])
    conn.commit()
    conn.close()
    return path


def test_the_largest_group_of_equal_results_wins(db):
    candidates = ["SELECT name FROM singer",  # greedy, alone
                  "SELECT name FROM singer WHERE age > 30",
                  "SELECT name FROM singer WHERE age >= 35",  # same rows as the one before
                  "SELECT nope FROM singer"]  # fails: no vote
    chosen = vote(db, candidates)
    assert chosen == {"sql": candidates[1], "votes": 2, "candidates": 4, "ran": 3}


def test_ties_go_to_the_earliest_candidate_so_greedy_wins_its_ties(db):
    candidates = ["SELECT count(*) FROM singer", "SELECT max(age) FROM singer"]
    assert vote(db, candidates)["sql"] == candidates[0]
    assert vote(db, candidates[::-1])["sql"] == candidates[1]


def test_row_order_does_not_split_a_group_and_nothing_that_runs_falls_back_to_greedy(db):
    assert result_key([(1,), (2,)]) == result_key([(2,), (1,)])
    assert vote(db, ["bad", "SELECT name FROM singer ORDER BY name DESC", "SELECT name FROM singer ORDER BY name",
                     "SELECT id FROM singer"])["votes"] == 2
    assert vote(db, ["greedy prose", "DELETE FROM singer"]) == {"sql": "greedy prose", "votes": 0, "candidates": 2,
                                                                 "ran": 0}


def test_pipe_candidates_are_read_back_before_they_run(db):
    chosen = vote(db, ["SELECT 1", "FROM singer |> WHERE age > 30 |> SELECT name",
                       "SELECT name FROM singer WHERE age > 30"])
    assert chosen["votes"] == 2 and chosen["sql"].startswith("FROM singer")
