"""read_pipe: one sqlglot parse gives the SQLite text of the pipe query and of each of its prefixes,
exactly as sqlglot's own transpile of each gives it; split_pipe cuts at top-level operators only."""

from __future__ import annotations

import pytest
import sqlglot

from t2s_pipeline.benchmarks.sources import load_embedded
from t2s_pipeline.sql.pipe import read_pipe, split_pipe, to_pipe, transpile_pipe
from t2s_pipeline_tests.sql.test_pipe import CASES, KNOWN


def _assert_reads_like_sqlglot(pipe_sql: str) -> None:
    full, prefixes = read_pipe(pipe_sql)
    steps = split_pipe(pipe_sql)
    assert full == sqlglot.transpile(pipe_sql, read="sqlite", write="sqlite")[0] == transpile_pipe(pipe_sql)
    assert len(prefixes) == len(steps) - 1
    for k, prefix in enumerate(prefixes, start=1):
        plain = transpile_pipe("\n".join(steps[:k]))
        # After `FROM (subquery) AS t`, sqlglot wraps the rest in SELECT * FROM (...): the same rows.
        assert prefix == plain or f"SELECT * FROM ({prefix})" == plain, (k, pipe_sql)


@pytest.mark.parametrize("construct, gold, expected", CASES, ids=[c[0] for c in CASES])
def test_prefixes_match_sqlglot_on_every_case(construct, gold, expected):
    _assert_reads_like_sqlglot(expected)
    _assert_reads_like_sqlglot(to_pipe(gold, KNOWN, pipe_subqueries=False, bare="wrap").sql)


def test_prefixes_match_sqlglot_on_the_embedded_benchmark(tmp_path):
    loaded = load_embedded(tmp_path)
    known = {c["name"] for s in loaded.schemas.values() for t in s["tables"] for c in t["columns"]}
    examples = loaded.examples[::3]  # a third of the 755 questions keeps this test near a second
    for example in examples:
        _assert_reads_like_sqlglot(to_pipe(example["gold_sql"], known).sql)


def test_first_prefix_is_the_from_clause():
    full, prefixes = read_pipe("FROM singer AS s\n|> WHERE s.age > 3\n|> SELECT s.name")
    assert prefixes == ["SELECT * FROM singer AS s", "SELECT * FROM singer AS s WHERE s.age > 3"]
    assert full == "SELECT s.name FROM singer AS s WHERE s.age > 3" or full.startswith("WITH")


def test_split_pipe_cuts_only_at_top_level_operators():
    text = ("FROM t\n|> WHERE a IN (FROM u |> SELECT a) AND b = 'x |> y' AND \"c|>\" = 1\n"
            "|> AGGREGATE COUNT(*) AS n GROUP BY b\n|> SELECT n")
    assert split_pipe(text) == ["FROM t", "|> WHERE a IN (FROM u |> SELECT a) AND b = 'x |> y' AND \"c|>\" = 1",
                                "|> AGGREGATE COUNT(*) AS n GROUP BY b", "|> SELECT n"]
    assert split_pipe("FROM t |> SELECT a") == ["FROM t", "|> SELECT a"]


def test_unreadable_pipe_sql_raises():
    with pytest.raises(sqlglot.errors.SqlglotError):
        read_pipe("FROM t |> FROBNICATE a")


def test_prefixes_of_a_query_that_starts_with_with_define_its_ctes():
    # sqlglot attaches the leading WITH only after the pipe is read: each prefix must still carry it.
    full, prefixes = read_pipe("WITH t AS (FROM singer |> WHERE age > 20)\nFROM t\n|> WHERE age < 40\n|> SELECT name")
    assert prefixes == ["WITH t AS (SELECT * FROM singer WHERE age > 20) SELECT * FROM t",
                        "WITH t AS (SELECT * FROM singer WHERE age > 20) SELECT * FROM t WHERE age < 40"]
    assert full == ("WITH t AS (SELECT * FROM singer WHERE age > 20), __tmp1 AS (SELECT name FROM t WHERE age < 40) "
                    "SELECT * FROM __tmp1")
