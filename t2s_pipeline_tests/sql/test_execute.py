"""execute_sql: read-only, time-limited, one statement, never raises for bad SQL."""

from __future__ import annotations

import hashlib
import time

import pytest

from t2s_pipeline.sql.execute import execute_sql
from t2s_pipeline_tests.benchmarks.test_spider import make_database


@pytest.fixture
def db(tmp_path):
    return make_database(tmp_path / "music.sqlite")


def digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_select_returns_rows_and_columns(db):
    result = execute_sql(db, "SELECT name, age FROM singer ORDER BY age;")
    assert result.status == "ok"
    assert result.columns == ["name", "age"]
    assert result.rows == [("Cid", 27), ("Ann", 30), ("Bob", 45)]


@pytest.mark.parametrize("sql", [
    "INSERT INTO singer (name, age) VALUES ('Eve', 1)",
    "UPDATE singer SET age = 0",
    "DELETE FROM singer",
    "DROP TABLE singer",
    "CREATE TABLE t (x)",
    "ATTACH DATABASE '{attach}' AS other",
    "PRAGMA journal_mode = DELETE",
])
def test_writes_are_refused_and_the_file_is_unchanged(db, tmp_path, sql):
    attach = tmp_path / "attached.sqlite"
    before = digest(db)
    result = execute_sql(db, sql.format(attach=attach))
    assert result.status != "ok", result
    assert digest(db) == before
    assert not attach.exists()


def test_endless_query_times_out_within_twice_the_limit(db):
    limit = 1.0
    start = time.monotonic()
    result = execute_sql(db, "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c",
                         timeout_s=limit)
    assert result.status == "timeout"
    assert time.monotonic() - start < 2 * limit


@pytest.mark.parametrize("sql", ["", "   ", ";", "SELECT 1; SELECT 2", "SELECT 1; DROP TABLE singer"])
def test_empty_or_several_statements_are_not_sql(db, sql):
    assert execute_sql(db, sql).status == "not_sql"


def test_semicolon_inside_a_literal_is_one_statement(db):
    assert execute_sql(db, "SELECT name FROM singer WHERE name = 'a;b'").status == "ok"


def test_errors_are_statuses_not_exceptions(db):
    result = execute_sql(db, "SELECT nope FROM singer")
    assert result.status == "exec_error" and "nope" in result.error


def test_row_cap_marks_truncation(db):
    result = execute_sql(db, "SELECT * FROM singer", max_rows=2)
    assert result.ok and len(result.rows) == 2 and result.truncated
