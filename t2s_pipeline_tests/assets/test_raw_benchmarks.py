"""raw_benchmarks as Dagster runs it: bad records are rejected and the run goes on; a missing folder fails it."""

import json

import dagster as dg
import pytest

from t2s_pipeline.assets.raw_benchmarks import raw_benchmarks
from t2s_pipeline.records import read_jsonl
from t2s_pipeline.resources.storage import DirectoryIOManager, current_version_path
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
