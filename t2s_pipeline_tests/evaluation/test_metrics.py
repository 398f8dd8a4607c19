"""extract_sql, canonical_sql, exact match, breakdowns, Spider hardness and the paired comparison."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from t2s_pipeline.evaluation.metrics import breakdown, breakdown_all, canonical_sql, exact_match, rate, spider_hardness
from t2s_pipeline.modeling.generate import extract_sql



@pytest.mark.parametrize("reply, sql", [
    ("```sql\nSELECT name FROM singer;\n```", "SELECT name FROM singer"),
    ("Here you go:\n```SQL\nSELECT age FROM singer\n```\nHope it helps.", "SELECT age FROM singer"),
    ("```\nSELECT 1;\n```", "SELECT 1"),
    ("```sql\nSELECT 2", "SELECT 2"),  # an unclosed block (generation cut off)
    ("  SELECT name FROM singer ;  ", "SELECT name FROM singer"),
    ("SELECT name FROM singer", "SELECT name FROM singer"),
    ("", ""),
    ('SELECT 1<tool_call>\n{"name": "execute_sql", "arguments": {"sql": "SELECT 1"}}\n</tool_call>', "SELECT 1"),
])
def test_extract_sql(reply, sql):
    assert extract_sql(reply) == sql


def test_extract_sql_from_a_sqlite_fence():
    assert extract_sql("```sqlite\nSELECT 1;\n```") == "SELECT 1"


def test_normalize_sql():
    assert canonical_sql("select  a from t") == canonical_sql("SELECT a FROM t")
    assert canonical_sql("SELECT a FROM t WHERE b = 1") == canonical_sql("select a\nfrom   t where b=1")
    assert canonical_sql("SELECT a FROM t") != canonical_sql("SELECT b FROM t")
    # Unparsable text is still compared, whitespace-collapsed and lower-cased.
    assert canonical_sql("not ( sql  AT all") == canonical_sql("NOT ( SQL at   all")


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


def test_exact_match():
    assert exact_match("SELECT a FROM t", "select a  from t")
    assert not exact_match("SELECT a FROM t", "SELECT b FROM t")
    assert not exact_match("", "")


# --- judge_many: gold cached, parallel --------------------------------------------------------------


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
