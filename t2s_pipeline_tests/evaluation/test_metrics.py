"""extract_sql, judge, judge_many, normalize_sql, spider_hardness and breakdown: how a prediction is scored."""

from __future__ import annotations

import sqlite3

import pytest

from t2s_pipeline.evaluation.generate import extract_sql
import json
import os
from pathlib import Path

from t2s_pipeline.evaluation import metrics
from t2s_pipeline.evaluation.metrics import (
    breakdown, breakdown_all, exact_match, judge, judge_many, normalize_sql, prepare_sql, rate, spider_hardness,
)


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


@pytest.mark.parametrize("reply, sql", [
    ("```sql\nSELECT name FROM singer;\n```", "SELECT name FROM singer"),
    ("Here you go:\n```SQL\nSELECT age FROM singer\n```\nHope it helps.", "SELECT age FROM singer"),
    ("```\nSELECT 1;\n```", "SELECT 1"),
    ("```sql\nSELECT 2", "SELECT 2"),  # an unclosed block (generation cut off)
    ("  SELECT name FROM singer ;  ", "SELECT name FROM singer"),
    ("SELECT name FROM singer", "SELECT name FROM singer"),
    ("", ""),
])
def test_extract_sql(reply, sql):
    assert extract_sql(reply) == sql


def test_extract_sql_from_a_sqlite_fence():
    assert extract_sql("```sqlite\nSELECT 1;\n```") == "SELECT 1"


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
    # Also when the gold rows are passed in, as the evaluation does.
    assert judge(db, gold, pred, gold_rows=[])["correct"] is False


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


def test_normalize_sql():
    assert normalize_sql("select  a from t") == normalize_sql("SELECT a FROM t")
    assert normalize_sql("SELECT a FROM t WHERE b = 1") == normalize_sql("select a\nfrom   t where b=1")
    assert normalize_sql("SELECT a FROM t") != normalize_sql("SELECT b FROM t")
    # Unparsable text is still compared, whitespace-collapsed and lower-cased.
    assert normalize_sql("not ( sql  AT all") == normalize_sql("NOT ( SQL at   all")


def test_breakdown_groups_by_a_field():
    predictions = [
        {"difficulty": "easy", "benchmark": "spider", "ex": True},
        {"difficulty": "easy", "benchmark": "bird", "ex": False},
        {"difficulty": "hard", "benchmark": "spider", "ex": True},
        {"difficulty": None, "benchmark": "spider", "ex": False},
    ]
    assert breakdown(predictions, "difficulty") == {
        "None": {"n": 1, "ex": 0.0},
        "easy": {"n": 2, "ex": 0.5},
        "hard": {"n": 1, "ex": 1.0},
    }
    assert breakdown(predictions, "benchmark") == {
        "bird": {"n": 1, "ex": 0.0},
        "spider": {"n": 3, "ex": round(2 / 3, 4)},
    }
    em = [{"db_id": "a", "em": True}, {"db_id": "a", "em": True}]
    assert breakdown(em, "db_id", field="em") == {"a": {"n": 2, "em": 1.0}}
    assert breakdown([], "db_id") == {}
    assert rate([]) == 0.0


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


def test_exact_match():
    assert exact_match("SELECT a FROM t", "select a  from t")
    assert not exact_match("SELECT a FROM t", "SELECT b FROM t")
    assert not exact_match("", "")


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
    real = metrics.execute_sql

    def counting(db_path, sql, **kwargs):
        calls.append(sql)
        return real(db_path, sql, **kwargs)

    monkeypatch.setattr(metrics, "execute_sql", counting)
    gold = "SELECT name FROM singer WHERE age > 28"
    items = [(db, gold, gold), (db, gold, "SELECT name FROM singer WHERE age >= 30"),
             (db, gold, "SELECT name  FROM singer WHERE age >= 30;"), (db, gold, gold + " ")]
    verdicts = judge_many(items, workers=1)
    assert all(v["correct"] for v in verdicts)
    assert calls == [gold, "SELECT name FROM singer WHERE age >= 30"]
    calls.clear()
    judge_many(items, workers=1, cache=False)
    assert len(calls) == 2 * len(items)


def test_breakdown_all_orders_hardness_levels():
    rows = [{"difficulty": d, "ex": e, "em": False, "f1": 0.5} for d, e in
            [("hard", True), ("easy", False), ("extra", True), ("medium", True), ("easy", True)]]
    table = breakdown_all(rows, "difficulty")
    assert list(table) == ["easy", "medium", "hard", "extra"]
    assert table["easy"] == {"n": 2, "ex": 0.5, "em": 0.0, "f1": 0.5}


# --- Spider hardness ----------------------------------------------------------------------------------


@pytest.mark.parametrize("sql, level", [
    ("SELECT count(*) FROM singer", "easy"),
    ("SELECT name FROM singer WHERE age > 20", "easy"),
    ("SELECT name, country, age FROM singer ORDER BY age DESC", "medium"),
    ("SELECT T2.name FROM concert AS T1 JOIN stadium AS T2 ON T1.stadium_id = T2.stadium_id "
     "GROUP BY T1.stadium_id ORDER BY count(*) DESC LIMIT 1", "extra"),
    ("SELECT name FROM singer WHERE singer_id NOT IN (SELECT singer_id FROM singer_in_concert)", "hard"),
    ("SELECT name FROM a INTERSECT SELECT name FROM b", "hard"),
    ("not sql at all (", None),
])
def test_spider_hardness(sql, level):
    assert spider_hardness(sql) == level


SPIDER = Path(os.environ.get("T2S_SPIDER_DIR") or Path(__file__).resolve().parents[3] / "shared/benchmarks/spider")


def test_spider_hardness_agrees_with_spiders_own_rules_on_dev():
    """Spider's eval_hardness on the parsed `sql` of dev.json against ours on the query text."""
    if not (SPIDER / "dev.json").is_file():
        pytest.skip(f"Spider dev not found at {SPIDER}: the hardness agreement test needs dev.json")
    from t2s_pipeline_tests.evaluation.spider_hardness_reference import hardness

    records = json.loads((SPIDER / "dev.json").read_text())
    agree = sum(hardness(r["sql"]) == spider_hardness(r["query"]) for r in records)
    print(f"\nSpider hardness: {agree} of {len(records)} dev queries agree with Spider's rules")
    assert agree / len(records) >= 0.99


def test_judge_many_finishes_in_process_when_no_pool_can_start(db, people, monkeypatch):
    items = many_items(db, people)
    expected = judge_many(items, workers=1)

    class NoPool:
        def __init__(self, *args, **kwargs):
            raise OSError("no processes here")

    monkeypatch.setattr(metrics, "ProcessPoolExecutor", NoPool)
    assert judge_many(items, workers=2, sequential_budget_s=0.0) == expected


def test_paired_comparison_counts_fixed_and_broken_and_gives_the_exact_sign_test():
    from t2s_pipeline.evaluation.metrics import paired_comparison

    before = [True, True, False, False, True, False]
    after = [True, False, True, True, True, False]
    c = paired_comparison(before, after, ["SELECT 1", "SELECT 2", "a", "b", "SELECT  x;", "y"],
                          ["SELECT 1", "SELECT 3", "c", "d", "SELECT x", "z"])
    # 2 fixed, 1 broken: P(split of 3 at most 1-2) = (1 + 3) / 8, doubled and capped
    assert c == {"fixed": 2, "broken": 1, "net": 1, "p_value": 1.0, "answers_changed": 4}
    eight_fixed = paired_comparison([False] * 8 + [True] * 2, [True] * 10)
    assert (eight_fixed["net"], eight_fixed["p_value"]) == (8, 0.0078)  # 2 / 2**8
    seven_one = paired_comparison([False] * 7 + [True], [True] * 7 + [False])
    assert seven_one["p_value"] == 0.0703  # 2 * (1 + 8) / 256
    assert paired_comparison([True, False], [True, False])["p_value"] == 1.0  # nothing changed
    with pytest.raises(ValueError, match="2 verdicts against 3"):
        paired_comparison([True, False], [True, False, True])
