"""training/stage.py: the checkpoint folder both training stages keep between runs, and the adapter check."""

from __future__ import annotations

from pathlib import Path

import pytest

from t2s_pipeline.training.stage import StageCheckpoints, check_adapter_written, describe_stop


def test_the_folder_is_keyed_by_stage_config_and_input_version_names(tmp_path):
    make = lambda stage, training, inputs: StageCheckpoints.for_run(tmp_path, stage, training, inputs)
    a = make("lora_adapter", {"lr": 1, "steps": 2}, [Path("/x/base_model/v1"), Path("/y/splits/v2")])
    assert a.local.parent == tmp_path / ".checkpoints" / "lora_adapter" and a.store is None
    assert make("lora_adapter", {"steps": 2, "lr": 1}, [Path("/elsewhere/v1"), Path("/z/v2")]).local == a.local
    assert make("rl_adapter", {"lr": 1, "steps": 2}, [Path("v1"), Path("v2")]).local.name == a.local.name
    assert make("lora_adapter", {"lr": 2, "steps": 2}, [Path("v1"), Path("v2")]).local != a.local
    assert make("lora_adapter", {"lr": 1, "steps": 2}, [Path("v1"), Path("v3")]).local != a.local
    with_store = StageCheckpoints.for_run(tmp_path, "rl_adapter", {}, [], store_prefix="s3://b/rl_adapter/checkpoints")
    assert with_store.store == f"s3://b/rl_adapter/checkpoints/{with_store.local.name}"
    assert with_store.run_fields(True) == {"checkpoint_dir": str(with_store.local), "resume": True,
                                           "upload_checkpoints_to": with_store.store}


def test_finish_removes_the_local_checkpoints_and_the_store(tmp_path):
    checkpoints = StageCheckpoints.for_run(tmp_path, "rl_adapter", {}, [], store_prefix=str(tmp_path / "store"))
    (checkpoints.local / "checkpoint-1").mkdir(parents=True)
    Path(checkpoints.store, "checkpoint-1").mkdir(parents=True)
    checkpoints.finish()
    assert not checkpoints.local.exists() and not Path(checkpoints.store).exists()


def test_a_run_without_an_adapter_fails_and_an_early_stop_warns(tmp_path):
    with pytest.raises(RuntimeError, match="without writing an adapter"):
        check_adapter_written(tmp_path, {})
    stopped = {"stopped_reason": "nan_or_inf", "bad_step": 3, "bad_value": {"loss": "nan"}}
    with pytest.raises(RuntimeError, match="nan_or_inf at step 3"):
        check_adapter_written(tmp_path, stopped)
    (tmp_path / "adapter").mkdir()
    (tmp_path / "adapter" / "adapter_config.json").write_text("{}")
    assert check_adapter_written(tmp_path, {}) is None
    assert "nan_or_inf at step 3" in check_adapter_written(tmp_path, {**stopped, "result_checkpoint": "checkpoint-2"})
    assert "kept checkpoint-2" in describe_stop({**stopped, "result_checkpoint": "checkpoint-2"})
