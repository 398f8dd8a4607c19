"""The lora_adapter asset in Dagster (a real `accelerate launch` subprocess through Pipes): an injected NaN
fails the stability check naming the step; re-materializing after an interrupted run resumes it."""

from __future__ import annotations

import json
import shutil

import dagster as dg
import pytest
import yaml

from t2s_pipeline_tests.training.tiny import LORA_ADAPTER_UPSTREAM as UPSTREAM, publish_lora_adapter_upstream
from t2s_pipeline.assets.lora_adapter import lora_adapter, lora_adapter_training_stable, resumable_checkpoint_dir
from t2s_pipeline.resources.launcher import AccelerateLauncher
from t2s_pipeline.resources.storage import DirectoryIOManager, current_version_path
from t2s_pipeline.resources.tracking import WandbTracking
from t2s_pipeline.training.config import TrainConfig, load_preset
from t2s_pipeline.training.pipes import _LocalPipes
from t2s_pipeline.training.train import train

RECIPE = dict(lora_r=4, lora_alpha=8, learning_rate=1e-2, warmup_steps=0, max_steps=6, save_steps=2,
              save_total_limit=3, per_device_train_batch_size=2, logging_steps=1, seed=0)


def _materialize(root, preset_path, monkeypatch):
    monkeypatch.setenv("T2S_STORAGE", str(root))
    return dg.materialize(
        [lora_adapter, lora_adapter_training_stable, *UPSTREAM],
        selection=[lora_adapter],
        resources={"io_manager": DirectoryIOManager(root=str(root)), "launcher": AccelerateLauncher(),
                   "tracking": WandbTracking()},
        run_config={"ops": {"lora_adapter": {"config": {"preset": str(preset_path)}}}},
        instance=dg.DagsterInstance.ephemeral(),
        raise_on_error=False,
    )


@pytest.fixture
def storage(tmp_path, tiny_base_dir, tokenized_dir, trajectories_dir):
    return publish_lora_adapter_upstream(tmp_path / "storage", tiny_base_dir, tokenized_dir, trajectories_dir, tmp_path)


def _preset(tmp_path, **values):
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump({"model": "tiny", "training": {**RECIPE, **values}}))
    return path


@pytest.mark.slow
def test_injected_nan_keeps_the_last_good_checkpoint_and_fails_the_check(storage, tmp_path, monkeypatch):
    result = _materialize(storage, _preset(tmp_path, debug_inject_nan_at_step=5), monkeypatch)
    assert result.success
    [event] = result.get_asset_materialization_events()
    metadata = event.materialization.metadata
    assert metadata["stopped_reason"].value == "nan_or_inf" and metadata["bad_step"].value == 5
    assert metadata["result_checkpoint"].value == "checkpoint-4"
    [check] = result.get_asset_check_evaluations()
    assert check.passed is False
    assert "step 5" in check.description and "loss" in check.description


@pytest.mark.slow
def test_rematerializing_after_an_interrupted_run_resumes_it(storage, tmp_path, tiny_base_dir, tokenized_dir,
                                                             monkeypatch):
    reference = train(str(tiny_base_dir), str(tokenized_dir), str(tmp_path / "ref"), TrainConfig(**RECIPE),
                      _LocalPipes(quiet=True))
    preset = _preset(tmp_path)
    monkeypatch.setenv("T2S_STORAGE", str(storage))
    # What a run killed after step 2 leaves behind, where the asset keeps checkpoints of this recipe.
    stable = resumable_checkpoint_dir(load_preset(str(preset)), current_version_path(storage, "base_model"),
                                      current_version_path(storage, "tokenized_splits"))
    shutil.copytree(tmp_path / "ref" / "checkpoints" / "checkpoint-2", stable / "checkpoint-2")
    result = _materialize(storage, preset, monkeypatch)
    assert result.success
    metadata = result.get_asset_materialization_events()[0].materialization.metadata
    assert metadata["resumed_from"].value == "checkpoint-2"
    assert metadata["steps"].value == 6
    assert metadata["final_loss"].value == pytest.approx(reference["final_loss"], rel=1e-3)  # shown rounded
    stored = json.loads((current_version_path(storage, "lora_adapter") / "metrics.json").read_text())
    assert stored["final_loss"] == pytest.approx(reference["final_loss"], abs=1e-4)
    assert not stable.exists()  # a finished run leaves nothing to resume
