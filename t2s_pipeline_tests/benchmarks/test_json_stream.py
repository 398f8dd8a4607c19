"""iter_json_records: the same records whatever the chunk size, broken elements skipped one by one."""

from __future__ import annotations

import json

import pytest

from t2s_pipeline.benchmarks.json_stream import iter_json_records

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
