"""Constrained decoding: literals from the question, names from the database (modeling/constrained.py)."""

from __future__ import annotations

import re
import sqlite3

import torch

from t2s_pipeline.modeling.constrained import QueryState, SqlConstraint
from t2s_pipeline.modeling.sql_context import SqlContext, sql_contexts
from t2s_pipeline.modeling.generate import load_model

TABLES = {"department": ["department_id", "name", "founded_year"],
          "student": ["student_id", "name", "age", "department_id"],
          "pilot": ["pilot_id", "name", "age"]}


def allows(question: str, text: str, piece: str, argmax_is_number: bool = False) -> bool:
    context = SqlContext(question, TABLES)
    return QueryState.read(text, context.tables).allows(context, piece, argmax_is_number)


def test_a_string_is_a_span_of_the_question_ending_at_a_word():
    q = "Find the titles of courses taken by Nora Mitchell."
    where = "SELECT name FROM student WHERE name = '"
    assert allows(q, where, "Nora")
    assert allows(q, where + "Nora", " Mitchell'")
    assert not allows(q, where + "Nora", " Young")
    assert not allows(q, where + "Nora Mitch", "'")  # a closing quote must end a whole word
    assert not allows(q, where, "nora")  # copied as written


def test_like_patterns_may_wrap_a_question_span_in_percent_signs():
    q = "Show the names of departments whose name begins with the letter E."
    like = "SELECT name FROM department WHERE name LIKE '"
    assert allows(q, like, "E%'")
    assert not allows(q, like + "%", "E%'") and not allows(q, like + "%", "E'")  # it says "begins with"
    assert not allows(q, like, "M%'")
    ends, contains = "Which names end with son?", "Which names contain son?"
    assert allows(ends, like + "%", "son'")
    assert not allows(ends, like, "son%'") and not allows(ends, like + "%", "son%'")
    assert all(allows(contains, like + start, "son" + end) for start, end in (("%", "%'"), ("", "%'"), ("%", "'")))


VALUES = frozenset({"Eagle Airlines", "Engineering", "Economics", "Coffee Grinder", "Chicago"})


def allows_linked(question: str, text: str, piece: str) -> bool:
    context = SqlContext(question, TABLES, VALUES)
    return QueryState.read(text, context.tables).allows(context, piece, False)


def test_a_compared_string_is_a_value_of_the_database_when_the_question_states_one():
    q = "Return the flight numbers of flights operated by Eagle Airlines."
    where = "SELECT pilot_id FROM pilot WHERE name = '"
    assert allows_linked(q, where, "E") and allows_linked(q, where + "Eagle", " Airlines'")
    assert not allows_linked(q, where, "Airlines")  # a span, but not a value: "Eagle Airlines" is
    assert not allows_linked(q, where + "Eagle", "'")
    assert allows(q, where, "Airlines")  # no values read: any whole-word span
    assert not allows_linked(q, where, "%")  # `%` belongs to LIKE patterns


def test_a_like_pattern_is_a_span_with_percent_signs_that_matches_a_value():
    q = "What are the names of departments whose name begins with the letter E?"
    like = "SELECT name FROM department WHERE name LIKE '"
    assert allows_linked(q, like, "E") and allows_linked(q, like + "E", "%'")
    assert not allows_linked(q, like, "are")  # no value starts with "are" (case as written)
    assert not allows_linked(q, like + "E", "'")  # a pattern needs a `%`
    assert not allows_linked(q, like, "%%")
    contains = "List the names of products with Grinder in their name."
    assert allows_linked(contains, like, "%Grinder%'") and not allows_linked(contains, like, "Grinder%'")
    assert not allows_linked(contains, like, "%of%'") and not allows_linked(contains, like, "%in%'")  # function words
    starts = "Display the names of customers whose name starts with E."
    assert allows_linked(starts, like, "E%'") and not allows_linked(starts, like, "%E%'")


def test_a_closing_parenthesis_needs_an_open_one():
    q = "Return the flight numbers of flights operated by Eagle Airlines."
    where = "SELECT pilot_id FROM pilot WHERE name = 'Eagle Airlines"
    assert allows(q, where, "'") and not allows(q, where, "')")
    assert allows(q, "SELECT COUNT(*) FROM pilot WHERE age > (SELECT AVG(age) FROM pilot", ")")


def test_numbers_are_the_questions_own_or_zero_one_and_number_words():
    q = "Find the names of departments with founding year under 1920 and at least two students."
    where = "SELECT name FROM department WHERE founded_year < "
    assert allows(q, where, " 19") and allows(q, where + "19", "20")
    assert not allows(q, where, " 1879")
    assert not allows(q, where + "19", "79")
    assert allows(q, "SELECT COUNT(*) FROM student LIMIT ", "1") and allows(q, where, "2")
    assert not allows(q, where.rstrip(), " 1879") and allows(q, where.rstrip(), " 1920")  # the space in the token
    assert not allows(q, where + "1920", " Nguyen") and allows(q, where + "1920", " AND")
    between = "SELECT name FROM department WHERE founded_year BETWEEN 1920 AND "
    assert allows(q.replace("1920", "1920 to 1950"), between, "1950")
    assert not allows(q.replace("1920", "1920 to 1950"), between, "1920 ")  # BETWEEN x AND x
    # A bare number that can go no further would leave BETWEEN x AND x with nothing allowed after it.
    ages = "How many students are aged between 21 and 22?"
    assert not allows(ages, "SELECT COUNT(*) FROM student WHERE age BETWEEN 21 AND 2", "1")
    assert not allows(ages, "SELECT COUNT(*) FROM student WHERE age BETWEEN 21 AND", " 21")
    assert allows(ages, "SELECT COUNT(*) FROM student WHERE age BETWEEN 21 AND 2", "2")
    assert allows(q.replace("1920", "19 to 1950"), between.replace("1920", "19"), "19")  # 19 may go on to 1950
    # A prefix whose only completion is the lower bound is a dead end too (109.9 -> 109.99; 123 -> 1230).
    prices = "Names of products with price from 109.99 to 122.99?"
    assert not allows(prices, "SELECT name FROM product WHERE price BETWEEN 109.99 AND 109", ".9")
    assert allows(prices, "SELECT name FROM product WHERE price BETWEEN 109.99 AND 1", "22.9")
    flights = "Count the flights with distance from 1230 to 1300."
    assert not allows(flights, "SELECT COUNT(*) FROM flight WHERE distance BETWEEN 1230 AND ", "123")
    assert allows(flights, "SELECT COUNT(*) FROM flight WHERE distance BETWEEN 1230 AND ", "13")


def test_when_the_model_means_a_number_it_is_not_swapped_for_a_name():
    q = "Find the names of departments with founding year under 1920."
    where = "SELECT name FROM department WHERE founded_year < "
    assert not allows(q, where, " student", argmax_is_number=True)
    assert allows(q, where, " student", argmax_is_number=False)


def test_words_are_keywords_aliases_or_names_of_the_database():
    q = "How many students are there?"
    assert allows(q, "SELECT COUNT(*) FROM ", "student")
    assert allows(q, "SELECT COUNT(*) FROM ", "stud")  # an open word that starts a name
    assert not allows(q, "SELECT COUNT(*) FROM ", "course")  # a table of another database
    assert not allows(q, "SELECT name FROM student WHERE ", "credits")
    assert allows(q, "select count(*) from ", "student")  # SQL is case-insensitive
    assert allows(q, "SELECT COUNT(*) AS ", "n_students")  # a name being defined
    assert allows(q, "SELECT COUNT(*) AS n_students FROM student ORDER BY ", "n_students")
    assert allows(q, "select t1.name from student as", " t1")  # Spider writes aliases in lower case too


def test_a_question_that_states_the_order_rules_out_the_contrary_one():
    desc, asc = "List the names, ordered by age in descending order.", "List the names by age, ascending."
    order = "SELECT name FROM pilot ORDER BY age"
    assert not allows(desc, order, " ASC") and allows(desc, order, " DESC") and allows(desc, order, " AS")
    assert not allows(desc, order + " AS", "C") and not allows(desc, order + " ASC", ",")
    assert not allows(asc, order, " DESC") and allows(asc, order, " ASC")
    both = "List the names by age ascending, then by name descending."
    assert allows(both, order, " ASC") and allows(both, order, " DESC")
    assert allows("List the names by age.", order, " ASC")


def test_after_an_alias_dot_only_its_tables_columns():
    q = "Which airlines have pilots older than 50?"
    text = "SELECT T1.name FROM department AS T1 JOIN pilot AS T2 ON T1.department_id = T2."
    assert allows(q, text, "age")
    assert not allows(q, text, "founded_year")
    assert allows(q, text + "department_id WHERE T2.age > ", " 50")


def test_inside_double_quotes_nothing_is_checked():
    assert allows("How many?", 'SELECT COUNT(*) FROM student WHERE name = "', "Zed")


def test_the_processor_masks_disallowed_top_tokens_looks_further_and_never_blocks_every_token(tiny_base_dir):
    _, tokenizer = load_model(str(tiny_base_dir))
    prompt = tokenizer(["SELECT name FROM department WHERE founded_year <"], return_tensors="pt")["input_ids"]
    digits = {tokenizer.decode([i]).strip(): i for i in range(len(tokenizer))
              if re.fullmatch(r" ?[2-9]", tokenizer.decode([i]))}  # one-digit tokens (0 and 1 always pass)
    (good_text, good), (_, bad) = sorted(digits.items())[:2]
    context = SqlContext(f"Find the departments founded before {good_text}.", TABLES)
    scores = torch.zeros(1, len(tokenizer))
    scores[0, bad], scores[0, good] = 5.0, 4.0
    out = SqlConstraint(tokenizer, [context], prompt.shape[1] - 1, top_k=8)(prompt, scores.clone())
    assert out[0].argmax() == good and out[0, bad] == float("-inf")
    # No allowed token among the top k: it looks among the top wide_k, where the question's number is.
    scores = torch.full((1, len(tokenizer)), -1.0)
    scores[0, bad], scores[0, good] = 5.0, 0.0
    out = SqlConstraint(tokenizer, [context], prompt.shape[1] - 1, top_k=1)(prompt, scores.clone())
    assert out[0].argmax() == good and out[0, bad] == float("-inf")
    # None there either: the scores are left as they were.
    out = SqlConstraint(tokenizer, [context], prompt.shape[1] - 1, top_k=1, wide_k=1)(prompt, scores.clone())
    assert torch.equal(out, scores)


def test_for_t5_only_eos_ends_a_row_and_pad_and_sentinels_are_never_kept(tiny_t5_dir):
    """T5's generate stops at EOS only: a pad or a sentinel (<extra_id_0>) taken as an end would leave the row
    unconstrained from there on, so the processor never keeps them; EOS where the query may end."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_t5_dir)
    decoder = torch.tensor([[tokenizer.pad_token_id, *tokenizer("SELECT name FROM student",
                                                               add_special_tokens=False)["input_ids"]]])
    sentinel = tokenizer.convert_tokens_to_ids("<extra_id_0>")
    scores = torch.zeros(1, len(tokenizer))
    scores[0, sentinel], scores[0, tokenizer.pad_token_id], scores[0, tokenizer.eos_token_id] = 9.0, 8.0, 7.0
    context = SqlContext("Who are the students?", TABLES)
    out = SqlConstraint(tokenizer, [context], 1, end_ids=[tokenizer.eos_token_id])(decoder, scores.clone())
    assert out[0].argmax() == tokenizer.eos_token_id
    assert out[0, sentinel] == out[0, tokenizer.pad_token_id] == float("-inf")
    # Without end_ids (decoder-only models) every special token is an end: the sentinel would pass.
    assert SqlConstraint(tokenizer, [context], 1)(decoder, scores.clone())[0].argmax() == sentinel


def test_sql_contexts_read_each_database_schema_and_text_values(tmp_path):
    db = tmp_path / "school.sqlite"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE student (student_id INTEGER, name TEXT)")
        conn.execute("INSERT INTO student VALUES (1, 'Nora Mitchell'), (2, NULL)")
    contexts = sql_contexts(["Who?", "How many?"], [db, db])
    assert [c.tables for c in contexts] == [{"student": ["student_id", "name"]}] * 2
    assert contexts[0].values == {"Nora Mitchell"}  # text values only
