"""validate_pair / check_pipe: a rewrite counts only when execution proves it, with a reason code otherwise."""

from __future__ import annotations

import hashlib

import pytest

from t2s_pipeline.sql.execute import execute_sql
from t2s_pipeline.sql.pipe import PipeQuery, split_pipe
from t2s_pipeline.sql.validate import check_pipe, reason_construct, run_prefix, validate_pair
from t2s_pipeline_tests.sql.test_pipe import KNOWN, make_music_db

NEVER_ENDS = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c"


@pytest.fixture
def db(tmp_path):
    return make_music_db(tmp_path / "music.sqlite")


def pipe(text: str) -> PipeQuery:
    steps = tuple(split_pipe(text))
    return PipeQuery(steps, tuple("FROM" if s.startswith("FROM") else s.split()[1] for s in steps))


def gold(db, sql):
    result = execute_sql(db, sql)
    assert result.ok, result.error
    return result


def test_a_proven_rewrite_matches(db):
    outcome = validate_pair(db, "SELECT country, count(*) FROM singer GROUP BY country ORDER BY country", KNOWN)
    assert outcome == {
        "gold": "ok", "gold_detail": "", "result_rows": 4, "ordered": True, "validation": "match", "detail": "",
        "pipe_sql": "FROM singer\n|> AGGREGATE COUNT(*) AS count_all GROUP BY country\n|> ORDER BY country",
        "pipe_ops": ["FROM", "AGGREGATE", "ORDER BY"]}


def test_floats_compare_with_a_tolerance(db):
    outcome = validate_pair(db, "SELECT avg(net_worth) / 3 FROM singer", KNOWN)
    assert outcome["validation"] == "match"
    result = gold(db, "SELECT avg(net_worth) / 3 FROM singer")
    assert check_pipe(db, pipe("FROM singer\n|> AGGREGATE AVG(net_worth) / 3.0000000001 AS a"), result, False) is None


def test_a_different_result_is_a_mismatch(db):
    result = gold(db, "SELECT name FROM singer WHERE age > 30")
    reason, detail = check_pipe(db, pipe("FROM singer\n|> WHERE age > 31\n|> SELECT name"), result, False)
    assert reason == "pipe_mismatch" and "3 rows, gold has 4" in detail


def test_a_pipe_query_sqlglot_crashes_on_is_a_parse_error_not_a_crash(db):
    # sqlglot 30.30 raises ValueError (not a ParseError) reading `|> LIMIT 1 + 1`; a run must go on.
    result = gold(db, "SELECT name FROM singer LIMIT 1 + 1")
    reason, detail = check_pipe(db, pipe("FROM singer\n|> LIMIT 1 + 1\n|> SELECT name"), result, False)
    assert reason == "pipe_parse_error" and detail.startswith("ValueError: ")
    outcome = validate_pair(db, "SELECT name FROM singer LIMIT 1 + 1", KNOWN)
    assert outcome["gold"] == "ok" and outcome["validation"] == "rewrite_unsupported:limit_expression"


def test_the_number_of_columns_must_agree_even_on_empty_results(db):
    result = gold(db, "SELECT name FROM singer WHERE age > 100")
    reason, detail = check_pipe(db, pipe("FROM singer\n|> WHERE age > 100\n|> SELECT name, age"), result, False)
    assert reason == "pipe_mismatch" and "2 columns, gold has 1" in detail


def test_row_order_counts_when_the_gold_orders(db):
    result = gold(db, "SELECT name FROM singer ORDER BY name")
    reverse = pipe("FROM singer\n|> ORDER BY name DESC\n|> SELECT name")
    assert check_pipe(db, reverse, result, ordered=True)[0] == "pipe_mismatch"
    assert check_pipe(db, reverse, result, ordered=False) is None  # a multiset compare would let it through


def test_pipe_sql_that_does_not_parse_or_run(db):
    result = gold(db, "SELECT name FROM singer")
    assert check_pipe(db, pipe("FROM singer\n|> FROBNICATE name"), result, False)[0] == "pipe_parse_error"
    reason, detail = check_pipe(db, pipe("FROM singer\n|> SELECT nope"), result, False)
    assert reason == "pipe_exec_error" and "nope" in detail


def test_every_prefix_must_run(db):
    # sqlglot merges ORDER BY into the SELECT that follows, so the whole query runs (x is the alias)
    # while its prefix `FROM singer |> ORDER BY x` does not: that prefix cannot be a training prompt.
    result = gold(db, "SELECT name, age AS x FROM singer ORDER BY x")
    reason, detail = check_pipe(db, pipe("FROM singer\n|> ORDER BY x\n|> SELECT name, age AS x"), result, True)
    assert reason == "prefix_error" and detail.startswith("after step 2: exec_error")
    assert run_prefix(db, "SELECT * FROM singer") == ""


def test_alternative_rewrites_are_tried_when_the_first_is_not_proven(db, monkeypatch):
    from t2s_pipeline.sql import validate

    real = validate.check_pipe
    tried = []

    def only_wrapped_standard(db_path, candidate, *args, **kwargs):  # pretend the other rewrites mismatch
        tried.append(candidate.sql)
        if "MAX(T1.name)" in candidate.sql and "IN (SELECT" in candidate.sql:
            return real(db_path, candidate, *args, **kwargs)
        return "pipe_mismatch", f"forced {len(tried)}"

    monkeypatch.setattr(validate, "check_pipe", only_wrapped_standard)
    sql = ("SELECT T1.name, count(*) FROM singer AS T1 JOIN performs AS T2 ON T1.singer_id = T2.singer_id "
           "WHERE T2.concert_id IN (SELECT concert_id FROM concert WHERE year = 2014) GROUP BY T1.singer_id")
    outcome = validate_pair(db, sql, KNOWN)
    assert len(tried) == 4  # group+pipe subquery, wrap, standard subquery, wrap+standard subquery
    assert outcome["validation"] == "match" and outcome["pipe_sql"] == tried[-1]
    monkeypatch.setattr(validate, "check_pipe", lambda *a, **k: ("pipe_mismatch", "always"))
    failed = validate_pair(db, sql, KNOWN)
    assert failed["validation"] == "pipe_mismatch" and failed["detail"] == "always" and failed["pipe_sql"] is None


def test_unsupported_gold_is_kept_apart_from_failed_gold(db):
    outcome = validate_pair(db, "SELECT name FROM singer NATURAL JOIN singer", KNOWN)
    assert outcome["gold"] == "ok" and outcome["validation"] == "rewrite_unsupported:natural_join"
    assert outcome["pipe_sql"] is None and reason_construct(outcome["validation"]) == "natural_join"
    assert reason_construct("pipe_mismatch") is None


def test_bad_gold_is_rejected_within_the_timeout_and_the_database_is_untouched(db):
    before = hashlib.sha256(db.read_bytes()).hexdigest()
    never = validate_pair(db, NEVER_ENDS, KNOWN, timeout_s=0.5)
    writes = validate_pair(db, "DROP TABLE singer", KNOWN, timeout_s=0.5)
    broken = validate_pair(db, "SELEC name FRM singer", KNOWN, timeout_s=0.5)
    missing = validate_pair(db, "SELECT nope FROM singer", KNOWN, timeout_s=0.5)
    assert never["gold"] == "gold_timeout" and "0.5" in never["gold_detail"]
    assert writes["gold"] == "gold_exec_error" and writes["gold_detail"].startswith("denied")
    assert broken["gold"] == "gold_exec_error" and missing["gold"] == "gold_exec_error"
    assert all(o["validation"] is None and o["pipe_sql"] is None for o in (never, writes, broken, missing))
    assert hashlib.sha256(db.read_bytes()).hexdigest() == before
