"""raw_benchmarks as Dagster runs it: bad records are rejected and the run goes on; a missing folder or an
invalid source fails it; BIRD and JSONL sources load next to each other with their weights."""

import json

import dagster as dg

from t2s_pipeline.assets.raw_benchmarks import raw_benchmarks
from t2s_pipeline.records import read_jsonl
from t2s_pipeline.resources.storage import DirectoryIOManager, current_version_path
from t2s_pipeline_tests.benchmarks.test_bird import GOOD_DEV, write_bird_folder
from t2s_pipeline_tests.benchmarks.test_jsonl import LINES, write_jsonl
from t2s_pipeline_tests.benchmarks.test_spider import write_spider_folder


def _materialize(tmp_path, monkeypatch, config):
    monkeypatch.setenv("T2S_STORAGE", str(tmp_path / "storage"))
    return dg.materialize(
        [raw_benchmarks],
        resources={"io_manager": DirectoryIOManager()},
        run_config={"ops": {"raw_benchmarks": {"config": config}}},
        instance=dg.DagsterInstance.ephemeral(),
        raise_on_error=False,
    )


# One good record, then: malformed JSON, no question, a db_id without a database, unparsable gold SQL.
DEV_JSON = """[
  {"db_id": "music", "question": "How many singers are there?", "query": "SELECT count(*) FROM singer"},
  {"db_id": "music", "question": "broken, "query": "SELECT 1"},
  {"db_id": "music", "query": "SELECT name FROM singer"},
  {"db_id": "ghost", "question": "Who haunts?", "query": "SELECT 1"},
  {"db_id": "music", "question": "Names?", "query": "SELEC name FROM singer"}
]"""


def test_bad_spider_records_are_rejected_and_the_run_goes_on(tmp_path, monkeypatch):
    root = write_spider_folder(tmp_path / "spider", DEV_JSON)
    result = _materialize(tmp_path, monkeypatch, {"embedded": False, "spider_roots": [str(root)]})
    assert result.success
    folder = current_version_path(tmp_path / "storage", "raw_benchmarks")
    stats = json.loads((folder / "stats.json").read_text())
    reasons = {r["reason"] for r in read_jsonl(folder / "rejects.jsonl")}
    assert {"bad_record", "missing_database", "gold_parse_error"} <= reasons
    assert (stats["input"], stats["kept"], stats["rejected"]) == (5, 1, 4)
    metadata = result.asset_materializations_for_node("raw_benchmarks")[0].metadata
    assert metadata["rejected"].value == stats["rejected"] > 0


def test_missing_benchmark_folder_fails_the_asset_naming_the_path(tmp_path, monkeypatch):
    missing = tmp_path / "no_such_spider"
    result = _materialize(tmp_path, monkeypatch, {"embedded": False, "spider_roots": [str(missing)]})
    assert not result.success
    failure = result.failure_data_for_node("raw_benchmarks")
    assert str(missing) in str(failure.error.cause.message if failure.error.cause else failure.error.message)


def test_bird_and_jsonl_sources_materialize_with_weights(tmp_path, monkeypatch):
    bird = write_bird_folder(tmp_path / "bird", "dev", [GOOD_DEV, dict(GOOD_DEV, db_id="ghost")])
    jsonl = write_jsonl(tmp_path / "mix.jsonl", LINES)
    sources = [
        {"kind": "bird", "path": str(bird), "weight": 2.0, "splits": {"dev": "test"}},
        {"kind": "jsonl", "path": str(jsonl), "name": "mix", "max_samples": 2},
    ]
    result = _materialize(tmp_path, monkeypatch, {"embedded": False, "sources": sources})
    assert result.success
    folder = current_version_path(tmp_path / "storage", "raw_benchmarks")
    stats = json.loads((folder / "stats.json").read_text())
    assert stats["benchmarks"]["bird"] == {"input": 2, "kept": 1, "rejected": 1, "splits": {"test": 1},
                                           "skipped_max_samples": 0, "weight": 2.0}
    mix = stats["benchmarks"]["mix"]
    assert (mix["kept"], mix["weight"]) == (2, 1.0) and mix["input"] + mix["skipped_max_samples"] == len(LINES) - 1
    assert stats["input"] == stats["kept"] + stats["rejected"]
    kept = list(read_jsonl(folder / "examples.jsonl"))
    assert [e["id"] for e in kept] == ["bird/test/0", "mix/train/0", "mix/train/1"]
    assert {p.stem for p in (folder / "databases").iterdir()} == {"music", kept[1]["db_id"]}  # mix's two share one
    assert not (folder / "_sources").exists()
    metadata = result.asset_materializations_for_node("raw_benchmarks")[0].metadata
    assert "bird | 2.0" in metadata["weights"].value


def test_an_invalid_source_fails_the_asset_naming_the_field(tmp_path, monkeypatch):
    result = _materialize(tmp_path, monkeypatch, {"embedded": False, "sources": [{"kind": "bird", "path": "x",
                                                                                 "cot_only": True}]})
    assert not result.success
    failure = result.failure_data_for_node("raw_benchmarks")
    assert "cot_only" in str(failure.error.cause.message if failure.error.cause else failure.error.message)


def test_golden_pairs_carries_every_load_reject_so_counts_reconcile(tmp_path, monkeypatch):
    from t2s_pipeline.assets.golden_pairs import golden_pairs

    duplicate = '  {"db_id": "music", "question": "How many singers are there?", "query": "SELECT count(*) FROM singer"}\n]'
    root = write_spider_folder(tmp_path / "spider", DEV_JSON[:-1] + "," + duplicate[1:])
    monkeypatch.setenv("T2S_STORAGE", str(tmp_path / "storage"))
    result = dg.materialize(
        [raw_benchmarks, golden_pairs], resources={"io_manager": DirectoryIOManager()},
        run_config={"ops": {"raw_benchmarks": {"config": {"embedded": False, "spider_roots": [str(root)]}},
                            "golden_pairs": {"config": {"workers": 1}}}},
        instance=dg.DagsterInstance.ephemeral())
    folder = current_version_path(tmp_path / "storage", "golden_pairs")
    stats = json.loads((folder / "stats.json").read_text())
    assert (stats["input"], stats["kept"], stats["rejected"], stats["rejected_at_load"]) == (6, 1, 5, 5)
    assert stats["rejects_by_reason"] == {"bad_record": 2, "missing_database": 1, "gold_parse_error": 1, "duplicate": 1}
    ids = {r["id"] for r in read_jsonl(folder / "rejects.jsonl")} | {p["id"] for p in read_jsonl(folder / "pairs.jsonl")}
    assert ids == {f"spider/dev/{n}" for n in range(6)}
    metadata = result.asset_materializations_for_node("golden_pairs")[0].metadata
    assert (metadata["input"].value, metadata["rejected_at_load"].value) == (6, 5)


def test_a_truncated_split_file_fails_the_asset_naming_file_and_byte(tmp_path, monkeypatch):
    root = write_spider_folder(tmp_path / "spider", DEV_JSON[:150])
    result = _materialize(tmp_path, monkeypatch, {"embedded": False, "spider_roots": [str(root)]})
    assert not result.success
    failure = result.failure_data_for_node("raw_benchmarks")
    message = str(failure.error.cause.message if failure.error.cause else failure.error.message)
    assert f"{root / 'dev.json'}: truncated JSON array: the file ends at byte 150" in message
