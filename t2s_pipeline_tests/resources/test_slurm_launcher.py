"""The launcher's Slurm backend on a real Slurm (munged, slurmctld and two slurmd on this machine): lora_adapter
trains over 2 nodes x 1 process (gloo) with the losses of a 2-process run on one machine; a job cancelled
mid-way is resumed by the next materialization; interrupting the Dagster step cancels the job."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time

import dagster as dg
import pytest
import yaml

from t2s_pipeline.assets.lora_adapter import lora_adapter, resumable_checkpoint_dir
from t2s_pipeline.resources.launcher import AccelerateLauncher
from t2s_pipeline.resources.slurm import SlurmSettings
from t2s_pipeline.resources.storage import DirectoryIOManager, current_version_path
from t2s_pipeline.resources.tracking import WandbTracking
from t2s_pipeline.training.config import load_preset
from t2s_pipeline.training.checkpoints import newest_complete_checkpoint
from t2s_pipeline_tests.resources.slurm_cluster import NODES, free_port, slurm_cluster  # noqa: F401 (fixture)
from t2s_pipeline_tests.training.tiny import LORA_ADAPTER_UPSTREAM, publish_lora_adapter_upstream

RECIPE = dict(lora_r=4, lora_alpha=8, learning_rate=1e-2, warmup_steps=0, max_steps=20, save_steps=2,
              save_total_limit=2, per_device_train_batch_size=2, logging_steps=1, seed=0)

pytestmark = pytest.mark.slow


def _slurm_launcher(**settings) -> AccelerateLauncher:
    return AccelerateLauncher(launch_profile="multi_node", backend="slurm", main_process_port=free_port(),
                              extra_env={"OMP_NUM_THREADS": "1"},
                              slurm=SlurmSettings(nodes=2, poll_seconds=0.3, **settings))


def _materialize(storage, preset, launcher, instance=None):
    return dg.materialize(
        [lora_adapter, *LORA_ADAPTER_UPSTREAM],
        selection=[lora_adapter],
        resources={"io_manager": DirectoryIOManager(root=str(storage)), "launcher": launcher,
                   "tracking": WandbTracking()},
        run_config={"ops": {"lora_adapter": {"config": {"preset": str(preset)}}}},
        instance=instance or dg.DagsterInstance.ephemeral(),
        raise_on_error=False,
    )


def _losses(folder) -> dict[int, float]:
    state = json.loads((folder / "trainer_state.json").read_text())
    return {h["step"]: h["loss"] for h in state["log_history"] if "loss" in h}


@pytest.fixture(scope="module")
def one_machine_ddp(tiny_base_dir, tokenized_dir, tmp_path_factory):
    """The reference: the same recipe as a 2-process DDP run on one machine (no Slurm)."""
    out = tmp_path_factory.mktemp("ddp")
    run = {"model_dir": str(tiny_base_dir), "data_dir": str(tokenized_dir), "output_dir": str(out),
           "training": RECIPE}
    (out / "run.json").write_text(json.dumps(run))
    launcher = AccelerateLauncher(launch_profile="ddp", num_processes=2, main_process_port=free_port())
    env = {k: v for k, v in os.environ.items() if not k.startswith("DAGSTER_PIPES")}
    env.update(launcher.env(), OMP_NUM_THREADS="1")
    proc = subprocess.run(launcher.command(out / "run.json"), env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return out


@pytest.fixture
def storage(tmp_path, tiny_base_dir, tokenized_dir, trajectories_dir, monkeypatch):
    root = publish_lora_adapter_upstream(tmp_path / "storage", tiny_base_dir, tokenized_dir, trajectories_dir,
                                         tmp_path)
    monkeypatch.setenv("T2S_STORAGE", str(root))
    return root


@pytest.fixture
def preset(tmp_path):
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump({"model": "tiny", "training": RECIPE}))
    return path


def test_the_cluster_runs_one_task_on_each_node(slurm_cluster):
    proc = subprocess.run(["srun", "--nodes=2", "--ntasks-per-node=1", "bash", "-c",
                           "echo $SLURM_NODEID $SLURMD_NODENAME"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert sorted(proc.stdout.split("\n")[:2]) == [f"{i} {name}" for i, name in enumerate(NODES)]


def test_two_slurm_nodes_train_with_the_losses_of_two_processes_on_one_machine(slurm_cluster, storage, preset,
                                                                             one_machine_ddp):
    instance = dg.DagsterInstance.ephemeral()
    result = _materialize(storage, preset, _slurm_launcher(), instance)
    assert result.success
    metadata = result.get_asset_materialization_events()[0].materialization.metadata
    assert metadata["world_size"].value == 2 and metadata["steps"].value == RECIPE["max_steps"]
    out = current_version_path(storage, "lora_adapter")
    # Both ranks ran, one per node: each node's task logged its own launch, and each rank saved its RNG state.
    job_dir = next((storage / ".scratch").glob("*/lora_adapter.slurm"))
    for node_id, name in enumerate(NODES):
        log = (job_dir / f"node-{node_id}.log").read_text()
        assert f"node {name} (id {node_id})" in log and f"--machine_rank {node_id}" in log
    newest = max((out / "checkpoints").glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[1]))
    assert (newest / "rng_state_0.pth").is_file() and (newest / "rng_state_1.pth").is_file()
    # Rank 0's progress reached the Dagster log through the Pipes message file.
    messages = [e.user_message for e in instance.all_logs(result.run_id)]
    assert any("world size 2" in m for m in messages)
    assert any("submitted Slurm job" in m for m in messages)
    mine, reference = _losses(out), _losses(one_machine_ddp)
    assert sorted(mine) == sorted(reference) == list(range(1, RECIPE["max_steps"] + 1))
    for step in reference:
        assert mine[step] == pytest.approx(reference[step], abs=1e-5), step


def _job_ids(name: str) -> list[str]:
    proc = subprocess.run(["squeue", "-h", "-o", "%i", "-n", name], capture_output=True, text=True)
    return proc.stdout.split()


def test_a_job_cancelled_mid_way_is_resumed_by_the_next_materialization(slurm_cluster, storage, preset,
                                                                        one_machine_ddp):
    stable = resumable_checkpoint_dir(load_preset(str(preset)), current_version_path(storage, "base_model"),
                                      current_version_path(storage, "tokenized_splits"))
    cancelled = []

    def cancel_after_the_first_checkpoint():
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            if newest_complete_checkpoint(stable, world_size=2) is not None:
                for job in _job_ids("t2s-lora_adapter"):
                    subprocess.run(["scancel", job], check=True)
                    cancelled.append(job)
                return
            time.sleep(0.05)

    killer = threading.Thread(target=cancel_after_the_first_checkpoint)
    killer.start()
    first = _materialize(storage, preset, _slurm_launcher())
    killer.join()
    assert cancelled, "no checkpoint appeared to cancel the job after"
    assert not first.success
    failure = first.get_step_failure_events()[0].event_specific_data.error
    assert "CANCELLED" in str(failure.to_string()), failure.to_string()
    assert newest_complete_checkpoint(stable, world_size=2).name != f"checkpoint-{RECIPE['max_steps']}"

    second = _materialize(storage, preset, _slurm_launcher())
    assert second.success
    metadata = second.get_asset_materialization_events()[0].materialization.metadata
    assert metadata["resumed_from"].value.startswith("checkpoint-")
    assert metadata["steps"].value == RECIPE["max_steps"]
    reference = _losses(one_machine_ddp)
    stored = json.loads((current_version_path(storage, "lora_adapter") / "metrics.json").read_text())
    assert stored["final_loss"] == pytest.approx(reference[RECIPE["max_steps"]], abs=1e-5)
    assert not stable.exists()


def test_interrupting_the_dagster_step_cancels_the_slurm_job(slurm_cluster, storage, preset):
    """Dagster stops a cancelled run's step with an interrupt; the launcher answers with scancel."""
    seen = {}

    def interrupt_once_running():
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not seen:
            for job in _job_ids("t2s-lora_adapter"):
                seen["job"] = job
                os.kill(os.getpid(), signal.SIGINT)
                return
            time.sleep(0.1)

    watcher = threading.Thread(target=interrupt_once_running)
    watcher.start()
    try:
        result = _materialize(storage, preset, _slurm_launcher())
    except KeyboardInterrupt:
        result = None
    watcher.join()
    assert seen, "the job never showed in squeue"
    assert result is None or not result.success
    deadline = time.monotonic() + 30
    state = None
    while time.monotonic() < deadline:
        fields = subprocess.run(["scontrol", "show", "job", "-o", seen["job"]], capture_output=True, text=True).stdout
        state = next((w.split("=", 1)[1] for w in fields.split() if w.startswith("JobState=")), None)
        if state == "CANCELLED":
            break
        time.sleep(0.3)
    assert state == "CANCELLED"
