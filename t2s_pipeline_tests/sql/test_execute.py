"""execute_sql: the sandbox for untrusted SQL. Read-only, one query, time-limited, row-capped, never raises.

Every hostile statement is refused with a reason, within the time limit, and the database file is
byte-identical afterwards (checked by hash).
"""

from __future__ import annotations

import hashlib
import sqlite3
import time

import pytest

from t2s_pipeline.sql.execute import UnterminatedError, check_query, execute_sql, split_statements
from t2s_pipeline_tests.benchmarks.test_spider import make_database

LIMIT = 0.5


@pytest.fixture
def db(tmp_path):
    path = make_database(tmp_path / "music.sqlite")
    conn = sqlite3.connect(path)  # a bigger table for the cartesian product
    conn.execute("CREATE TABLE n (i INTEGER)")
    conn.executemany("INSERT INTO n VALUES (?)", [(i,) for i in range(200)])
    conn.commit()
    conn.close()
    return path


def digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_select_returns_rows_and_columns(db):
    result = execute_sql(db, "SELECT name, age FROM singer ORDER BY age;")
    assert result.status == "ok"
    assert result.columns == ["name", "age"]
    assert result.rows == [("Cid", 27), ("Ann", 30), ("Bob", 45)]


@pytest.mark.parametrize("sql", [
    "WITH a AS (SELECT age FROM singer) SELECT max(age) FROM a",
    "VALUES (1), (2)",
    "SELECT * FROM (SELECT 1)",
    "-- a comment first\nSELECT 1",
    "/* block */ SELECT 1 -- trailing",
    "SELECT 1;;",
    "SELECT [name] FROM singer",
])
def test_read_only_queries_run(db, sql):
    result = execute_sql(db, sql)
    assert result.status == "ok", result


HOSTILE = {
    "insert": ("INSERT INTO singer (name, age) VALUES ('Eve', 1)", "denied"),
    "update": ("UPDATE singer SET age = 0", "denied"),
    "delete": ("DELETE FROM singer", "denied"),
    "drop": ("DROP TABLE singer", "denied"),
    "create": ("CREATE TABLE t (x)", "denied"),
    "create temp table": ("CREATE TEMP TABLE t AS SELECT * FROM singer", "denied"),
    "create temp view": ("CREATE TEMP VIEW v AS SELECT * FROM singer", "denied"),
    "create temp trigger": ("CREATE TEMP TRIGGER tr AFTER INSERT ON singer BEGIN SELECT 1; END", "not_sql"),
    "attach": ("ATTACH DATABASE '{attach}' AS other", "denied"),
    "pragma writable_schema": ("PRAGMA writable_schema = ON", "denied"),
    "pragma journal_mode": ("PRAGMA journal_mode = DELETE", "denied"),
    "pragma read": ("PRAGMA table_info(singer)", "denied"),
    "pragma function": ("SELECT count(*) FROM pragma_table_info('singer')", "denied"),
    "load_extension": ("SELECT load_extension('/tmp/evil.so')", "denied"),
    "vacuum into": ("VACUUM INTO '{attach}'", "denied"),
    "cte then delete": ("WITH x AS (SELECT 1) DELETE FROM singer", "denied"),
    "second statement": ("SELECT 1; DROP TABLE singer", "not_sql"),
    "second statement after comment": ("SELECT 1; /* hi */ DELETE FROM singer", "not_sql"),
    "recursive cte": ("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c",
                      "timeout"),
    "cartesian product": ("SELECT count(*) FROM n a, n b, n c, n d, n e", "timeout"),
    "huge string": ("WITH RECURSIVE s(x) AS (SELECT 'ab' UNION ALL SELECT x || x FROM s) SELECT length(x) FROM s",
                    "exec_error"),
}


@pytest.mark.parametrize("name", list(HOSTILE))
def test_hostile_sql_is_refused_in_time_and_the_file_is_unchanged(db, tmp_path, name):
    sql, status = HOSTILE[name]
    attach = tmp_path / "attached.sqlite"
    before = digest(db)
    start = time.monotonic()
    result = execute_sql(db, sql.format(attach=attach), timeout_s=LIMIT)
    elapsed = time.monotonic() - start
    assert result.status == status, result
    assert result.error  # a reason, always
    assert elapsed < 2 * LIMIT
    assert digest(db) == before
    assert not attach.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["music.sqlite"]  # no journal, no new file


def test_denials_name_what_was_refused(db):
    assert "attach" in execute_sql(db, "ATTACH DATABASE ':memory:' AS m").error.lower()
    assert "load_extension" in execute_sql(db, "SELECT load_extension('x')").error
    # The authorizer is a second wall: a query-looking statement that writes is caught there.
    result = execute_sql(db, "WITH x AS (SELECT 1) INSERT INTO singer (name) SELECT 'x' FROM x")
    assert result.status == "denied" and "insert" in result.error


def test_endless_query_times_out_within_twice_the_limit(db):
    start = time.monotonic()
    result = execute_sql(db, "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c",
                         timeout_s=LIMIT)
    assert result.status == "timeout" and "0.5 s" in result.error
    assert time.monotonic() - start < 2 * LIMIT


def test_cartesian_product_rows_stop_at_the_row_cap(db):
    start = time.monotonic()
    result = execute_sql(db, "SELECT * FROM n a, n b, n c, n d, n e", timeout_s=LIMIT, max_rows=1000)
    assert result.ok and result.truncated and len(result.rows) == 1000
    assert time.monotonic() - start < LIMIT


@pytest.mark.parametrize("sql", ["", "   ", ";", "-- only a comment", "SELECT 1; SELECT 2",
                                 "SELECT 1; DROP TABLE singer", "The answer is 3.", "SELECT 'unclosed"])
def test_empty_several_or_not_sql_is_not_sql(db, sql):
    result = execute_sql(db, sql)
    assert result.status == "not_sql" and result.error


def test_semicolons_inside_literals_and_comments_are_one_statement(db):
    assert execute_sql(db, "SELECT name FROM singer WHERE name = 'a;b'").status == "ok"
    assert execute_sql(db, "SELECT name FROM singer WHERE name = 'it''s; fine'").status == "ok"
    assert execute_sql(db, 'SELECT "name" FROM singer -- ; DROP TABLE singer').status == "ok"


def test_split_statements():
    assert split_statements("SELECT 1; SELECT ';'; -- x\n /* ; */") == ["SELECT 1", "SELECT ';'"]
    assert split_statements("SELECT 'a''b'") == ["SELECT 'a''b'"]
    with pytest.raises(UnterminatedError):
        split_statements("SELECT /* open")
    assert check_query("DROP TABLE x")[0] == "denied"
    assert check_query("select 1")[0] == "ok"


def test_errors_are_statuses_not_exceptions(db):
    result = execute_sql(db, "SELECT nope FROM singer")
    assert result.status == "exec_error" and "nope" in result.error


def test_missing_database_is_an_exec_error_not_an_exception(tmp_path):
    result = execute_sql(tmp_path / "absent.sqlite", "SELECT 1")
    assert result.status == "exec_error" and result.error.startswith("database not found")
    assert not (tmp_path / "absent.sqlite").exists()


def test_row_cap_marks_truncation(db):
    result = execute_sql(db, "SELECT * FROM singer", max_rows=2)
    assert result.ok and len(result.rows) == 2 and result.truncated
    assert not execute_sql(db, "SELECT * FROM singer", max_rows=3).truncated


def test_a_shared_connection_is_left_usable(db):
    from t2s_pipeline.sql.execute import connect_readonly

    conn = connect_readonly(db)
    try:
        assert execute_sql(db, "DELETE FROM singer", conn=conn).status == "denied"
        assert execute_sql(db, "SELECT count(*) FROM singer", conn=conn).rows == [(3,)]
    finally:
        conn.close()
