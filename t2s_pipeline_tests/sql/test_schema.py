"""Schemas from SQLite and from Spider's tables.json agree in form; schema_text renders them."""

from __future__ import annotations

import json
import sqlite3

import pytest

from t2s_pipeline.sql.schema import read_sqlite_schema, schema_from_spider_tables, schema_text
from t2s_pipeline_tests.benchmarks.test_spider import MUSIC_TABLES_ENTRY, SPIDER_DIR, make_database


def test_read_sqlite_schema(tmp_path):
    schema = read_sqlite_schema(make_database(tmp_path / "music.sqlite"), "music")
    singer, concert = schema["tables"]
    assert schema["db_id"] == "music"
    assert singer == {
        "name": "singer",
        "columns": [{"name": "singer_id", "type": "INTEGER"}, {"name": "name", "type": "TEXT"},
                    {"name": "age", "type": "INTEGER"}],
        "primary_key": ["singer_id"],
        "foreign_keys": [],
    }
    assert concert["foreign_keys"] == [{"column": "singer_id", "ref_table": "singer", "ref_column": "singer_id"}]


def test_spider_tables_entry_has_the_same_form(tmp_path):
    from_tables = schema_from_spider_tables(MUSIC_TABLES_ENTRY)
    from_sqlite = read_sqlite_schema(make_database(tmp_path / "music.sqlite"), "music")
    assert from_tables == from_sqlite


def test_schema_text_quotes_names_and_marks_keys(tmp_path):
    path = tmp_path / "odd.sqlite"
    conn = sqlite3.connect(path)
    conn.executescript("""
        CREATE TABLE "order items" ("item id" INTEGER, "order" INTEGER, qty REAL, PRIMARY KEY ("item id", "order"));
        CREATE TABLE orders (id INTEGER PRIMARY KEY, item INTEGER REFERENCES "order items"("item id"));
    """)
    conn.close()
    text = schema_text(read_sqlite_schema(path))
    assert text.splitlines() == [
        'CREATE TABLE "order items" ("item id" INTEGER, "order" INTEGER, qty REAL, PRIMARY KEY ("item id", "order"));',
        'CREATE TABLE orders (id INTEGER PRIMARY KEY, item INTEGER REFERENCES "order items"("item id"));',
    ]


def test_schema_text_of_real_spider_tables():
    if not (SPIDER_DIR / "tables.json").is_file():
        pytest.skip(f"Spider not found at {SPIDER_DIR.resolve()}")
    entries = json.loads((SPIDER_DIR / "tables.json").read_text())
    for entry in entries:
        text = schema_text(schema_from_spider_tables(entry))
        user_tables = [t for t in entry["table_names_original"] if not t.startswith("sqlite_")]
        assert text.count("CREATE TABLE") == len(user_tables)
        # The text is valid SQLite DDL: names that need quoting (spaces, keywords) are quoted.
        conn = sqlite3.connect(":memory:")
        conn.executescript(text)
        conn.close()
