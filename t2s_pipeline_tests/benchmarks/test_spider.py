"""load_spider: good records kept, every bad one rejected with its reason, loading goes on."""

from __future__ import annotations

import json
import sqlite3
import time
from collections import Counter
from pathlib import Path

import pytest
import sqlglot

from t2s_pipeline.benchmarks import spider
from t2s_pipeline.benchmarks.json_stream import TruncatedJSONError
from t2s_pipeline.benchmarks.spider import gold_parse_error, load_spider
from t2s_pipeline.sql.schema import read_sqlite_schema, schema_from_spider_tables

# The sibling `shared` folder of the repository root.
SPIDER_DIR = Path(__file__).resolve().parents[2] / ".." / "shared" / "benchmarks" / "spider"

MUSIC_TABLES_ENTRY = {
    "db_id": "music",
    "table_names_original": ["singer", "concert"],
    "table_names": ["singer", "concert"],
    "column_names_original": [[-1, "*"], [0, "singer_id"], [0, "name"], [0, "age"], [1, "concert_id"], [1, "singer_id"]],
    "column_names": [[-1, "*"], [0, "singer id"], [0, "name"], [0, "age"], [1, "concert id"], [1, "singer id"]],
    "column_types": ["text", "number", "text", "number", "number", "number"],
    "primary_keys": [1, 4],
    "foreign_keys": [[5, 1]],
}


def make_database(path: Path, singers=(("Ann", 30), ("Bob", 45), ("Cid", 27))) -> Path:
    """A tiny music database: singer and concert."""
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path)
    conn.executescript("""
        CREATE TABLE singer (singer_id INTEGER PRIMARY KEY, name TEXT, age INTEGER);
        CREATE TABLE concert (concert_id INTEGER PRIMARY KEY, singer_id INTEGER REFERENCES singer(singer_id));
    """)
    conn.executemany("INSERT INTO singer (name, age) VALUES (?, ?)", singers)
    conn.executemany("INSERT INTO concert (singer_id) VALUES (?)", [(1,), (1,), (2,)])
    conn.commit()
    conn.close()
    return path


def write_spider_folder(root: Path, dev_records: list | str, db_ids=("music",), tables=(MUSIC_TABLES_ENTRY,)) -> Path:
    """A Spider-format folder: dev.json (records, or raw text to allow broken JSON), tables.json, databases."""
    root.mkdir(parents=True, exist_ok=True)
    for db_id in db_ids:
        make_database(root / "database" / db_id / f"{db_id}.sqlite")
    (root / "tables.json").write_text(json.dumps(list(tables)))
    text = dev_records if isinstance(dev_records, str) else json.dumps(dev_records, indent=2)
    (root / "dev.json").write_text(text)
    return root


def test_bad_records_are_rejected_with_reasons_and_good_ones_load(tmp_path):
    dev_json = """[
  {"db_id": "music", "question": "How many singers are there?", "query": "SELECT count(*) FROM singer"},
  {"db_id": "music", "question": "broken, "query": "SELECT 1"},
  {"db_id": "music", "query": "SELECT name FROM singer"},
  {"db_id": "ghost", "question": "Who haunts?", "query": "SELECT 1"},
  {"db_id": "music", "question": "Names?", "query": "SELEC name FROM singer"},
  {"db_id": "music", "question": "Singers by age?", "query": "SELECT name FROM singer ORDER BY age", "hardness": "easy"},
  {"db_id": "music", "question": "Oldest singer?", "SQL": "SELECT max(age) FROM singer",
   "evidence": "age is in years", "difficulty": "simple"}
]"""
    root = write_spider_folder(tmp_path / "tiny", dev_json)

    loaded = load_spider(root, benchmark="tiny")

    rejects = {r["id"]: r for r in loaded.rejects}
    assert rejects["tiny/dev/1"]["reason"] == "bad_record"
    assert rejects["tiny/dev/1"]["detail"].startswith("malformed JSON at char ")
    assert rejects["tiny/dev/2"]["reason"] == "bad_record" and "question" in rejects["tiny/dev/2"]["detail"]
    assert rejects["tiny/dev/3"]["reason"] == "missing_database"
    assert str(Path("database") / "ghost" / "ghost.sqlite") in rejects["tiny/dev/3"]["detail"]
    assert rejects["tiny/dev/4"]["reason"] == "gold_parse_error" and rejects["tiny/dev/4"]["detail"]
    assert all(r["stage"] == "raw_benchmarks" for r in loaded.rejects)

    # Loading went on past the bad ones, and ids are the index in the file.
    assert [e["id"] for e in loaded.examples] == ["tiny/dev/0", "tiny/dev/5", "tiny/dev/6"]
    assert loaded.input_count == 7 == len(loaded.examples) + len(loaded.rejects)
    by_id = {e["id"]: e for e in loaded.examples}
    assert by_id["tiny/dev/5"]["difficulty"] == "easy"
    assert by_id["tiny/dev/6"]["gold_sql"] == "SELECT max(age) FROM singer"  # BIRD's `SQL` field
    assert by_id["tiny/dev/6"]["evidence"] == "age is in years"
    assert by_id["tiny/dev/6"]["difficulty"] == "simple"
    assert set(loaded.databases) == {"music"} and loaded.databases["music"].is_file()
    assert [t["name"] for t in loaded.schemas["music"]["tables"]] == ["singer", "concert"]


def test_non_object_and_non_string_fields_are_bad_records(tmp_path):
    records = [
        ["not", "an", "object"],
        {"db_id": "music", "question": "  ", "query": "SELECT 1"},
        {"db_id": "music", "question": "q", "query": 42},
        {"db_id": "../music", "question": "q", "query": "SELECT 1"},
        {"db_id": "music", "question": "q", "query": "SELECT 1"},
    ]
    loaded = load_spider(write_spider_folder(tmp_path / "b", records))
    assert [r["reason"] for r in loaded.rejects] == ["bad_record"] * 4
    assert [e["id"] for e in loaded.examples] == ["spider/dev/4"]


def test_a_truncated_file_stops_the_load_naming_file_and_byte(tmp_path):
    first = '[{"db_id": "music", "question": "\u00e9t\u00e9 a?", "query": "SELECT 1"},\n '
    text = first + '{"db_id": "music", "question": "b?", "que'
    root = write_spider_folder(tmp_path / "t", text)
    with pytest.raises(TruncatedJSONError) as error:
        load_spider(root)
    message = str(error.value)
    assert str(root / "dev.json") in message
    assert f"ends at byte {len(text.encode())}" in message
    assert f"the element at byte {len(first.encode())} is cut short" in message


def test_an_array_that_never_closes_stops_the_load(tmp_path):
    text = '[{"db_id": "music", "question": "a?", "query": "SELECT 1"},\n'
    with pytest.raises(TruncatedJSONError, match=f"ends at byte {len(text)} before its top-level array closes"):
        load_spider(write_spider_folder(tmp_path / "t", text))


def test_a_broken_last_record_in_a_closed_array_is_a_reject(tmp_path):
    text = '[{"db_id": "music", "question": "a?", "query": "SELECT 1"},\n {"db_id": "music", question: "b?"}\n]\n'
    loaded = load_spider(write_spider_folder(tmp_path / "t", text))
    assert [e["id"] for e in loaded.examples] == ["spider/dev/0"]
    assert [(r["id"], r["reason"]) for r in loaded.rejects] == [("spider/dev/1", "bad_record")]


def test_missing_folder_names_the_path(tmp_path):
    missing = tmp_path / "no_such_benchmark"
    with pytest.raises(FileNotFoundError, match="no_such_benchmark"):
        load_spider(missing)


def test_folder_without_split_files_names_the_files(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="train_spider.json.*dev.json"):
        load_spider(tmp_path / "empty")


def test_schema_falls_back_to_sqlite_without_tables_entry(tmp_path):
    records = [{"db_id": "music", "question": "q", "query": "SELECT 1"},
               {"db_id": "other", "question": "q", "query": "SELECT 1"}]
    root = write_spider_folder(tmp_path / "s", records, db_ids=("music", "other"))
    loaded = load_spider(root)
    assert loaded.schemas["music"] == schema_from_spider_tables(MUSIC_TABLES_ENTRY)
    assert loaded.schemas["other"] == read_sqlite_schema(root / "database" / "other" / "other.sqlite", "other")


def test_sqlite_decides_when_sqlglot_refuses(tmp_path, monkeypatch):
    db = make_database(tmp_path / "m.sqlite")

    def refuse(*args, **kwargs):
        raise sqlglot.errors.ParseError("sqlglot does not know this\nsecond line")

    monkeypatch.setattr(spider.sqlglot, "parse_one", refuse)
    assert gold_parse_error("SELECT name FROM singer", db) is None  # valid SQLite: kept
    assert gold_parse_error("SELECT nope FROM missing_table", db) is None  # not a syntax error: golden's call
    assert gold_parse_error("SELEC name FROM singer", db) == "sqlglot does not know this"
    assert gold_parse_error("SELECT 1; SELECT 2", db) == "sqlglot does not know this"


def test_load_embedded(tmp_path):
    from t2s_pipeline.benchmarks.sources import load_embedded

    loaded = load_embedded(tmp_path)
    assert loaded.examples and loaded.input_count == len(loaded.examples) + len(loaded.rejects)
    assert all(e["id"].startswith("embedded/train/") for e in loaded.examples)
    assert set(loaded.schemas) == set(loaded.databases) == {e["db_id"] for e in loaded.examples}


def test_real_spider_dev_loads():
    if not (SPIDER_DIR / "dev.json").is_file():
        pytest.skip(f"Spider not found at {SPIDER_DIR.resolve()}")
    start = time.monotonic()
    loaded = load_spider(SPIDER_DIR, split_files={"dev": "dev.json"})
    reasons = Counter(r["reason"] for r in loaded.rejects)
    print(f"spider dev: input {loaded.input_count}, kept {len(loaded.examples)}, rejected {dict(reasons)}, "
          f"{time.monotonic() - start:.2f}s")
    assert loaded.input_count == 1034 == len(loaded.examples) + len(loaded.rejects)
    assert reasons["gold_parse_error"] == 0
    assert set(reasons) <= {"missing_database"}
