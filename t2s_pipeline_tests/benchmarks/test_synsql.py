"""load_synsql: SynSQL's field names, cot_only, max_samples, and a stream that raw.py writes as it reads."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from t2s_pipeline.benchmarks.json_stream import TruncatedJSONError
from t2s_pipeline.benchmarks.raw import write_raw_benchmarks
from t2s_pipeline.benchmarks.synsql import load_synsql
from t2s_pipeline.records import read_json, read_jsonl
from t2s_pipeline.sql.schema import schema_from_spider_tables
from t2s_pipeline_tests.benchmarks.test_spider import MUSIC_TABLES_ENTRY, make_database


def synsql_record(question="How many singers are there?", sql="SELECT count(*) FROM singer", db_id="music",
                  cot="Count the rows of singer.", **changes) -> dict:
    record = {"db_id": db_id, "sql_complexity": "Simple", "question_style": "Formal", "question": question,
              "external_knowledge": "", "cot": cot, "sql": sql}
    return {**record, **changes}


def write_synsql_folder(root: Path, records: list | str, db_ids=("music", "shop")) -> Path:
    """SynSQL's layout: data.json (a JSON array), tables.json, databases/<db_id>/<db_id>.sqlite."""
    for db_id in db_ids:
        make_database(root / "databases" / db_id / f"{db_id}.sqlite")
    (root / "tables.json").write_text(json.dumps([MUSIC_TABLES_ENTRY]))
    (root / "data.json").write_text(records if isinstance(records, str) else json.dumps(records, indent=2))
    return root


RECORDS = [
    synsql_record(external_knowledge="A singer is a row of singer.", sql_complexity="Moderate"),
    synsql_record(cot=""),  # no chain of thought
    synsql_record(db_id="missing_db"),
    synsql_record(question=""),
    synsql_record(sql="SELEC 1"),
    synsql_record(db_id="shop", question="Oldest singer in the shop?", sql="SELECT max(age) FROM singer"),
    "not an object",
    synsql_record(cot=None, question="Names?", sql="SELECT name FROM singer"),
]


def test_fields_map_to_the_common_record_and_bad_records_are_rejected(tmp_path):
    loaded = load_synsql(write_synsql_folder(tmp_path / "synsql", RECORDS))
    records = list(loaded.records())

    examples = [r for kind, r in records if kind == "example"]
    rejects = {r["id"]: r for kind, r in records if kind == "reject"}
    assert [e["id"] for e in examples] == ["synsql/train/0", "synsql/train/1", "synsql/train/5", "synsql/train/7"]
    first = examples[0]
    assert (first["evidence"], first["difficulty"], first["cot"]) == (
        "A singer is a row of singer.", "Moderate", "Count the rows of singer.")
    assert first["gold_sql"] == "SELECT count(*) FROM singer"
    assert examples[3]["cot"] is None
    assert rejects["synsql/train/2"]["reason"] == "missing_database"
    assert rejects["synsql/train/3"] == {"id": "synsql/train/3", "stage": "raw_benchmarks", "reason": "bad_record",
                                         "detail": "missing or empty field: question"}
    assert rejects["synsql/train/4"]["reason"] == "gold_parse_error"
    assert rejects["synsql/train/6"]["reason"] == "bad_record"
    assert loaded.input_count == 8 == len(examples) + len(rejects)
    # Filled once the stream is read: databases and schemas of the db_ids kept only.
    assert set(loaded.databases) == {"music", "shop"}
    assert loaded.schemas["music"] == schema_from_spider_tables(MUSIC_TABLES_ENTRY)
    assert loaded.schemas["shop"]["db_id"] == "shop"  # no tables.json entry: SQLite's own schema


def test_cot_only_rejects_records_without_a_chain_of_thought(tmp_path):
    loaded = load_synsql(write_synsql_folder(tmp_path / "synsql", RECORDS), cot_only=True)
    records = list(loaded.records())

    no_cot = sorted(r["id"] for kind, r in records if kind == "reject" and r["reason"] == "no_cot")
    assert no_cot == ["synsql/train/1", "synsql/train/7"]
    assert all(r["cot"] for kind, r in records if kind == "example")
    assert loaded.input_count == len(records) == 8


def test_nothing_is_read_before_the_stream_and_nothing_is_kept_in_lists(tmp_path):
    root = write_synsql_folder(tmp_path / "synsql", [synsql_record()] * 50)
    loaded = load_synsql(root)
    assert loaded.input_count == 0 and not loaded.databases
    for _ in loaded.records():
        pass
    assert loaded.input_count == 50
    assert loaded.examples == [] and loaded.rejects == []  # handed on, not held


def test_raw_writes_the_stream_and_counts_reconcile_with_max_samples(tmp_path):
    root = write_synsql_folder(tmp_path / "synsql", [synsql_record(cot=""), *[synsql_record(question=f"q{i}?") for i in range(5)]])
    loaded = load_synsql(root, cot_only=True, max_samples=3)
    loaded.weight = 2.5
    out = tmp_path / "raw"

    stats = write_raw_benchmarks([loaded], out)

    assert (stats["input"], stats["kept"], stats["rejected"], stats["skipped_max_samples"]) == (4, 3, 1, 2)
    assert stats["benchmarks"]["synsql"] == {"input": 4, "kept": 3, "rejected": 1, "splits": {"train": 3},
                                             "skipped_max_samples": 2, "weight": 2.5}
    assert stats["rejects_by_reason"] == {"no_cot": 1}
    assert [e["id"] for e in read_jsonl(out / "examples.jsonl")] == [f"synsql/train/{n}" for n in (1, 2, 3)]
    assert sorted(p.name for p in (out / "databases").iterdir()) == ["music.sqlite"]  # once, for 3 examples
    assert read_json(out / "stats.json") == stats


def test_a_truncated_data_file_stops_the_load(tmp_path):
    text = json.dumps([synsql_record()] * 3, indent=2)[:-40]
    loaded = load_synsql(write_synsql_folder(tmp_path / "synsql", text), split="extra")
    with pytest.raises(TruncatedJSONError, match=r"data.json: truncated JSON array: the file ends at byte \d+"):
        list(loaded.records())


def test_missing_data_file_names_the_path(tmp_path):
    with pytest.raises(FileNotFoundError, match="data.json"):
        load_synsql(tmp_path)
