"""trajectories as Dagster runs it: the mix config reaches the train split, and a typo in it fails the run."""

import json

import dagster as dg

from t2s_pipeline.assets.golden_pairs import golden_pairs
from t2s_pipeline.assets.raw_benchmarks import raw_benchmarks
from t2s_pipeline.assets.trajectories import trajectories
from t2s_pipeline.records import read_jsonl
from t2s_pipeline.resources.storage import DirectoryIOManager, current_version_path


def _materialize(tmp_path, monkeypatch, mix):
    monkeypatch.setenv("T2S_STORAGE", str(tmp_path / "storage"))
    return dg.materialize(
        [raw_benchmarks, golden_pairs, trajectories],
        resources={"io_manager": DirectoryIOManager()},
        run_config={"ops": {"golden_pairs": {"config": {"workers": 1}}, "trajectories": {"config": {"mix": mix}}}},
        instance=dg.DagsterInstance.ephemeral(),
        raise_on_error=False,
    )


def test_a_capped_source_gives_that_many_train_questions(tmp_path, monkeypatch):
    result = _materialize(tmp_path, monkeypatch, [{"benchmark": "embedded", "max_samples": 50}])
    assert result.success
    folder = current_version_path(tmp_path / "storage", "trajectories")
    train = list(read_jsonl(folder / "train.jsonl"))
    assert len(train) == 50 and len({s["meta"]["id"] for s in train}) == 50
    stats = json.loads((folder / "stats.json").read_text())
    assert stats["mix"]["embedded"]["kept"] == stats["mix"]["embedded"]["mixed"] == 50
    metadata = result.asset_materializations_for_node("trajectories")[0].metadata
    assert metadata["mix"].value["embedded"]["mixed"] == 50


def test_a_mix_naming_an_unloaded_benchmark_fails_with_its_name(tmp_path, monkeypatch):
    result = _materialize(tmp_path, monkeypatch, [{"benchmark": "birdd", "weight": 2.0}])
    assert not result.success
    failure = result.failure_data_for_node("trajectories")
    assert "birdd" in str(failure.error) and "embedded" in str(failure.error)
