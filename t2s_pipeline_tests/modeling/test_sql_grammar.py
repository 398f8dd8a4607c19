"""The SQL grammar per database (modeling/sql_grammar.py), checked through llguidance's matcher on a real
byte-level BPE tokenizer: the exact query text, token by token, as decoding would write it."""

from __future__ import annotations

import re

import pytest

from t2s_pipeline.modeling.grammar_decoding import accepts, engine_tokenizer
from t2s_pipeline.modeling.sql_grammar import grammar_text, sql_grammar

TABLES = {"singer": ["singer_id", "name", "country", "age"],
          "concert": ["concert_id", "concert_name", "stadium_id", "year"],
          "singer_in_concert": ["concert_id", "singer_id"]}


@pytest.fixture(scope="module")
def tokenizer():
    from t2s_pipeline.training.tiny_model import train_tokenizer

    return train_tokenizer(["SELECT name, count(*) FROM singer WHERE age > 30 GROUP BY country"] * 20, 400)


def ok(tokenizer, sql: str, linked: dict | None = None) -> bool:
    return accepts(engine_tokenizer(tokenizer), grammar_text(TABLES, linked),
                   tokenizer.encode(sql, add_special_tokens=False))


@pytest.mark.parametrize("sql", [
    "SELECT name FROM singer",
    "select Name , COUNT(*) from SINGER group by country having count(*) > 1 order by age desc limit 3;",
    'SELECT "name", `age`, [country] FROM "singer"',
    "SELECT T1.name FROM singer AS T1 JOIN singer_in_concert AS T2 ON T1.singer_id = T2.singer_id "
    "WHERE T1.age>30 AND T2.concert_id IN (SELECT concert_id FROM concert WHERE year BETWEEN 2014 AND 2015)",
    "SELECT name FROM singer WHERE age > (SELECT avg(age) FROM singer) EXCEPT SELECT name FROM singer WHERE "
    "country LIKE 'Fr%'",
    "SELECT country FROM singer WHERE NOT EXISTS (SELECT 1 FROM concert) UNION ALL SELECT 'x' INTERSECT SELECT 1",
    "SELECT CASE WHEN age >= 30 THEN 'old' ELSE 'young' END, CAST(age AS REAL) / 2 FROM singer WHERE name IS NOT NULL",
    "SELECT name, RANK() OVER (PARTITION BY country ORDER BY age DESC) AS r FROM singer ORDER BY r",
    "SELECT strftime('%Y', year), julianday('now') - julianday(year) FROM concert WHERE year != ''",
    "WITH olds AS (SELECT name, age FROM singer WHERE age > 40) SELECT olds.name FROM olds ORDER BY age",
    "SELECT count(DISTINCT country) FROM singer LEFT JOIN concert ON singer.singer_id = concert.concert_id",
])
def test_the_grammar_takes_the_select_language_spider_bird_and_synsql_use(tokenizer, sql):
    assert ok(tokenizer, sql)


@pytest.mark.parametrize("sql", [
    "SELECT height FROM singer",  # no such column
    "SELECT name FROM singers",  # no such table
    "SELECT T1.height FROM singer AS T1",  # after a qualifier, still a column of the database
    "SELECT count(*) FROM singer WHERE (age > 3",  # unbalanced
    "SELECT count(*) FROM singer WHERE age > 3)",
    "SELECTname FROM singer",  # two words glued: SQLite cannot read it
    "SELECT name FROM singer WHERE",  # not a whole query
    "SELECT name FROM singer WHERE age > 3 UNION SELECT",
    "SELECT name FROM singer AS " + "t" * 41,  # a free name is bounded: a model cannot loop on one
    "SELECT sum(age, 2) FROM singer",  # an aggregate of one argument
    "SELECT beds.name FROM singer AS beds",  # an alias qualifier has at most 3 characters (T1): no stray name
])
def test_the_grammar_refuses_unknown_names_unbalanced_parentheses_and_unfinished_queries(tokenizer, sql):
    assert not ok(tokenizer, sql)


def test_a_column_the_question_links_values_to_is_compared_only_with_them(tokenizer):
    linked = {"country": ["France"]}
    assert ok(tokenizer, "SELECT name FROM singer WHERE country = 'France'", linked)
    assert ok(tokenizer, 'SELECT name FROM singer WHERE T1.country = "france" AND age > 3', linked)  # any case
    assert not ok(tokenizer, "SELECT name FROM singer WHERE country = 'Spain'", linked)
    assert not ok(tokenizer, "SELECT name FROM singer WHERE age > 3 AND T1.country != 'Spain'", linked)
    # without the link the same query passes; other columns, LIKE patterns and non-strings stay free
    assert ok(tokenizer, "SELECT name FROM singer WHERE country = 'Spain'")
    assert ok(tokenizer, "SELECT name FROM singer WHERE name = 'Spain' AND country LIKE '%an%'", linked)
    assert ok(tokenizer, "SELECT name FROM singer WHERE country = name OR country IN (SELECT name FROM singer)",
              linked)
    # as stored, as the question writes it, or in lower case; not in a case of the model's own
    assert not ok(tokenizer, "SELECT name FROM singer WHERE country = 'FrAnce'", linked)


def test_both_dialects_define_every_rule_they_name():
    for dialect, arrow in (("lark", ":"), ("gbnf", " ::=")):
        text = grammar_text(TABLES, {"country": ["France"]}, dialect)
        defined = {line.split(arrow)[0] for line in text.splitlines()}
        bodies = " ".join(re.sub(r'"(?:[^"\\]|\\.)*"i?|\[[^\]]*\]|/[^/]*/', " ", line.split(arrow, 1)[1])
                          for line in text.splitlines())
        named = set(re.findall(r"[A-Za-z_][\w-]*", bodies))
        assert named <= defined, (dialect, named - defined)


def test_a_schema_without_tables_is_a_clear_error():
    with pytest.raises(ValueError, match="tables and columns"):
        sql_grammar({})


def test_with_question_literals_strings_and_numbers_are_the_questions_and_the_refused_order_goes(tokenizer):
    from t2s_pipeline.modeling.value_links import QuestionLiterals

    literals = QuestionLiterals(strings=("France",), patterns=("%Fr%",), numbers=("0", "1", "30"),
                                refused_words=("asc",))

    def ok_literals(sql: str) -> bool:
        return accepts(engine_tokenizer(tokenizer), grammar_text(TABLES, literals=literals),
                       tokenizer.encode(sql, add_special_tokens=False))

    assert ok_literals("SELECT name FROM singer WHERE name = 'France' AND age > 30 ORDER BY age DESC LIMIT 1")
    assert ok_literals("SELECT name FROM singer WHERE country LIKE '%Fr%'")
    assert not ok_literals("SELECT name FROM singer WHERE name = 'Spain'")
    assert not ok_literals("SELECT name FROM singer WHERE age > 31")
    assert not ok_literals("SELECT name FROM singer ORDER BY age ASC")
    assert not ok_literals("SELECT name FROM singer WHERE country LIKE 'France'")  # LIKE takes a pattern
    assert not ok_literals("SELECT name FROM singer WHERE country = '%Fr%'")  # and `=` a string
    assert ok_literals("SELECT name FROM singer WHERE age BETWEEN 1 AND 30 OR age BETWEEN age AND 30")
    assert not ok_literals("SELECT name FROM singer WHERE age BETWEEN 30 AND 30")  # the bounds differ
    assert ok_literals('SELECT name FROM singer WHERE name = "T" AND country LIKE \'%fr%\'')  # "..." is not checked
    assert ok(tokenizer, "SELECT name FROM singer WHERE age > 31 ORDER BY age ASC")  # without: free



def test_the_pipe_grammar_takes_pipe_sql_and_refuses_what_the_sql_grammar_refuses(tokenizer):
    def ok_pipe(sql: str) -> bool:
        return accepts(engine_tokenizer(tokenizer), grammar_text(TABLES, pipe=True),
                       tokenizer.encode(sql, add_special_tokens=False))

    assert ok_pipe("FROM singer\n|> WHERE age > (FROM singer |> AGGREGATE AVG(age) AS avg_age)\n|> SELECT name")
    assert ok_pipe("FROM singer AS T1\n|> JOIN singer_in_concert AS T2 ON T1.singer_id = T2.singer_id\n"
                   "|> AGGREGATE COUNT(*) AS count_all DESC GROUP BY T1.singer_id, T1.name\n|> LIMIT 1\n|> SELECT name")
    assert ok_pipe("FROM singer\n|> WHERE country = 'France'\n|> SELECT name\n"
                   "|> UNION DISTINCT (SELECT name FROM singer WHERE age > 3)")
    assert ok_pipe("FROM concert |> AGGREGATE COUNT(*) AS count_all GROUP BY year |> WHERE count_all >= 2 "
                   "|> SELECT year |> DISTINCT")
    assert not ok_pipe("FROM singers |> SELECT name")  # no such table
    assert not ok_pipe("FROM singer |> SELECT height")  # no such column (nor a name AGGREGATE gives)
    assert not ok_pipe("SELECT name FROM singer |> WHERE age > 3")  # a pipe query starts with FROM
    assert not ok_pipe("FROM singer |> WHERE (age > 3")
    assert not ok(tokenizer, "FROM singer |> SELECT name")  # the SQL grammar takes no pipe
