"""iter_json_records: the same records whatever the chunk size, broken elements skipped one by one,
a file cut inside its array refused."""

from __future__ import annotations

import json

import pytest

from t2s_pipeline.benchmarks.json_stream import TruncatedJSONError, iter_json_records

BROKEN = """[
  {"db_id": "music", "question": "How many?", "query": "SELECT count(*) FROM singer"},
  {"db_id": "music", "question": "broken, "query": "SELECT 1"},
  {"db_id": "music", "question": "Nested?", "meta": {"tags": [1, {"a": "}{"}]}},
  {"db_id": "music", "question": "Stray brace"}, "query": "SELECT 1"},
  "a string", -2500.0, [1, 2],
  {"db_id": "music", "question": "\\u00e9t\\u00e9?", "query": "SELECT 2"}
]"""


def test_chunk_size_does_not_change_the_records(tmp_path):
    path = tmp_path / "data.json"
    path.write_text(BROKEN)
    whole = list(iter_json_records(path))
    assert [r["question"] if isinstance(r, dict) else (r, e) for r, e in whole] == [
        "How many?", (None, "malformed JSON at char 132"), "Nested?", (None, "malformed JSON at char 281"), "été?"]
    for chunk_chars in (1, 2, 3, 7, 64):
        assert list(iter_json_records(path, chunk_chars=chunk_chars)) == whole


def test_a_valid_array_reads_as_json_loads_does(tmp_path):
    records = [{"a": "x, ]}{"}, "s", -2500.0, 12, None, True, [1, {"b": []}], {}]
    path = tmp_path / "data.json"
    for indent in (None, 2):
        path.write_text(json.dumps(records, indent=indent))
        for chunk_chars in (1, 3, 1 << 20):
            assert [r for r, e in iter_json_records(path, chunk_chars=chunk_chars)] == records


def test_json_lines_and_edge_files(tmp_path):
    path = tmp_path / "data.json"
    path.write_text('{"a": 1}\n{"a": 2\n{"a": 3}\n{"a": 4}\n')
    # Resyncing needs a `,` `[` or `}` before the next record, so the line after a broken one goes with it.
    assert list(iter_json_records(path, chunk_chars=4)) == [({"a": 1}, None), (None, "malformed JSON at char 17"),
                                                            ({"a": 4}, None)]
    for empty in ("", "[]", "  [ ]  "):
        path.write_text(empty)
        assert list(iter_json_records(path)) == []
    path.write_text('{"not": "an array"}')
    with pytest.raises(ValueError, match="expected a JSON array"):
        list(iter_json_records(path))


def test_an_array_cut_anywhere_is_refused_whatever_the_chunk_size(tmp_path):
    text = json.dumps([{"db_id": "m\u00fcsic", "question": f"q{i} \u00e9t\u00e9?", "query": "SELECT [1]"}
                       for i in range(3)], indent=2, ensure_ascii=False)
    path = tmp_path / "dev.json"
    for cut in range(1, len(text) - 1):  # every cut but the whole file
        path.write_text(text[:cut], encoding="utf-8")
        for chunk_chars in (3, 1 << 20):
            with pytest.raises(TruncatedJSONError, match=f"{path}: truncated JSON array: the file ends at byte "
                                                         f"{len(text[:cut].encode())} "):
                list(iter_json_records(path, chunk_chars=chunk_chars))
    path.write_text(text + "\n", encoding="utf-8")
    assert len(list(iter_json_records(path))) == 3


def test_a_broken_element_before_the_closing_bracket_stays_a_record_error(tmp_path):
    path = tmp_path / "dev.json"
    path.write_text('[{"a": 1},\r\n {"a": broken}\r\n]\r\n')
    # Offsets count the file's own chars, \r included, so they stay byte offsets in ASCII text.
    assert list(iter_json_records(path)) == [({"a": 1}, None), (None, "malformed JSON at char 19")]
