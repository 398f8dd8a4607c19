"""load_jsonl: configurable field names, databases built from CREATE TABLE contexts, rejects with line numbers."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from t2s_pipeline.benchmarks.jsonl import build_database, load_jsonl
from t2s_pipeline_tests.benchmarks.test_spider import make_database

SINGER_CONTEXT = "CREATE TABLE singer (name VARCHAR, age INTEGER); INSERT INTO singer VALUES ('Ann', 30), ('Bob', 45);"
SHOP_CONTEXT = "CREATE TABLE shop (id INTEGER, city TEXT)"


def write_jsonl(path: Path, lines: list) -> Path:
    """Records as JSON lines; a str item is written as it is (to make broken lines)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines))
    return path


LINES = [
    # sql-create-context's names
    {"question": "How many singers are older than 40?", "context": SINGER_CONTEXT,
     "query": "SELECT count(*) FROM singer WHERE age > 40"},
    # gretel synthetic_text_to_sql's names; same context as the first: the same database
    {"sql_prompt": "Who is the oldest singer?", "sql_context": SINGER_CONTEXT,
     "sql": "SELECT name FROM singer ORDER BY age DESC LIMIT 1", "sql_complexity": "basic SQL"},
    '{"question": "broken", "context": ',
    "",  # blank lines hold no record
    {"context": SHOP_CONTEXT, "query": "SELECT city FROM shop"},
    {"question": "Drop it?", "context": "CREATE TABLE t (x INT); DROP TABLE t;", "query": "SELECT 1"},
    {"question": "Bad table?", "context": "CREATE TABLE (x INT", "query": "SELECT 1"},
    {"question": "Which cities?", "context": SHOP_CONTEXT, "query": "SELECT city FROM shop", "evidence": "city is text"},
    {"question": "Unparsable?", "context": SHOP_CONTEXT, "query": "SELEC city FROM shop"},
    {"question": "No schema?", "query": "SELECT 1"},
    ["not", "an", "object"],
]


def test_field_variants_load_and_bad_lines_are_rejected_with_line_numbers(tmp_path):
    path = write_jsonl(tmp_path / "data.jsonl", LINES)
    loaded = load_jsonl(path, tmp_path / "work", benchmark="mix")
    records = list(loaded.records())

    examples = [r for kind, r in records if kind == "example"]
    rejects = {r["id"]: (r["reason"], r["detail"]) for kind, r in records if kind == "reject"}
    assert [e["id"] for e in examples] == ["mix/train/0", "mix/train/1", "mix/train/6"]
    assert examples[1]["question"] == "Who is the oldest singer?" and examples[1]["gold_sql"].startswith("SELECT name")
    assert examples[2]["evidence"] == "city is text"
    assert rejects["mix/train/2"][0] == "bad_record" and rejects["mix/train/2"][1].startswith("line 3: invalid JSON")
    assert rejects["mix/train/3"] == ("bad_record", "line 5: missing or empty field: question")
    assert rejects["mix/train/4"][0] == "bad_context" and "DROP TABLE" in rejects["mix/train/4"][1]
    assert rejects["mix/train/4"][1].startswith("line 6: only CREATE TABLE and INSERT")
    assert rejects["mix/train/5"][0] == "bad_context" and rejects["mix/train/5"][1].startswith("line 7: ")
    assert rejects["mix/train/7"][0] == "gold_parse_error" and rejects["mix/train/7"][1].startswith("line 9: ")
    assert rejects["mix/train/8"] == ("bad_record", "line 10: missing or empty field: context/sql_context (or a db_id)")
    assert rejects["mix/train/9"][0] == "bad_record"
    assert loaded.input_count == 10 == len(examples) + len(rejects)

    # Identical contexts share one database, named by the context's hash; the gold SQL runs on it.
    assert examples[0]["db_id"] == examples[1]["db_id"] != examples[2]["db_id"]
    assert examples[0]["db_id"].startswith("mix_") and set(loaded.databases) == {e["db_id"] for e in examples}
    conn = sqlite3.connect(loaded.databases[examples[1]["db_id"]])
    assert conn.execute(examples[1]["gold_sql"]).fetchall() == [("Bob",)]
    conn.close()
    assert [t["name"] for t in loaded.schemas[examples[2]["db_id"]]["tables"]] == ["shop"]


def test_field_mapping_and_existing_databases_by_db_id(tmp_path):
    make_database(tmp_path / "dbs" / "music" / "music.sqlite")
    path = write_jsonl(tmp_path / "data.jsonl", [
        {"q": "How many singers?", "answer": "SELECT count(*) FROM singer", "db": "music"},
        {"q": "Ghost?", "answer": "SELECT 1", "db": "ghost"},
        {"q": "Shop?", "answer": "SELECT city FROM shop", "db": "ghost", "schema": SHOP_CONTEXT},
    ])
    fields = {"question": "q", "sql": "answer", "db_id": "db", "context": "schema"}

    loaded = load_jsonl(path, tmp_path / "work", fields=fields, database_dir=tmp_path / "dbs")
    records = list(loaded.records())

    kinds = [(kind, r["id"], r.get("db_id") or r["reason"]) for kind, r in records]
    assert kinds[0] == ("example", "jsonl/train/0", "music")
    assert kinds[1] == ("reject", "jsonl/train/1", "missing_database")
    assert kinds[2][0] == "example" and kinds[2][2].startswith("jsonl_")  # no database file: built from its context
    assert loaded.databases["music"] == tmp_path / "dbs" / "music" / "music.sqlite"
    with pytest.raises(ValueError, match="unknown JSONL field"):
        load_jsonl(path, tmp_path / "work", fields={"answer": "sql"})


def test_a_folder_of_split_files_with_renamed_splits_and_max_samples(tmp_path):
    record = {"question": "How many shops?", "context": SHOP_CONTEXT, "query": "SELECT count(*) FROM shop"}
    write_jsonl(tmp_path / "set" / "train.jsonl", [record] * 3)
    write_jsonl(tmp_path / "set" / "test.jsonl", [record] * 2)

    both = load_jsonl(tmp_path / "set", tmp_path / "work")
    assert sorted({r["split"] for _, r in both.records()}) == ["test", "train"]

    capped = load_jsonl(tmp_path / "set", tmp_path / "work", splits={"test": "dev"}, max_samples=1)
    assert [r["id"] for _, r in capped.records()] == ["jsonl/dev/0"]
    assert (capped.input_count, capped.skipped_max_samples) == (1, 1)
    with pytest.raises(FileNotFoundError, match="no JSONL split"):
        load_jsonl(tmp_path / "set", tmp_path / "work", splits={"validation": "dev"})
    with pytest.raises(FileNotFoundError, match="nowhere"):
        load_jsonl(tmp_path / "nowhere.jsonl", tmp_path / "work")


def test_build_database_runs_only_create_table_and_insert(tmp_path):
    db = tmp_path / "x.sqlite"
    assert build_database("-- the schema\nCREATE TABLE a (s TEXT); INSERT INTO a VALUES ('x;y');", db) is None
    assert sqlite3.connect(db).execute("SELECT s FROM a").fetchall() == [("x;y",)]
    assert "only CREATE TABLE" in build_database("ATTACH DATABASE 'other.db' AS o", tmp_path / "y.sqlite")
    assert not (tmp_path / "y.sqlite").exists()
    runaway = ("CREATE TABLE n (i INT); INSERT INTO n WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c) "
               "SELECT i FROM c;")
    assert "more work than a schema needs" in build_database(runaway, tmp_path / "z.sqlite")
    assert not (tmp_path / "z.sqlite").exists()
