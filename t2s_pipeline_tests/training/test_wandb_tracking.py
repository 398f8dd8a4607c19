"""W&B tracking: off by default, offline unless asked, the key only as dg.EnvVar; a two-process training run
logs one offline W&B run with its losses (and, on S3 storage, rank 0 uploads each complete checkpoint)."""

import json
import re
import socket

import dagster as dg
import pytest
import yaml

from t2s_pipeline_tests.training.tiny import LORA_ADAPTER_UPSTREAM as UPSTREAM
from t2s_pipeline.assets.lora_adapter import lora_adapter
from t2s_pipeline.resources.launcher import AccelerateLauncher
from t2s_pipeline.resources.s3_store import S3Store
from t2s_pipeline.resources.storage import DirectoryIOManager, current_version_path
from t2s_pipeline.resources.tracking import WandbTracking
from t2s_pipeline_tests.resources.rclone_s3 import BUCKET, s3  # noqa: F401 (s3: a fixture)

RECIPE = dict(lora_r=4, lora_alpha=8, learning_rate=1e-2, warmup_steps=0, max_steps=4, save_steps=2,
              save_total_limit=3, per_device_train_batch_size=2, logging_steps=1, seed=0)


def test_tracking_is_off_unless_turned_on_and_offline_unless_asked(tmp_path, monkeypatch):
    from t2s_pipeline.definitions import resources

    for name in ("T2S_WANDB", "WANDB_API_KEY", "WANDB_MODE", "T2S_ENV"):
        monkeypatch.delenv(name, raising=False)
    assert resources()["tracking"].enabled is False
    assert WandbTracking().training_env("run") == {}

    monkeypatch.setenv("T2S_WANDB", "1")
    monkeypatch.setenv("WANDB_API_KEY", "secret-wandb-key")
    tracking = resources()["tracking"]
    assert tracking.enabled and tracking.mode == "offline"
    assert isinstance(tracking.api_key, dg.EnvVar) and tracking.api_key == "WANDB_API_KEY"  # the name only
    assert "secret-wandb-key" not in json.dumps(tracking.model_dump(), default=str)
    assert "wandb_resource" not in resources()  # dagster-wandb's resource logs in: only offered online

    env = WandbTracking(enabled=True, dir=str(tmp_path / "wb")).training_env("lora_adapter-1")
    assert env["WANDB_MODE"] == "offline" and env["WANDB_DIR"] == str(tmp_path / "wb")
    assert env["WANDB_CONFIG_DIR"].startswith(str(tmp_path / "wb")) and "WANDB_API_KEY" not in env
    with pytest.raises(ValueError, match="mode 'online' needs api_key"):
        WandbTracking(enabled=True, mode="online").training_env("x")
    with pytest.raises(ValueError, match="expected one of offline, online"):
        WandbTracking(enabled=True, mode="cloud").training_env("x")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _history(run_file) -> list[dict]:
    """The metrics rows of an offline W&B run file."""
    from wandb.proto import wandb_internal_pb2
    from wandb.sdk.internal import datastore

    store = datastore.DataStore()
    store.open_for_scan(str(run_file))
    rows = []
    while (data := store.scan_data()) is not None:
        record = wandb_internal_pb2.Record()
        record.ParseFromString(data)
        if record.WhichOneof("record_type") == "history":
            rows.append({item.key or "/".join(item.nested_key): json.loads(item.value_json)
                         for item in record.history.item})
    return rows


@pytest.mark.slow
def test_a_two_process_run_logs_one_offline_wandb_run_and_uploads_complete_checkpoints(
        s3, tmp_path, tiny_base_dir, tokenized_dir, trajectories_dir, monkeypatch):
    url = f"s3://{BUCKET}/wandb"
    (tmp_path / "raw" / "databases").mkdir(parents=True)
    for key, folder in (("base_model", tiny_base_dir), ("tokenized_splits", tokenized_dir),
                        ("trajectories", trajectories_dir), ("raw_benchmarks", tmp_path / "raw")):
        S3Store(url).publish([key], folder, "upstream0", 3, None, None)
    preset = tmp_path / "recipe.yaml"
    preset.write_text(yaml.safe_dump({"model": "tiny", "training": RECIPE}))
    monkeypatch.setenv("T2S_STORAGE", url)
    wandb_dir = tmp_path / "wandb"
    launcher = AccelerateLauncher(launch_profile="ddp", num_processes=2, main_process_port=_free_port(),
                                  extra_env={"OMP_NUM_THREADS": "1"})
    instance = dg.DagsterInstance.ephemeral()
    result = dg.materialize(
        [lora_adapter, *UPSTREAM], selection=[lora_adapter],
        resources={"io_manager": DirectoryIOManager(root=url), "launcher": launcher,
                   "tracking": WandbTracking(enabled=True, dir=str(wandb_dir))},
        run_config={"ops": {"lora_adapter": {"config": {"preset": str(preset)}}}}, instance=instance)
    assert result.success
    metadata = result.get_asset_materialization_events()[0].materialization.metadata
    assert metadata["world_size"].value == 2 and metadata["wandb_dir"].value == str(wandb_dir)

    [run_dir] = (wandb_dir / "wandb").glob("offline-run-*")  # one run for two processes: rank 0 only
    [run_file] = run_dir.glob("run-*.wandb")
    logged = {row["train/global_step"]: row["train/loss"] for row in _history(run_file) if "train/loss" in row}
    artifact = current_version_path(url, "lora_adapter")
    losses = {row["step"]: row["loss"] for row in map(json.loads, (artifact / "loss_log.jsonl").open())
              if "loss" in row}
    assert logged == pytest.approx(losses) and sorted(logged) == [1, 2, 3, 4]

    # Rank 0 uploaded each checkpoint once every rank had written its files (both RNG states included).
    logs = " ".join(str(entry) for entry in instance.all_logs(result.run_id))
    for name in ("checkpoint-2", "checkpoint-4"):
        kept = [p for p in (artifact / "checkpoints" / name).rglob("*") if p.is_file()]
        assert (artifact / "checkpoints" / name / "rng_state_1.pth") in kept
        assert re.search(rf"uploaded {name} \({len(kept)} files\)", logs), name
    assert metadata["checkpoints_uploaded"].value == 2
