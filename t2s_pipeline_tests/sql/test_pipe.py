"""to_pipe: standard SQLite SELECT -> pipe SQL, pinned per construct, each proven on a database built here."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from t2s_pipeline.sql.pipe import PipeQuery, Unsupported, split_pipe, to_pipe
from t2s_pipeline.sql.validate import validate_pair

SCHEMA = """
CREATE TABLE stadium (stadium_id INTEGER PRIMARY KEY, name TEXT, city TEXT, capacity INTEGER);
CREATE TABLE singer (singer_id INTEGER PRIMARY KEY, name TEXT, country TEXT, age INTEGER, net_worth REAL,
                     "Home Town" TEXT);
CREATE TABLE concert (concert_id INTEGER PRIMARY KEY, name TEXT, year INTEGER,
                      stadium_id INTEGER REFERENCES stadium(stadium_id));
CREATE TABLE performs (concert_id INTEGER REFERENCES concert(concert_id),
                       singer_id INTEGER REFERENCES singer(singer_id));
INSERT INTO stadium VALUES (1, 'Arena', 'Oslo', 5000), (2, 'Bowl', 'Rome', 12000), (3, 'Dome', 'Oslo', 800),
                           (4, 'Field', NULL, NULL);
INSERT INTO singer VALUES (1, 'Ann', 'France', 31, 1.5, 'Lyon'), (2, 'Bob', 'Norway', 45, 20.25, 'Oslo'),
                          (3, 'Cid', 'France', 27, 3.0, 'Paris'), (4, 'Dee', 'Italy', 52, NULL, 'Rome'),
                          (5, 'Eve', 'Norway', 38, 7.75, NULL), (6, 'Fay', NULL, NULL, 0.5, 'Nice');
INSERT INTO concert VALUES (1, 'Spring', 2014, 1), (2, 'Summer', 2014, 2), (3, 'Autumn', 2015, 2),
                           (4, 'Winter', 2016, 3), (5, 'Encore', 2016, NULL);
INSERT INTO performs VALUES (1, 1), (1, 2), (2, 2), (2, 3), (3, 2), (3, 4), (4, 5), (5, 1), (5, 2);
"""
KNOWN = {"stadium_id", "name", "city", "capacity", "singer_id", "country", "age", "net_worth", "Home Town",
         "concert_id", "year"}


def make_music_db(path: Path) -> Path:
    """Four tables with NULLs, a self-joinable country, a quoted column name and ties-free counts."""
    conn = sqlite3.connect(path)
    conn.executescript(SCHEMA)
    conn.commit()
    conn.close()
    return path


@pytest.fixture(scope="module")
def music_db(tmp_path_factory) -> Path:
    return make_music_db(tmp_path_factory.mktemp("pipe") / "music.sqlite")


# (construct, gold SQL, the pipe SQL it is rewritten to)
CASES = [
    ('select_star',
     'SELECT * FROM singer',
     'FROM singer\n|> SELECT *'),
    ('select_columns',
     'SELECT name, age FROM singer',
     'FROM singer\n|> SELECT name, age'),
    ('where',
     "SELECT name FROM singer WHERE age > 30 AND country = 'France'",
     "FROM singer\n|> WHERE age > 30 AND country = 'France'\n|> SELECT name"),
    ('double_quoted_string',
     'SELECT name FROM singer WHERE country = "Norway"',
     "FROM singer\n|> WHERE country = 'Norway'\n|> SELECT name"),
    ('join',
     'SELECT T1.name, T2.year FROM concert AS T2 JOIN stadium AS T1 ON T1.stadium_id = T2.stadium_id',
     'FROM concert AS T2\n|> JOIN stadium AS T1 ON T1.stadium_id = T2.stadium_id\n|> SELECT T1.name, T2.year'),
    ('two_joins',
     'SELECT T3.name FROM concert AS T1 JOIN performs AS T2 ON T1.concert_id = T2.concert_id JOIN singer AS T3 ON T2.singer_id = T3.singer_id WHERE T1.year = 2014',
     'FROM concert AS T1\n|> JOIN performs AS T2 ON T1.concert_id = T2.concert_id\n|> JOIN singer AS T3 ON T2.singer_id = T3.singer_id\n|> WHERE T1.year = 2014\n|> SELECT T3.name'),
    ('self_join',
     'SELECT T1.name, T2.name FROM singer AS T1 JOIN singer AS T2 ON T1.country = T2.country WHERE T1.singer_id < T2.singer_id',
     'FROM singer AS T1\n|> JOIN singer AS T2 ON T1.country = T2.country\n|> WHERE T1.singer_id < T2.singer_id\n|> SELECT T1.name, T2.name'),
    ('comma_join',
     'SELECT singer.name FROM singer, performs WHERE singer.singer_id = performs.singer_id AND performs.concert_id = 3',
     'FROM singer\n|> CROSS JOIN performs\n|> WHERE singer.singer_id = performs.singer_id AND performs.concert_id = 3\n|> SELECT singer.name'),
    ('left_join',
     'SELECT T1.name, T2.concert_id FROM stadium AS T1 LEFT JOIN concert AS T2 ON T1.stadium_id = T2.stadium_id',
     'FROM stadium AS T1\n|> LEFT JOIN concert AS T2 ON T1.stadium_id = T2.stadium_id\n|> SELECT T1.name, T2.concert_id'),
    ('join_using',
     'SELECT T1.name, T2.city FROM concert AS T1 JOIN stadium AS T2 USING (stadium_id)',
     'FROM concert AS T1\n|> JOIN stadium AS T2 USING (stadium_id)\n|> SELECT T1.name, T2.city'),
    ('count_star',
     'SELECT count(*) FROM singer',
     'FROM singer\n|> AGGREGATE COUNT(*) AS count_all'),
    ('group_by',
     'SELECT country, count(*) FROM singer GROUP BY country',
     'FROM singer\n|> AGGREGATE COUNT(*) AS count_all GROUP BY country'),
    ('bare_column_grouped',
     'SELECT T1.name, count(*) FROM singer AS T1 JOIN performs AS T2 ON T1.singer_id = T2.singer_id GROUP BY T1.singer_id',
     'FROM singer AS T1\n|> JOIN performs AS T2 ON T1.singer_id = T2.singer_id\n|> AGGREGATE COUNT(*) AS count_all GROUP BY T1.singer_id, T1.name\n|> SELECT name, count_all'),
    ('having',
     'SELECT country FROM singer GROUP BY country HAVING count(*) > 1',
     'FROM singer\n|> AGGREGATE COUNT(*) AS count_all GROUP BY country\n|> WHERE count_all > 1\n|> SELECT country'),
    ('having_only_aggregate',
     'SELECT country, avg(age) FROM singer GROUP BY country HAVING max(net_worth) > 5',
     'FROM singer\n|> AGGREGATE AVG(age) AS avg_age, MAX(net_worth) AS max_net_worth GROUP BY country\n|> WHERE max_net_worth > 5\n|> SELECT country, avg_age'),
    ('order_by_aggregate_limit',
     'SELECT T1.name FROM stadium AS T1 JOIN concert AS T2 ON T1.stadium_id = T2.stadium_id GROUP BY T1.stadium_id ORDER BY count(*) DESC LIMIT 1',
     'FROM stadium AS T1\n|> JOIN concert AS T2 ON T1.stadium_id = T2.stadium_id\n|> AGGREGATE COUNT(*) AS count_all DESC GROUP BY T1.stadium_id, T1.name\n|> LIMIT 1\n|> SELECT name'),
    ('order_by_aggregate_alias',
     'SELECT country, count(*) AS n FROM singer GROUP BY country ORDER BY n',
     'FROM singer\n|> AGGREGATE COUNT(*) AS n ASC GROUP BY country'),
    ('order_by_group_key',
     'SELECT year, count(*) FROM concert GROUP BY year ORDER BY year DESC',
     'FROM concert\n|> AGGREGATE COUNT(*) AS count_all GROUP BY year\n|> ORDER BY year DESC'),
    ('distinct',
     'SELECT DISTINCT country FROM singer',
     'FROM singer\n|> SELECT country\n|> DISTINCT'),
    ('distinct_order_by',
     'SELECT DISTINCT T1.city FROM stadium AS T1 JOIN concert AS T2 ON T1.stadium_id = T2.stadium_id ORDER BY T1.city',
     'FROM stadium AS T1\n|> JOIN concert AS T2 ON T1.stadium_id = T2.stadium_id\n|> SELECT T1.city\n|> DISTINCT\n|> ORDER BY city'),
    ('count_distinct',
     'SELECT count(DISTINCT country) FROM singer',
     'FROM singer\n|> AGGREGATE COUNT(DISTINCT country) AS count_distinct_country'),
    ('order_by_limit',
     'SELECT name FROM singer ORDER BY age DESC LIMIT 3',
     'FROM singer\n|> ORDER BY age DESC\n|> LIMIT 3\n|> SELECT name'),
    ('limit_offset',
     'SELECT name, age FROM singer ORDER BY age LIMIT 2 OFFSET 1',
     'FROM singer\n|> ORDER BY age\n|> LIMIT 2 OFFSET 1\n|> SELECT name, age'),
    ('union',
     "SELECT name FROM singer WHERE country = 'France' UNION SELECT name FROM stadium WHERE city = 'Oslo'",
     "FROM singer\n|> WHERE country = 'France'\n|> SELECT name\n|> UNION DISTINCT (SELECT name FROM stadium WHERE city = 'Oslo')"),
    ('union_all',
     'SELECT country FROM singer UNION ALL SELECT city FROM stadium',
     'FROM singer\n|> SELECT country\n|> UNION ALL (SELECT city FROM stadium)'),
    ('intersect',
     'SELECT country FROM singer WHERE age < 40 INTERSECT SELECT country FROM singer WHERE age > 30',
     'FROM singer\n|> WHERE age < 40\n|> SELECT country\n|> INTERSECT DISTINCT (SELECT country FROM singer WHERE age > 30)'),
    ('except',
     'SELECT singer_id FROM singer EXCEPT SELECT singer_id FROM performs',
     'FROM singer\n|> SELECT singer_id\n|> EXCEPT DISTINCT (SELECT singer_id FROM performs)'),
    ('set_op_order_limit',
     'SELECT name FROM singer UNION SELECT name FROM stadium ORDER BY name LIMIT 4',
     'FROM singer\n|> SELECT name\n|> UNION DISTINCT (SELECT name FROM stadium)\n|> ORDER BY name\n|> LIMIT 4'),
    ('in_subquery',
     'SELECT name FROM singer WHERE singer_id IN (SELECT singer_id FROM performs WHERE concert_id = 2)',
     'FROM singer\n|> WHERE singer_id IN (FROM performs |> WHERE concert_id = 2 |> SELECT singer_id)\n|> SELECT name'),
    ('not_in_subquery',
     'SELECT name FROM stadium WHERE stadium_id NOT IN (SELECT stadium_id FROM concert WHERE stadium_id IS NOT NULL)',
     'FROM stadium\n|> WHERE stadium_id NOT IN (FROM concert |> WHERE stadium_id IS NOT NULL |> SELECT stadium_id)\n|> SELECT name'),
    ('exists_correlated',
     'SELECT name FROM singer AS S WHERE EXISTS (SELECT 1 FROM performs AS P WHERE P.singer_id = S.singer_id AND P.concert_id = 3)',
     'FROM singer AS S\n|> WHERE EXISTS(FROM performs AS P |> WHERE P.singer_id = S.singer_id AND P.concert_id = 3 |> SELECT 1)\n|> SELECT name'),
    ('not_exists',
     'SELECT name FROM stadium AS T WHERE NOT EXISTS (SELECT * FROM concert AS C WHERE C.stadium_id = T.stadium_id)',
     'FROM stadium AS T\n|> WHERE NOT EXISTS(FROM concert AS C |> WHERE C.stadium_id = T.stadium_id)\n|> SELECT name'),
    ('scalar_subquery',
     'SELECT name FROM singer WHERE age > (SELECT avg(age) FROM singer)',
     'FROM singer\n|> WHERE age > (FROM singer |> AGGREGATE AVG(age) AS avg_age)\n|> SELECT name'),
    ('scalar_subquery_where',
     "SELECT name FROM singer WHERE net_worth = (SELECT max(net_worth) FROM singer WHERE country = 'Norway')",
     "FROM singer\n|> WHERE net_worth = (FROM singer |> WHERE country = 'Norway' |> AGGREGATE MAX(net_worth) AS max_net_worth)\n|> SELECT name"),
    ('from_subquery',
     'SELECT T.country, T.n FROM (SELECT country, count(*) AS n FROM singer GROUP BY country) AS T WHERE T.n > 1',
     'FROM (FROM singer |> AGGREGATE COUNT(*) AS n GROUP BY country) AS T\n|> WHERE T.n > 1\n|> SELECT T.country, T.n'),
    ('from_set_op_subquery',
     'SELECT count(*) FROM (SELECT country FROM singer WHERE age < 40 INTERSECT SELECT country FROM singer WHERE age > 30)',
     'FROM (FROM singer |> WHERE age < 40 |> SELECT country |> INTERSECT DISTINCT (SELECT country FROM singer WHERE age > 30))\n|> AGGREGATE COUNT(*) AS count_all'),
    ('window_row_number',
     'SELECT name, ROW_NUMBER() OVER (ORDER BY age DESC) AS rn FROM singer WHERE age IS NOT NULL',
     'FROM singer\n|> WHERE age IS NOT NULL\n|> EXTEND ROW_NUMBER() OVER (ORDER BY age DESC) AS rn\n|> SELECT name, rn'),
    ('window_rank_partition',
     'SELECT name, country, RANK() OVER (PARTITION BY country ORDER BY age) FROM singer',
     'FROM singer\n|> EXTEND RANK() OVER (PARTITION BY country ORDER BY age) AS rank_1\n|> SELECT name, country, rank_1'),
    ('case',
     "SELECT name, CASE WHEN age >= 40 THEN 'senior' ELSE 'junior' END FROM singer",
     "FROM singer\n|> SELECT name, CASE WHEN age >= 40 THEN 'senior' ELSE 'junior' END"),
    ('like',
     "SELECT name FROM singer WHERE name LIKE '%e%'",
     "FROM singer\n|> WHERE name LIKE '%e%'\n|> SELECT name"),
    ('between',
     'SELECT name FROM singer WHERE age BETWEEN 30 AND 45',
     'FROM singer\n|> WHERE age BETWEEN 30 AND 45\n|> SELECT name'),
    ('cast',
     'SELECT name, CAST(net_worth AS INTEGER) FROM singer',
     'FROM singer\n|> SELECT name, CAST(net_worth AS INTEGER)'),
    ('expression_over_aggregates',
     'SELECT max(age) - min(age) FROM singer',
     'FROM singer\n|> AGGREGATE MAX(age) AS max_age, MIN(age) AS min_age\n|> SELECT max_age - min_age'),
    ('aggregate_alias_order',
     'SELECT country, max(age) AS oldest FROM singer GROUP BY country ORDER BY oldest DESC',
     'FROM singer\n|> AGGREGATE MAX(age) AS oldest DESC GROUP BY country'),
    ('bare_column_extreme_row',
     'SELECT name, max(age) FROM singer',
     'FROM singer\n|> WHERE age IS NOT NULL\n|> ORDER BY age DESC\n|> LIMIT 1\n|> SELECT name, age AS max_age'),
    ('in_list',
     "SELECT name FROM singer WHERE country IN ('France', 'Italy')",
     "FROM singer\n|> WHERE country IN ('France', 'Italy')\n|> SELECT name"),
    ('is_null',
     'SELECT name FROM singer WHERE country IS NULL',
     'FROM singer\n|> WHERE country IS NULL\n|> SELECT name'),
    ('duplicate_key_names',
     'SELECT T1.name, T2.name, count(*) FROM concert AS T1 JOIN stadium AS T2 ON T1.stadium_id = T2.stadium_id GROUP BY T1.name, T2.name',
     'FROM concert AS T1\n|> JOIN stadium AS T2 ON T1.stadium_id = T2.stadium_id\n|> AGGREGATE COUNT(*) AS count_all GROUP BY T1.name, T2.name AS name_2'),
    ('quoted_column',
     'SELECT "Home Town" FROM singer WHERE "Home Town" != "Oslo"',
     'FROM singer\n|> WHERE "Home Town" <> \'Oslo\'\n|> SELECT "Home Town"'),
    ('select_scalar_subquery',
     'SELECT name, (SELECT count(*) FROM performs AS P WHERE P.singer_id = S.singer_id) FROM singer AS S',
     'FROM singer AS S\n|> SELECT name, (FROM performs AS P |> WHERE P.singer_id = S.singer_id |> AGGREGATE COUNT(*) AS count_all)'),
    ('where_having_order',
     'SELECT country, sum(net_worth) FROM singer WHERE age > 20 GROUP BY country HAVING count(*) >= 2 ORDER BY sum(net_worth) DESC',
     'FROM singer\n|> WHERE age > 20\n|> AGGREGATE SUM(net_worth) AS sum_net_worth, COUNT(*) AS count_all GROUP BY country\n|> WHERE count_all >= 2\n|> ORDER BY sum_net_worth DESC\n|> SELECT country, sum_net_worth'),
    ('order_by_unselected',
     'SELECT name FROM singer WHERE age > 30 ORDER BY name',
     'FROM singer\n|> WHERE age > 30\n|> ORDER BY name\n|> SELECT name'),
    ('having_group_key_only',
     'SELECT year FROM concert GROUP BY year HAVING count(*) = 1',
     'FROM concert\n|> AGGREGATE COUNT(*) AS count_all GROUP BY year\n|> WHERE count_all = 1\n|> SELECT year'),
    ('group_by_position',
     'SELECT country, count(*) FROM singer GROUP BY 1',
     'FROM singer\n|> AGGREGATE COUNT(*) AS count_all GROUP BY country'),
    ('distinct_order_by_unselected',
     'SELECT DISTINCT T1.name FROM singer AS T1 WHERE T1.age > 30 ORDER BY T1.age',
     'FROM singer AS T1\n|> WHERE T1.age > 30\n|> ORDER BY T1.age\n|> SELECT T1.name\n|> DISTINCT'),
    ('order_by_aggregate_and_key',
     'SELECT T2.name, COUNT(*) FROM performs AS T1 JOIN singer AS T2 ON T1.singer_id = T2.singer_id GROUP BY T2.name ORDER BY COUNT(*) DESC, T2.name',
     'FROM performs AS T1\n|> JOIN singer AS T2 ON T1.singer_id = T2.singer_id\n|> AGGREGATE COUNT(*) AS count_all GROUP BY T2.name\n|> ORDER BY count_all DESC, name'),
    ('group_by_expression',
     'SELECT SUBSTR(name, 1, 1), COUNT(*) FROM singer GROUP BY SUBSTR(name, 1, 1)',
     'FROM singer\n|> AGGREGATE COUNT(*) AS count_all GROUP BY SUBSTRING(name, 1, 1) AS group_1'),
    ('window_order_by_alias',
     'SELECT name, RANK() OVER (ORDER BY age DESC) AS r FROM singer WHERE age IS NOT NULL ORDER BY r LIMIT 3',
     'FROM singer\n|> WHERE age IS NOT NULL\n|> EXTEND RANK() OVER (ORDER BY age DESC) AS r\n|> ORDER BY r\n|> LIMIT 3\n|> SELECT name, r'),
    ('nested_set_ops',
     'SELECT name FROM singer UNION SELECT name FROM stadium EXCEPT SELECT name FROM concert',
     'FROM singer\n|> SELECT name\n|> UNION DISTINCT (SELECT name FROM stadium)\n|> EXCEPT DISTINCT (SELECT name FROM concert)'),
    ('having_alias',
     'SELECT country, COUNT(*) AS c FROM singer GROUP BY country HAVING c > 1',
     'FROM singer\n|> AGGREGATE COUNT(*) AS c GROUP BY country\n|> WHERE c > 1'),
    ('correlated_scalar_subquery',
     'SELECT country, name FROM singer AS s WHERE age = (SELECT MAX(age) FROM singer AS t WHERE t.country = s.country)',
     'FROM singer AS s\n|> WHERE age = (FROM singer AS t |> WHERE t.country = s.country |> AGGREGATE MAX(age) AS max_age)\n|> SELECT country, name'),
    # Common table expressions: GoogleSQL puts the WITH before the FROM; bodies in pipe form where they can be.
    ('cte',
     'WITH old AS (SELECT name, country FROM singer WHERE age > 35) SELECT country, COUNT(*) FROM old GROUP BY country',
     'WITH old AS (FROM singer |> WHERE age > 35 |> SELECT name, country)\nFROM old\n|> AGGREGATE COUNT(*) AS count_all GROUP BY country'),
    ('cte_chained_with_columns',
     'WITH c(country, n) AS (SELECT country, COUNT(*) FROM singer GROUP BY country), top AS (SELECT MAX(n) AS m FROM c) '
     'SELECT country FROM c JOIN top ON c.n = top.m ORDER BY country',
     'WITH c(country, n) AS (FROM singer |> AGGREGATE COUNT(*) AS count_all GROUP BY country), top AS (FROM c |> AGGREGATE MAX(n) AS m)\n'
     'FROM c\n|> JOIN top ON c.n = top.m\n|> ORDER BY country\n|> SELECT country'),
    ('cte_recursive',
     'WITH RECURSIVE years(y) AS (SELECT 2014 UNION ALL SELECT y + 1 FROM years WHERE y < 2016) '
     'SELECT y, (SELECT COUNT(*) FROM concert WHERE year = y) AS n FROM years ORDER BY y',
     'WITH RECURSIVE years(y) AS (SELECT 2014 UNION ALL SELECT y + 1 FROM years WHERE y < 2016)\nFROM years\n|> ORDER BY y\n'
     '|> SELECT y, (FROM concert |> WHERE year = y |> AGGREGATE COUNT(*) AS count_all) AS n'),
    ('cte_set_operation',
     "WITH fr AS (SELECT name FROM singer WHERE country = 'France'), old AS (SELECT name FROM singer WHERE age > 40) "
     "SELECT name FROM fr UNION SELECT name FROM old ORDER BY name",
     "WITH fr AS (FROM singer |> WHERE country = 'France' |> SELECT name), old AS (FROM singer |> WHERE age > 40 |> SELECT name)\n"
     "FROM fr\n|> SELECT name\n|> UNION DISTINCT (SELECT name FROM old)\n|> ORDER BY name"),
    ('cte_in_subquery',
     'SELECT name FROM stadium WHERE stadium_id IN (WITH busy AS (SELECT stadium_id, COUNT(*) AS n FROM concert '
     'GROUP BY stadium_id) SELECT stadium_id FROM busy WHERE n > 1)',
     'FROM stadium\n|> WHERE stadium_id IN (WITH busy AS (FROM concert |> AGGREGATE COUNT(*) AS n GROUP BY stadium_id) '
     'FROM busy |> WHERE n > 1 |> SELECT stadium_id)\n|> SELECT name'),
    ('cte_window_top_per_group',
     'WITH ranked AS (SELECT name, country, ROW_NUMBER() OVER (PARTITION BY country ORDER BY age DESC) AS rn FROM singer '
     'WHERE country IS NOT NULL) SELECT country, name FROM ranked WHERE rn = 1 ORDER BY country',
     'WITH ranked AS (FROM singer |> WHERE country IS NOT NULL |> EXTEND ROW_NUMBER() OVER (PARTITION BY country ORDER BY age DESC) AS rn '
     '|> SELECT name, country, rn)\nFROM ranked\n|> WHERE rn = 1\n|> ORDER BY country\n|> SELECT country, name'),
    # Window functions over the groups: EXTEND after AGGREGATE (and after HAVING's WHERE).
    ('window_over_aggregate',
     'SELECT country, COUNT(*) AS n, RANK() OVER (ORDER BY COUNT(*) DESC) AS r FROM singer GROUP BY country ORDER BY r, country',
     'FROM singer\n|> AGGREGATE COUNT(*) AS n GROUP BY country\n|> EXTEND RANK() OVER (ORDER BY n DESC) AS r\n'
     '|> ORDER BY r, country\n|> SELECT country, n, r'),
    ('window_of_aggregate',
     'SELECT year, COUNT(*) AS n, SUM(COUNT(*)) OVER (ORDER BY year) AS running FROM concert GROUP BY year',
     'FROM concert\n|> AGGREGATE COUNT(*) AS n GROUP BY year\n|> EXTEND SUM(n) OVER (ORDER BY year) AS running\n'
     '|> SELECT year, n, running'),
    ('window_over_aggregate_having_limit',
     'SELECT T2.name, AVG(T1.age) AS a, AVG(T1.age) - AVG(AVG(T1.age)) OVER () AS gap FROM singer AS T1 '
     'JOIN performs AS T3 ON T1.singer_id = T3.singer_id JOIN concert AS T2 ON T2.concert_id = T3.concert_id '
     'GROUP BY T2.name HAVING COUNT(*) > 1 ORDER BY gap DESC LIMIT 2',
     'FROM singer AS T1\n|> JOIN performs AS T3 ON T1.singer_id = T3.singer_id\n|> JOIN concert AS T2 ON T2.concert_id = T3.concert_id\n'
     '|> AGGREGATE AVG(T1.age) AS a, COUNT(*) AS count_all GROUP BY T2.name\n|> WHERE count_all > 1\n'
     '|> EXTEND AVG(a) OVER () AS avg_1\n|> ORDER BY a - avg_1 DESC\n|> LIMIT 2\n|> SELECT name, a, a - avg_1 AS gap'),
    ('named_window_over_aggregate',  # EXTEND has no WINDOW clause: the named window is written out
     'SELECT country, COUNT(*), ROW_NUMBER() OVER w FROM singer GROUP BY country WINDOW w AS (ORDER BY COUNT(*), country)',
     'FROM singer\n|> AGGREGATE COUNT(*) AS count_all GROUP BY country\n'
     '|> EXTEND ROW_NUMBER() OVER (ORDER BY count_all, country) AS rownumber_1\n|> SELECT country, count_all, rownumber_1'),
    ('named_window_with_frame',
     'SELECT name, SUM(age) OVER (w ROWS UNBOUNDED PRECEDING) AS s FROM singer WINDOW w AS (PARTITION BY country ORDER BY age, name)',
     'FROM singer\n|> EXTEND SUM(age) OVER (PARTITION BY country ORDER BY age, name ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) '
     'AS s\n|> SELECT name, s'),
    ('sqlite_total_aggregate',  # sqlglot reads TOTAL() as an anonymous function: it is an aggregate all the same
     'SELECT country, TOTAL(net_worth) FROM singer GROUP BY country',
     'FROM singer\n|> AGGREGATE TOTAL(net_worth) AS total_net_worth GROUP BY country'),
    ('correlated_subquery_after_aggregate',  # `|> AS s` names the grouped rows for the subquery's s.country
     'SELECT country, MAX(age) AS m, (SELECT name FROM singer AS s2 WHERE s2.country = s.country ORDER BY age DESC '
     'LIMIT 1) AS oldest FROM singer AS s GROUP BY country',
     'FROM singer AS s\n|> AGGREGATE MAX(age) AS m GROUP BY country\n|> AS s\n|> SELECT country, m, (FROM singer AS s2 '
     '|> WHERE s2.country = s.country |> ORDER BY age DESC |> LIMIT 1 |> SELECT name) AS oldest'),
    ('aggregate_filter',  # one aggregate: its FILTER is not a second expression after AGGREGATE
     'SELECT country, COUNT(*) FILTER (WHERE age > 30) FROM singer GROUP BY country',
     'FROM singer\n|> AGGREGATE COUNT(*) FILTER(WHERE age > 30) AS count_all_filtered GROUP BY country'),
]


@pytest.mark.parametrize("construct, gold, expected", CASES, ids=[c[0] for c in CASES])
def test_rewrite_is_pinned_and_proven_by_execution(music_db, construct, gold, expected):
    pipe = to_pipe(gold, KNOWN)
    assert pipe.sql == expected
    assert "|>" in pipe.sql
    assert len(pipe.ops) == len(pipe.steps) == len(split_pipe(pipe.sql))
    assert pipe.steps[0].startswith(("FROM ", "WITH ")) and all(s.startswith("|> ") for s in pipe.steps[1:])
    outcome = validate_pair(music_db, gold, KNOWN, timeout_s=5)
    assert outcome["gold"] == "ok"
    assert outcome["validation"] == "match", outcome["detail"]
    assert outcome["pipe_sql"] == expected and outcome["pipe_ops"] == list(pipe.ops)


def test_cases_cover_every_construct_of_the_issue():
    assert len(CASES) >= 40
    text = " ".join(pipe for _, _, pipe in CASES)
    for operator in ("|> JOIN", "|> CROSS JOIN", "|> LEFT JOIN", "|> WHERE", "|> AGGREGATE", "GROUP BY", "|> SELECT",
                     "|> DISTINCT", "|> ORDER BY", "|> LIMIT", "OFFSET", "|> EXTEND", "|> UNION DISTINCT",
                     "|> UNION ALL", "|> INTERSECT DISTINCT", "|> EXCEPT DISTINCT", " IN (FROM", "NOT IN (FROM",
                     "EXISTS(FROM", "(FROM ", "CASE WHEN", "LIKE", "BETWEEN", "CAST(", " OVER ("):
        assert operator in text, operator
    assert '"' not in text.replace('"Home Town"', "")  # strings in single quotes


def test_ops_name_each_step():
    pipe = to_pipe("SELECT T1.name FROM stadium AS T1 JOIN concert AS T2 ON T1.stadium_id = T2.stadium_id "
                   "WHERE T2.year > 2000 GROUP BY T1.stadium_id HAVING count(*) > 1 ORDER BY T1.name LIMIT 2", KNOWN)
    assert pipe.ops == ("FROM", "JOIN", "WHERE", "AGGREGATE", "WHERE", "ORDER BY", "LIMIT", "SELECT")
    assert isinstance(pipe, PipeQuery) and pipe.prefix(2) == "\n".join(pipe.steps[:2])


def test_double_quoted_words_without_a_schema_are_strings_where_compared():
    assert to_pipe('SELECT name FROM singer WHERE country = "France"').sql == (
        "FROM singer\n|> WHERE country = 'France'\n|> SELECT name")
    # A quoted name that the schema knows stays a column.
    assert to_pipe('SELECT "name" FROM singer WHERE "name" = "Ann"', KNOWN).sql == (
        "FROM singer\n|> WHERE \"name\" = 'Ann'\n|> SELECT \"name\"")


def test_bare_columns_can_be_wrapped_instead_of_grouped(music_db):
    gold = "SELECT T1.name, count(*) FROM singer AS T1 JOIN performs AS T2 ON T1.singer_id = T2.singer_id GROUP BY T1.singer_id"
    grouped, wrapped = to_pipe(gold, KNOWN), to_pipe(gold, KNOWN, bare="wrap")
    assert "bare_column" in grouped.flags
    assert "GROUP BY T1.singer_id, T1.name" in grouped.sql
    assert wrapped.sql == ("FROM singer AS T1\n|> JOIN performs AS T2 ON T1.singer_id = T2.singer_id\n"
                           "|> AGGREGATE COUNT(*) AS count_all, MAX(T1.name) AS name GROUP BY T1.singer_id\n"
                           "|> SELECT name, count_all")


def test_subqueries_can_stay_standard():
    gold = "SELECT name FROM singer WHERE singer_id IN (SELECT singer_id FROM performs)"
    assert "pipe_subquery" in to_pipe(gold).flags
    assert to_pipe(gold, pipe_subqueries=False).sql == (
        "FROM singer\n|> WHERE singer_id IN (SELECT singer_id FROM performs)\n|> SELECT name")


@pytest.mark.parametrize("gold, construct", [
    ("WITH RECURSIVE t(x) AS (SELECT 1) SEARCH DEPTH FIRST BY x SET o SELECT x FROM t", "with_search"),
    ("SELECT 1 + 1", "no_from"),
    ("SELECT name FROM singer LIMIT 1 + 1", "limit_expression"),
    ("SELECT * FROM singer GROUP BY country", "star_with_aggregate"),
    ("SELECT name, count(*) FROM singer", "bare_column_without_group_by"),
    ("SELECT country FROM singer GROUP BY country HAVING row_number() OVER (ORDER BY count(*)) > 1",
     "window_in_having"),
    ("INSERT INTO singer (name) VALUES ('x')", "insert"),
])
def test_unsupported_constructs_are_named(gold, construct):
    with pytest.raises(Unsupported) as error:
        to_pipe(gold)
    assert error.value.construct == construct
