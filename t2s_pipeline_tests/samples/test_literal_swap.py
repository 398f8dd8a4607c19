"""Literal swapping makes new pairs whose SQL takes its literals from the question."""

import random

from t2s_pipeline.samples.literal_swap import copyable_literals, string_literals, swap_literals


def test_finds_the_literals_the_question_states():
    question = "Show the names of departments in Grant Hall with a budget above 385000."
    sql = "SELECT name FROM department WHERE building = 'Grant Hall' AND budget > 385000 AND id > 2"
    assert copyable_literals(question, sql) == ["Grant Hall", "385000"]  # 2 is not in the question


def test_a_number_at_the_end_of_a_sentence_and_a_decimal_are_literals():
    assert copyable_literals("Products cheaper than 122.99.", "SELECT name FROM product WHERE price < 122.99") == ["122.99"]


def test_swaps_each_literal_in_both_texts_consistently():
    rng = random.Random(0)
    question = "List the 5 courses taken by Tina Adams."
    sql = "SELECT title FROM course WHERE student = 'Tina Adams' LIMIT 5"
    new_question, new_sql = swap_literals(question, sql, ["O'Brien Hall"], rng)
    number = new_question.split()[2]
    assert number.isdigit() and len(number) == 1
    assert new_question == f"List the {number} courses taken by O'Brien Hall."
    assert new_sql == f"SELECT title FROM course WHERE student = 'O''Brien Hall' LIMIT {number}"


def test_a_pair_without_copyable_literals_gives_nothing():
    assert swap_literals("How many students are there?", "SELECT COUNT(*) FROM student", ["x"], random.Random(0)) is None


def test_the_string_pool_holds_each_literal_once():
    assert string_literals(["SELECT 1 WHERE a = 'x' OR b = 'y'", "SELECT 2 WHERE c = 'x'"]) == ["x", "y"]
