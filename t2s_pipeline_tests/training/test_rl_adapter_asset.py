"""The rl_adapter asset in Dagster: switched off it passes the SFT adapter through; on, GRPO runs as a real
`accelerate launch` subprocess through Pipes. With 2 DDP processes on the CPU (sampling under the eval
constraint, from the hardest prompts) only rank 0 reports, and the rewards it records equal a direct call of
the reward on the same completions. A NaN stops the run."""

from __future__ import annotations

import json
import sqlite3

import dagster as dg
import pytest
import yaml

from t2s_pipeline.assets.rl_adapter import rl_adapter, rl_adapter_training_stable
from t2s_pipeline.records import read_jsonl
from t2s_pipeline.resources.launcher import AccelerateLauncher
from t2s_pipeline.resources.storage import DirectoryIOManager, current_version_path, publish_directory
from t2s_pipeline.resources.tracking import WandbTracking
from t2s_pipeline.training.reward import RewardConfig, score_one
from t2s_pipeline_tests.training import tiny

UPSTREAM = ("lora_adapter", "base_model", "trajectories", "raw_benchmarks", "test_suites")
RECIPE = dict(num_generations=4, per_device_train_batch_size=2, max_steps=3, max_completion_length=16,
              learning_rate=1e-3, beta=0.05, logging_steps=1, precision="fp32", attn_implementation="sdpa",
              generation="hf", reward={"timeout_s": 1.0}, constraint="rules", hardest_of=6, max_prompts=4)


@pytest.fixture(scope="module")
def sft_adapter(tmp_path_factory, tiny_base_dir, tokenized_dir):
    """A lora_adapter artifact: the tiny base after a short SFT run."""
    from t2s_pipeline.training.config import TrainConfig
    from t2s_pipeline.training.pipes import _LocalPipes
    from t2s_pipeline.training.train import train

    out = tmp_path_factory.mktemp("lora_adapter")
    train(str(tiny_base_dir), str(tokenized_dir), str(out),
          TrainConfig(lora_r=8, lora_alpha=16, learning_rate=2e-2, warmup_steps=0, max_steps=30,
                      per_device_train_batch_size=4, logging_steps=10, seed=0), _LocalPipes(quiet=True))
    return out


def make_storage(tmp_path, tiny_base_dir, trajectories_dir, lora_adapter):
    raw = tmp_path / "raw"
    (raw / "databases").mkdir(parents=True)
    conn = sqlite3.connect(raw / "databases" / "music.sqlite")
    conn.execute(tiny.SCHEMA.rstrip(";"))
    conn.executemany("INSERT INTO singer VALUES (?, ?, ?, ?)", [(1, "Ann", 30, "France"), (2, "Bob", 45, "Japan")])
    conn.commit()
    conn.close()
    root = tmp_path / "storage"
    suites = tmp_path / "suites"  # no suite for music: the reward judges on the original database alone
    suites.mkdir()
    for key, folder in zip(UPSTREAM, (lora_adapter, tiny_base_dir, trajectories_dir, raw, suites), strict=True):
        publish_directory(root, [key], folder, "v0")
    return root


@pytest.fixture
def storage(tmp_path, tiny_base_dir, trajectories_dir, sft_adapter):
    return make_storage(tmp_path, tiny_base_dir, trajectories_dir, sft_adapter)


def _materialize(root, monkeypatch, config: dict, launcher=None):
    monkeypatch.setenv("T2S_STORAGE", str(root))
    instance = dg.DagsterInstance.ephemeral()
    result = dg.materialize(
        [rl_adapter, rl_adapter_training_stable, *(dg.AssetSpec(k) for k in UPSTREAM)],
        selection=[rl_adapter],
        resources={"io_manager": DirectoryIOManager(root=str(root)), "launcher": launcher or AccelerateLauncher(),
                   "tracking": WandbTracking()},
        run_config={"ops": {"rl_adapter": {"config": config}}},
        instance=instance,
        raise_on_error=False,
    )
    return result, instance


def _failure(result) -> str:
    """The step's error and the process output it carries, for a failed run's assertion message."""
    return "\n".join(str(e.event_specific_data.error) for e in result.get_step_failure_events())


def _preset(tmp_path, **values):
    path = tmp_path / "rl.yaml"
    path.write_text(yaml.safe_dump({"model": "tiny", "training": {**RECIPE, **values}}))
    return str(path)


def test_switched_off_it_passes_the_sft_adapter_through_and_says_so(tmp_path, tiny_base_dir, trajectories_dir,
                                                                    monkeypatch):
    sft = tmp_path / "sft"
    (sft / "adapter").mkdir(parents=True)
    (sft / "adapter" / "adapter_config.json").write_text('{"r": 4}')
    (sft / "adapter" / "adapter_model.safetensors").write_bytes(b"weights")
    storage = make_storage(tmp_path, tiny_base_dir, trajectories_dir, sft)
    result, _ = _materialize(storage, monkeypatch, {"enabled": False})
    assert result.success
    metadata = result.get_asset_materialization_events()[0].materialization.metadata
    assert metadata["rl_enabled"].value is False and "RL switched off" in metadata["note"].value
    out = current_version_path(storage, "rl_adapter")
    sft = current_version_path(storage, "lora_adapter")
    for name in ("adapter_config.json", "adapter_model.safetensors"):
        assert (out / "adapter" / name).read_bytes() == (sft / "adapter" / name).read_bytes()
    [check] = result.get_asset_check_evaluations()
    assert check.passed and "switched off" in check.description


@pytest.mark.slow
def test_grpo_on_two_processes_reports_from_rank0_alone_with_the_rewards_of_a_direct_call(storage, tmp_path,
                                                                                          monkeypatch):
    result, instance = _materialize(storage, monkeypatch, {"preset": _preset(tmp_path)},
                                    AccelerateLauncher(launch_profile="ddp", num_processes=2))
    # the launcher refuses a run where more than one process reported metrics
    assert result.success, _failure(result)
    metadata = result.get_asset_materialization_events()[0].materialization.metadata
    assert metadata["world_size"].value == 2 and metadata["steps"].value == 3
    assert metadata["sampling"].value == "constrained (rules)" and metadata["prompts"].value == 4  # the 4 hardest of 6
    logs = [e.user_message for e in instance.all_logs(result.run_id)]
    for step in (1, 2, 3):  # each progress line once: rank 0 alone streams
        lines = [m for m in logs if m.startswith(f"step {step}/3: reward")]
        assert len(lines) == 1, lines
        assert "correct" in lines[0] and "kl" in lines[0] and "completion_len" in lines[0]
    out = current_version_path(storage, "rl_adapter")
    rows = list(read_jsonl(out / "completions.jsonl"))
    assert len(rows) == 3 * 4  # 3 steps x (2 processes x 2 completions): every process's, written once
    assert len({r["id"] for r in rows}) <= 4
    gold = {s["meta"]["id"]: s["meta"]["gold_sql"] for s in tiny.split_samples()["train"]}
    databases = [str(current_version_path(storage, "raw_benchmarks") / "databases" / "music.sqlite")]
    cfg = RewardConfig(timeout_s=1.0)
    direct = [score_one(r["completion"], gold[r["id"]], databases, cfg=cfg) for r in rows]
    assert [r["reward"] for r in rows] == pytest.approx([d["reward"] for d in direct])
    assert [r["verdict"] for r in rows] == [d["reason"] for d in direct]
    assert (out / "adapter" / "adapter_model.safetensors").is_file() and not (out / "adapter" / "ref").exists()
    [check] = result.get_asset_check_evaluations()
    assert check.passed, check.description


@pytest.mark.slow
def test_a_nan_stops_rl_keeps_the_checkpoint_before_it_and_fails_the_check(storage, tmp_path, monkeypatch):
    preset = _preset(tmp_path, debug_inject_nan_at_step=3, save_steps=1, save_total_limit=3,
                     per_device_train_batch_size=4)
    result, _ = _materialize(storage, monkeypatch, {"preset": preset})
    assert result.success
    metadata = result.get_asset_materialization_events()[0].materialization.metadata
    assert metadata["stopped_reason"].value == "nan_or_inf" and metadata["bad_step"].value == 3
    assert metadata["result_checkpoint"].value == "checkpoint-2"
    [check] = result.get_asset_check_evaluations()
    assert check.passed is False and "step 3" in check.description
    metrics = json.loads((current_version_path(storage, "rl_adapter") / "metrics.json").read_text())
    assert metrics["stopped_reason"] == "nan_or_inf"
