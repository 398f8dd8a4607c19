"""write_raw_benchmarks: one directory for all sources, counts that reconcile, databases once."""

from __future__ import annotations

import filecmp

import pytest

from t2s_pipeline.benchmarks.raw import database_path, read_schemas, write_raw_benchmarks
from t2s_pipeline.benchmarks.spider import load_spider
from t2s_pipeline.records import read_json, read_jsonl
from t2s_pipeline_tests.benchmarks.test_spider import make_database, write_spider_folder

GOOD = {"db_id": "music", "question": "How many singers?", "query": "SELECT count(*) FROM singer"}
GHOST = {"db_id": "ghost", "question": "Who?", "query": "SELECT 1"}
OLDEST = {"db_id": "music", "question": "Oldest singer?", "query": "SELECT max(age) FROM singer"}


def test_two_sources_share_a_database(tmp_path):
    a = load_spider(write_spider_folder(tmp_path / "a", [GOOD, GHOST]), benchmark="a")
    b = load_spider(write_spider_folder(tmp_path / "b", [OLDEST, {**GOOD, "question": "Singers?"}]), benchmark="b")
    # Same db_id, same contents in both sources: copied once.
    assert filecmp.cmp(a.databases["music"], b.databases["music"], shallow=False)
    out = tmp_path / "raw"

    stats = write_raw_benchmarks([a, b], out)

    assert stats["input"] == 4 == stats["kept"] + stats["rejected"]
    assert stats["kept"] == 3 and stats["rejected"] == 1
    assert stats["rejects_by_reason"] == {"missing_database": 1}
    assert stats["benchmarks"]["a"] == {"input": 2, "kept": 1, "rejected": 1, "splits": {"dev": 1},
                                        "skipped_max_samples": 0, "weight": 1.0}
    assert stats["benchmarks"]["b"]["kept"] == 2
    assert stats["databases"] == 1
    assert read_json(out / "stats.json") == stats
    assert [e["id"] for e in read_jsonl(out / "examples.jsonl")] == ["a/dev/0", "b/dev/0", "b/dev/1"]
    assert [r["id"] for r in read_jsonl(out / "rejects.jsonl")] == ["a/dev/1"]
    assert sorted(p.name for p in (out / "databases").iterdir()) == ["music.sqlite"]
    assert database_path(out, "music") == out / "databases" / "music.sqlite"
    assert read_schemas(out)["music"]["db_id"] == "music"


def test_exact_duplicates_are_rejected_naming_the_first_which_is_kept(tmp_path):
    # Same db_id, question and SQL, within a source and across sources; a change of text is no duplicate.
    a = load_spider(write_spider_folder(tmp_path / "a", [GOOD, OLDEST, GOOD]), benchmark="a")
    b = load_spider(write_spider_folder(tmp_path / "b", [OLDEST, {**GOOD, "query": "SELECT COUNT(*) FROM singer"},
                                                         {**GOOD, "question": "How many singers?!"}]), benchmark="b")
    out = tmp_path / "raw"

    stats = write_raw_benchmarks([a, b], out)

    assert [e["id"] for e in read_jsonl(out / "examples.jsonl")] == ["a/dev/0", "a/dev/1", "b/dev/1", "b/dev/2"]
    assert [(r["id"], r["reason"], r["detail"]) for r in read_jsonl(out / "rejects.jsonl")] == [
        ("a/dev/2", "duplicate", "same db_id, question and SQL as a/dev/0"),
        ("b/dev/0", "duplicate", "same db_id, question and SQL as a/dev/1")]
    assert (stats["input"], stats["kept"], stats["rejected"]) == (6, 4, 2)
    assert stats["rejects_by_reason"] == {"duplicate": 2}
    assert stats["benchmarks"]["b"]["rejected"] == 1


def test_conflicting_databases_raise_naming_both(tmp_path):
    a = load_spider(write_spider_folder(tmp_path / "a", [GOOD]), benchmark="a")
    root_b = write_spider_folder(tmp_path / "b", [GOOD], db_ids=())
    make_database(root_b / "database" / "music" / "music.sqlite", singers=[("Zed", 99)])
    b = load_spider(root_b, benchmark="b")

    with pytest.raises(ValueError) as raised:
        write_raw_benchmarks([a, b], tmp_path / "raw")
    assert str(a.databases["music"]) in str(raised.value) and str(b.databases["music"]) in str(raised.value)


def test_same_benchmark_twice_is_refused(tmp_path):
    a = load_spider(write_spider_folder(tmp_path / "a", [GOOD]))
    with pytest.raises(ValueError, match="ids occur twice"):
        write_raw_benchmarks([a, a], tmp_path / "raw")


def test_rewrite_leaves_no_stale_databases(tmp_path):
    out = tmp_path / "raw"
    write_raw_benchmarks([load_spider(write_spider_folder(tmp_path / "a", [GOOD]))], out)
    other = dict(GOOD, db_id="other")
    write_raw_benchmarks([load_spider(write_spider_folder(tmp_path / "b", [other], db_ids=("other",)))], out)
    assert sorted(p.name for p in (out / "databases").iterdir()) == ["other.sqlite"]
    with pytest.raises(FileNotFoundError, match="music"):
        database_path(out, "music")
