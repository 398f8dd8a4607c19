"""Checkpoints uploaded to the artifact store as training saves them, and fetched back to resume a run whose
machine was lost: the store format on a local folder (fast), then a real training against `rclone serve s3`."""

import json
import shutil

import dagster as dg
import fsspec
import pytest
import yaml
from dagster_aws.s3 import S3Resource

from t2s_pipeline_tests.training.tiny import LORA_ADAPTER_UPSTREAM as UPSTREAM
from t2s_pipeline.assets.lora_adapter import lora_adapter, resumable_checkpoint_dir
from t2s_pipeline.resources.launcher import AccelerateLauncher
from t2s_pipeline.resources.s3_io_manager import S3DirectoryIOManager
from t2s_pipeline.resources.s3_store import S3Store
from t2s_pipeline.resources.storage import current_version_path
from t2s_pipeline.resources.tracking import WandbTracking
from t2s_pipeline.training.checkpoint_upload import (
    fetch_checkpoint, fetch_newer_checkpoint, remove_checkpoint, remove_store, upload_checkpoint,
    uploaded_checkpoints,
)
from t2s_pipeline.training.config import TrainConfig, load_preset
from t2s_pipeline.training.pipes import _LocalPipes
from t2s_pipeline.training.checkpoints import checkpoint_problems
from t2s_pipeline.training.train import train
from t2s_pipeline_tests.resources.rclone_s3 import BUCKET, KEY_ID, SECRET, s3  # noqa: F401 (s3: a fixture)

RECIPE = dict(lora_r=4, lora_alpha=8, learning_rate=1e-2, warmup_steps=0, max_steps=4, save_steps=2,
              save_total_limit=3, per_device_train_batch_size=2, logging_steps=1, seed=0)


def fake_checkpoint(folder, step: int, content: str = "x"):
    path = folder / f"checkpoint-{step}"
    (path / "sub").mkdir(parents=True)
    (path / "optimizer.pt").write_text(content * 100)
    (path / "sub" / "state.json").write_text(json.dumps({"step": step}))
    return path


def test_upload_writes_the_manifest_last_and_readers_skip_partial_uploads(tmp_path):
    store = str(tmp_path / "store")
    local = tmp_path / "local"
    manifest = upload_checkpoint(fake_checkpoint(local, 2), store)
    assert [f["path"] for f in manifest["files"]] == ["optimizer.pt", "sub/state.json"]
    assert (tmp_path / "store" / "manifests" / "checkpoint-2.json").is_file()
    # A partial upload of checkpoint-4 (its files, no manifest yet) is never trusted.
    shutil.copytree(fake_checkpoint(local, 4), tmp_path / "store" / "checkpoint-4")
    assert [m["checkpoint"] for m in uploaded_checkpoints(store)] == ["checkpoint-2"]

    target = tmp_path / "resume"
    got = fetch_newer_checkpoint(store, -1, target)
    assert got == target / "checkpoint-2" and (got / "sub" / "state.json").read_text() == '{"step": 2}'
    assert fetch_newer_checkpoint(store, 2, target) is None  # the local one is as new: nothing fetched
    assert sorted(p.name for p in target.iterdir()) == ["checkpoint-2"]  # no staging left behind

    (tmp_path / "store" / "checkpoint-2" / "optimizer.pt").write_text("corrupted")
    with pytest.raises(OSError, match="optimizer.pt does not match its manifest"):
        fetch_checkpoint(store, uploaded_checkpoints(store)[0], tmp_path / "again")
    assert not (tmp_path / "again" / "checkpoint-2").exists()

    remove_checkpoint(store, "checkpoint-2")
    assert uploaded_checkpoints(store) == [] and not (tmp_path / "store" / "checkpoint-2").exists()
    remove_store(store)
    assert not (tmp_path / "store").exists()


@pytest.mark.slow
def test_checkpoints_go_to_s3_as_saved_and_a_lost_machine_resumes_from_them(
        s3, tmp_path, tiny_base_dir, tokenized_dir, trajectories_dir, monkeypatch):
    url = f"s3://{BUCKET}/ckpt"
    (tmp_path / "raw" / "databases").mkdir(parents=True)
    for key, folder in (("base_model", tiny_base_dir), ("tokenized_splits", tokenized_dir),
                        ("trajectories", trajectories_dir), ("raw_benchmarks", tmp_path / "raw")):
        S3Store(url).publish([key], folder, "upstream0", 3, None, None)
    preset = tmp_path / "recipe.yaml"
    preset.write_text(yaml.safe_dump({"model": "tiny", "training": RECIPE}))
    # The store the asset uses for this recipe on these inputs: keyed like the local checkpoint folder.
    local_ckpts = resumable_checkpoint_dir(load_preset(str(preset)), current_version_path(url, "base_model"),
                                           current_version_path(url, "tokenized_splits"))
    store = f"{url}/lora_adapter/checkpoints/{local_ckpts.name}"

    # A first machine trains, uploading each checkpoint as the Trainer saves it.
    first = train(str(tiny_base_dir), str(tokenized_dir), str(tmp_path / "first"), TrainConfig(**RECIPE),
                  _LocalPipes(quiet=True), checkpoint_dir=str(local_ckpts), upload_checkpoints_to=store)
    assert first["checkpoints_uploaded"] == 2
    uploaded = {m["checkpoint"]: m for m in uploaded_checkpoints(store)}
    assert sorted(uploaded) == ["checkpoint-2", "checkpoint-4"]
    on_server = s3.data_dir / BUCKET / "ckpt" / "lora_adapter" / "checkpoints" / local_ckpts.name
    for name, manifest in uploaded.items():
        assert sorted(f["path"] for f in manifest["files"]) == \
            sorted(p.relative_to(local_ckpts / name).as_posix() for p in (local_ckpts / name).rglob("*") if p.is_file())
        assert (on_server / "manifests" / f"{name}.json").is_file()

    # That machine is lost while it uploads checkpoint-4 (files there, no manifest), with its local disk.
    # (Through S3, not on the server's disk: rclone caches its listings.)
    fsspec.filesystem("s3", skip_instance_cache=True).rm(f"{store}/manifests/checkpoint-4.json")
    shutil.rmtree(local_ckpts)
    # The next materialization, on a fresh machine, takes S3 settings only from a dagster-aws S3Resource.
    monkeypatch.setenv("T2S_LOCAL_DIR", str(tmp_path / "second-machine"))
    monkeypatch.setenv("T2S_STORAGE", url)
    monkeypatch.setenv("T2S_TEST_KEY", KEY_ID)
    monkeypatch.setenv("T2S_TEST_SECRET", SECRET)
    for name in ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name)
    io_manager = S3DirectoryIOManager(root=url, s3=S3Resource(
        endpoint_url=s3.endpoint, region_name="us-east-1", aws_access_key_id=dg.EnvVar("T2S_TEST_KEY"),
        aws_secret_access_key=dg.EnvVar("T2S_TEST_SECRET")))
    instance = dg.DagsterInstance.ephemeral()
    result = dg.materialize(
        [lora_adapter, *UPSTREAM], selection=[lora_adapter],
        resources={"io_manager": io_manager, "launcher": AccelerateLauncher(), "tracking": WandbTracking()},
        run_config={"ops": {"lora_adapter": {"config": {"preset": str(preset)}}}}, instance=instance)
    assert result.success
    metadata = result.get_asset_materialization_events()[0].materialization.metadata
    assert metadata["resumed_from"].value == "checkpoint-2"  # fetched from S3; the partial one skipped
    assert metadata["steps"].value == 4 and metadata["checkpoints_uploaded"].value == 1
    options = {"endpoint_url": s3.endpoint, "key": KEY_ID, "secret": SECRET}  # the EnvVars resolve only in a run
    stored = json.loads((current_version_path(url, "lora_adapter", options) / "metrics.json").read_text())
    assert stored["final_loss"] == pytest.approx(first["final_loss"], abs=1e-4)
    logs = json.dumps([str(entry) for entry in instance.all_logs(result.run_id)])
    assert "fetched checkpoint-2 from" in logs and "uploaded checkpoint-4" in logs
    assert SECRET not in logs and KEY_ID not in logs
    # Finished: the uploaded copies are removed; the kept checkpoints are in the artifact.
    options = {"endpoint_url": s3.endpoint, "key": KEY_ID, "secret": SECRET}
    assert not fsspec.filesystem("s3", skip_instance_cache=True, **options).exists(store)
    adapter = current_version_path(url, "lora_adapter", options)
    assert checkpoint_problems(adapter / "checkpoints" / "checkpoint-4") == []
    assert SECRET not in (adapter / "run.json").read_text()
