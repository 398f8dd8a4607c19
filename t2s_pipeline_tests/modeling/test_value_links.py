"""Value linking for the grammar (modeling/value_links.py): question spans that are a column's text values."""

from __future__ import annotations

import sqlite3

from t2s_pipeline.modeling.value_links import column_values, linked_values, question_spans


def test_spans_run_from_a_word_start_to_a_word_end_with_a_closing_parenthesis_and_cut_plurals():
    spans = question_spans("Which Asian cars are amc hornet (sw)?")
    assert spans["amc hornet (sw)"] == {"amc hornet (sw)"} and "asian cars" in spans
    assert spans["asia"] == {"Asia"}  # "Asian" cut by one letter
    assert "cars are" in spans and "car" in spans
    assert "ich" not in spans  # spans start at a word's start
    assert "as" not in spans  # a cut leaves at least three letters


def test_a_span_equal_to_a_text_value_links_that_value_to_its_column(tmp_path):
    db = tmp_path / "d.sqlite"
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE singer (name TEXT, country TEXT, age INTEGER)")
    conn.executemany("INSERT INTO singer VALUES (?, ?, ?)", [("Joe Sharp", "France", 52), ("Rose", "Netherlands", 41),
                                                              ("Asia", "asia", 3)])
    conn.commit()
    conn.close()
    values = column_values(db, {"singer": ["name", "country", "age"]})
    assert values["country"]["france"] == {"France"} and "age" in values and not values["age"]  # text only
    links = linked_values("Which singers from france are older than joe sharp?", values)
    assert links == {"country": ["France", "france"], "name": ["Joe Sharp", "joe sharp"]}
    assert linked_values("How old is the singer?", values) == {}


def test_question_literals_are_the_stated_values_patterns_numbers_and_order(tmp_path):
    from t2s_pipeline.modeling.value_links import question_literals

    values = {"country": {"france": {"France"}, "spain": {"Spain"}}, "name": {"edith": {"Edith"}}}
    lits = question_literals("Singers from France older than two, whose name starts with E, in descending order",
                             values)
    assert lits.strings == ("France",)  # the question states a value: strings are its values
    assert "E%" in lits.patterns and "%E" not in lits.patterns  # "starts with E", and a value starts so
    assert set(lits.numbers) == {"0", "1", "2"} and lits.refused_words == ("asc",)
    assert "2" in question_literals("Who has at least 3?", values).numbers  # "at least 3" is also `> 2`
    assert lits.values_stated
    blood = {"blood_type": {"a+": {"A+"}, "ab+": {"AB+"}}, "name": {"ann": {"Ann"}}}
    assert question_literals("Patients with blood type AB+?", blood).strings == ("AB+",)  # a span may end in +
    assert "A%" in question_literals("Names that start with A?", blood).patterns  # "a" is a word, anchored a letter
    free = question_literals("Singers named Joe Sharp?", values)
    assert "Joe Sharp" in free.strings and "Singers named" in free.strings  # no value stated: any span
