"""The one judge and judge_many: verdict records for predictions, on one database, cached and in parallel."""

from __future__ import annotations

import sqlite3

import pytest

from t2s_pipeline.sql import judge_many as judge_many_module
from t2s_pipeline.sql.judge import judge as judge_verdict
from t2s_pipeline.sql.judge import prepare_sql
from t2s_pipeline.sql.judge_many import judge_many


def judge(db_path, gold_sql: str, pred_sql: str, **options) -> dict:
    """The verdict record of one prediction on one database, as judge_many writes it."""
    return judge_verdict(pred_sql, gold_sql, [db_path], **options).as_dict()



@pytest.fixture
def db(tmp_path):
    path = tmp_path / "music.sqlite"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE singer (id INTEGER PRIMARY KEY, name TEXT, age INTEGER)")
    conn.executemany("INSERT INTO singer VALUES (?, ?, ?)", [(1, "Ann", 30), (2, "Bob", 45), (3, "Cid", 27)])
    conn.commit()
    conn.close()
    return path


def count_rows(path) -> int:
    conn = sqlite3.connect(path)
    try:
        return conn.execute("SELECT count(*) FROM singer").fetchone()[0]
    finally:
        conn.close()


def test_correct_prediction(db):
    verdict = judge(db, "SELECT name FROM singer WHERE age > 28", "SELECT name FROM singer WHERE age >= 30")
    assert verdict == {"correct": True, "reason": "ok", "error": "", "f1": 1.0}


def test_wrong_prediction(db):
    verdict = judge(db, "SELECT name FROM singer WHERE age > 28", "SELECT name FROM singer")
    assert verdict["correct"] is False and verdict["reason"] == "wrong_result"


def test_wrong_width_is_wrong(db):
    verdict = judge(db, "SELECT name FROM singer", "SELECT name, age FROM singer")
    assert verdict["correct"] is False and verdict["reason"] == "wrong_result"


def test_syntax_error_is_exec_error(db):
    verdict = judge(db, "SELECT name FROM singer", "SELEC name FROM singer")
    assert verdict["correct"] is False and verdict["reason"] == "exec_error"
    assert verdict["error"]
    verdict = judge(db, "SELECT name FROM singer", "SELECT nope FROM singer")
    assert verdict["reason"] == "exec_error"


@pytest.mark.parametrize("pred", ["", "   ", ";", "\n;\n"])
def test_empty_prediction_is_not_sql_even_when_the_gold_result_is_empty(db, pred):
    gold = "SELECT name FROM singer WHERE age > 100"
    verdict = judge(db, gold, pred)
    assert verdict["correct"] is False and verdict["reason"] == "not_sql"


def test_two_statements_are_not_sql(db):
    verdict = judge(db, "SELECT name FROM singer", "SELECT name FROM singer; DELETE FROM singer")
    assert verdict["correct"] is False and verdict["reason"] == "not_sql"
    assert count_rows(db) == 3


@pytest.mark.parametrize("pred", [
    "DELETE FROM singer",
    "UPDATE singer SET age = 0",
    "INSERT INTO singer VALUES (4, 'Eve', 20)",
    "DROP TABLE singer",
])
def test_writes_are_refused_and_leave_the_table_unchanged(db, pred):
    before = db.read_bytes()
    verdict = judge(db, "SELECT count(*) FROM singer", pred)
    assert verdict["correct"] is False
    assert verdict["reason"] in ("denied", "exec_error")
    assert count_rows(db) == 3
    assert db.read_bytes() == before


def test_row_order_ignored_when_gold_has_no_order_by(db):
    verdict = judge(db, "SELECT name FROM singer", "SELECT name FROM singer ORDER BY name DESC")
    assert verdict["correct"] is True


def test_row_order_matters_when_gold_has_order_by(db):
    verdict = judge(db, "SELECT name FROM singer ORDER BY age", "SELECT name FROM singer ORDER BY age DESC")
    assert verdict["correct"] is False and verdict["reason"] == "wrong_result"
    verdict = judge(db, "SELECT name FROM singer ORDER BY age", "SELECT name FROM singer ORDER BY age ASC")
    assert verdict["correct"] is True


def test_duplicates_count_without_order_by(db):
    verdict = judge(db, "SELECT age > 28 FROM singer", "SELECT DISTINCT age > 28 FROM singer")
    assert verdict["correct"] is False


def test_gold_error_is_reported_as_gold_error(db):
    verdict = judge(db, "SELECT nope FROM singer", "SELECT name FROM singer")
    assert verdict["correct"] is False and verdict["reason"] == "gold_exec_error"


# --- the reference protocol's verdicts (Spider test-suite, --etype exec) ------------------------------


@pytest.fixture
def people(tmp_path):
    """Rows with repeated values, so multiset and set semantics differ."""
    path = tmp_path / "people.sqlite"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE person (id INTEGER PRIMARY KEY, name TEXT, country TEXT, age INTEGER)")
    conn.executemany("INSERT INTO person VALUES (?, ?, ?, ?)",
                     [(1, "Ann", "FR", 30), (2, "Bob", "DE", 45), (3, "Cid", "FR", 27), (4, "Dee", "US", 30)])
    conn.commit()
    conn.close()
    return path


@pytest.mark.parametrize("gold, pred, correct", [
    # Columns in another order: correct (the test suite tries column permutations).
    ("SELECT name, age FROM person", "SELECT age, name FROM person", True),
    ("SELECT name, age FROM person ORDER BY age", "SELECT age, name FROM person ORDER BY age", True),
    # Rows in another order: correct without ORDER BY in the gold, wrong with it.
    ("SELECT name FROM person", "SELECT name FROM person ORDER BY name DESC", True),
    ("SELECT name FROM person ORDER BY name", "SELECT name FROM person ORDER BY name DESC", False),
    # Duplicate rows count (multiset): DISTINCT where the gold keeps duplicates is wrong, and the reverse.
    ("SELECT country FROM person", "SELECT DISTINCT country FROM person", False),
    ("SELECT DISTINCT country FROM person", "SELECT country FROM person", False),
    ("SELECT age FROM person WHERE country = 'FR' OR age = 30", "SELECT age FROM person WHERE age < 31", True),
    # Same multiset, duplicates included, other order and other column order.
    ("SELECT country, age FROM person", "SELECT age, country FROM person ORDER BY age DESC", True),
    # One column too many is wrong, even when the gold's columns are among them.
    ("SELECT name FROM person", "SELECT name, age FROM person", False),
    # Both empty: correct.
    ("SELECT name FROM person WHERE age > 99", "SELECT age FROM person WHERE age < 0", True),
])
def test_reference_protocol_verdicts(people, gold, pred, correct):
    verdict = judge(people, gold, pred)
    assert verdict["correct"] is correct, verdict
    assert verdict["reason"] == ("ok" if correct else "wrong_result")


def test_bird_protocol_ignores_duplicates_but_not_column_order(people):
    assert judge(people, "SELECT country FROM person", "SELECT DISTINCT country FROM person", protocol="bird")["correct"]
    assert not judge(people, "SELECT name, age FROM person", "SELECT age, name FROM person", protocol="bird")["correct"]


def test_record_f1_gives_partial_credit(people):
    verdict = judge(people, "SELECT name FROM person", "SELECT name FROM person WHERE country = 'FR'")
    assert verdict["reason"] == "wrong_result"
    assert verdict["f1"] == pytest.approx(2 * 1 * 0.5 / 1.5, abs=1e-4)  # precision 1, recall 2/4
    assert judge(people, "SELECT name FROM person", "SELEC")["f1"] == 0.0


def test_pipe_sql_predictions_are_read_back_before_execution(people):
    pipe = "FROM person\n|> WHERE age > 28\n|> SELECT name"
    assert "|>" not in prepare_sql(pipe)
    assert prepare_sql("SELECT 1") == "SELECT 1"
    assert judge(people, "SELECT name FROM person WHERE age > 28", pipe)["correct"]


def test_missing_database_is_an_exec_error(tmp_path):
    verdict = judge(tmp_path / "absent.sqlite", "SELECT 1", "SELECT 1")
    assert verdict["reason"] == "exec_error" and verdict["error"].startswith("database not found")
    [verdict] = judge_many([(tmp_path / "absent.sqlite", "SELECT 1", "SELECT 1")], workers=1)
    assert verdict["reason"] == "exec_error" and verdict["error"].startswith("database not found")


# --- judge_many: gold cached, parallel --------------------------------------------------------------


def many_items(db, people):
    golds = ["SELECT name FROM singer WHERE age > 28", "SELECT name FROM singer ORDER BY age"]
    preds = ["SELECT name FROM singer WHERE age >= 30", "SELECT name FROM singer", "SELEC", "DROP TABLE singer",
             "SELECT name FROM singer ORDER BY age", "SELECT name FROM singer ORDER BY age DESC", ""]
    items = [(db, g, p) for g in golds for p in preds]
    items += [(people, "SELECT country FROM person", "SELECT DISTINCT country FROM person"),
              (people, "SELECT name, age FROM person", "SELECT age, name FROM person")]
    return items


def test_judge_many_agrees_with_judge_in_input_order(db, people):
    items = many_items(db, people)
    expected = [judge(*item) for item in items]
    assert judge_many(items, workers=1) == expected
    assert judge_many(items, workers=1, cache=False) == expected


def test_judge_many_in_worker_processes_agrees(db, people):
    items = many_items(db, people)
    expected = judge_many(items, workers=1)
    # sequential_budget_s=0: everything goes to the pool.
    assert judge_many(items, workers=2, sequential_budget_s=0.0) == expected


def test_each_gold_runs_once_and_repeated_predictions_reuse_results(db, monkeypatch):
    calls = []
    real = judge_many_module.execute_sql

    def counting(db_path, sql, **kwargs):
        calls.append(sql)
        return real(db_path, sql, **kwargs)

    monkeypatch.setattr(judge_many_module, "execute_sql", counting)
    gold = "SELECT name FROM singer WHERE age > 28"
    items = [(db, gold, gold), (db, gold, "SELECT name FROM singer WHERE age >= 30"),
             (db, gold, "SELECT name  FROM singer WHERE age >= 30;"), (db, gold, gold + " ")]
    verdicts = judge_many(items, workers=1)
    assert all(v["correct"] for v in verdicts)
    assert calls == [gold, "SELECT name FROM singer WHERE age >= 30"]
    calls.clear()
    judge_many(items, workers=1, cache=False)
    assert len(calls) == 2 * len(items)


# --- Spider hardness ----------------------------------------------------------------------------------


def test_judge_many_finishes_in_process_when_no_pool_can_start(db, people, monkeypatch):
    items = many_items(db, people)
    expected = judge_many(items, workers=1)

    class NoPool:
        def __init__(self, *args, **kwargs):
            raise OSError("no processes here")

    monkeypatch.setattr(judge_many_module, "ProcessPoolExecutor", NoPool)
    assert judge_many(items, workers=2, sequential_budget_s=0.0) == expected


