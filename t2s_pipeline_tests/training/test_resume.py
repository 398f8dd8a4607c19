"""Resume: a run that lost its process after a checkpoint continues from the newest complete checkpoint
and ends with the same losses as an uninterrupted run; incomplete checkpoints are skipped."""

from __future__ import annotations

import json
import shutil

import pytest

from t2s_pipeline.training.config import TrainConfig
from t2s_pipeline.training.pipes import _LocalPipes
from t2s_pipeline.training.checkpoints import checkpoint_problems, newest_complete_checkpoint
from t2s_pipeline.training.train import train

CFG = dict(lora_r=4, lora_alpha=8, learning_rate=1e-2, warmup_steps=2, max_steps=6, save_steps=2,
           save_total_limit=5, per_device_train_batch_size=2, logging_steps=1, seed=0)


@pytest.fixture(scope="module")
def uninterrupted(tiny_base_dir, tokenized_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("uninterrupted")
    metrics = train(str(tiny_base_dir), str(tokenized_dir), str(out), TrainConfig(**CFG), _LocalPipes(quiet=True))
    return out, metrics


def test_checkpoints_hold_every_file_needed_to_resume(uninterrupted):
    out, _ = uninterrupted
    for name in ("checkpoint-2", "checkpoint-4", "checkpoint-6"):
        assert checkpoint_problems(out / "checkpoints" / name) == []


def test_resume_skips_an_incomplete_checkpoint_and_matches_the_uninterrupted_losses(
        uninterrupted, tiny_base_dir, tokenized_dir, tmp_path):
    done, reference = uninterrupted
    # The state a killed run leaves: checkpoint-2 complete, checkpoint-4 cut short (no optimizer.pt).
    ckpts = tmp_path / "stable_checkpoints"
    for name in ("checkpoint-2", "checkpoint-4"):
        shutil.copytree(done / "checkpoints" / name, ckpts / name)
    (ckpts / "checkpoint-4" / "optimizer.pt").unlink()
    skipped = []
    assert newest_complete_checkpoint(ckpts, log=skipped.append).name == "checkpoint-2"
    assert "optimizer.pt" in skipped[0]

    out = tmp_path / "rerun"
    metrics = train(str(tiny_base_dir), str(tokenized_dir), str(out), TrainConfig(**CFG), _LocalPipes(quiet=True),
                    checkpoint_dir=str(ckpts))
    assert metrics["resumed_from"] == "checkpoint-2"
    assert metrics["steps"] == reference["steps"] == 6
    assert metrics["final_loss"] == pytest.approx(reference["final_loss"], abs=1e-4)
    mine = {h["step"]: h["loss"] for h in json.loads((out / "trainer_state.json").read_text())["log_history"]
            if "loss" in h}
    theirs = {h["step"]: h["loss"] for h in json.loads((done / "trainer_state.json").read_text())["log_history"]
              if "loss" in h}
    for step in (3, 4, 5, 6):
        assert mine[step] == pytest.approx(theirs[step], abs=1e-4), step
    # The kept checkpoints travel with the artifact.
    assert (out / "checkpoints" / "checkpoint-6" / "adapter_config.json").is_file()


def test_no_resume_starts_over(uninterrupted, tiny_base_dir, tokenized_dir, tmp_path):
    done, _ = uninterrupted
    ckpts = tmp_path / "ckpts"
    shutil.copytree(done / "checkpoints" / "checkpoint-4", ckpts / "checkpoint-4")
    cfg = TrainConfig(**{**CFG, "max_steps": 2, "save_steps": 0})
    metrics = train(str(tiny_base_dir), str(tokenized_dir), str(tmp_path / "o"), cfg, _LocalPipes(quiet=True),
                    checkpoint_dir=str(ckpts), resume=False)
    assert metrics["resumed_from"] is None and metrics["steps"] == 2


@pytest.mark.slow
def test_a_run_killed_with_sigkill_is_resumed_to_the_same_final_loss(tiny_base_dir, tokenized_dir, tmp_path):
    """The training process is SIGKILLed after its first complete checkpoint; running the same run.json again
    resumes it and ends with the uninterrupted run's final loss."""
    import os
    import signal
    import subprocess
    import sys
    import time

    values = {**CFG, "max_steps": 30, "save_steps": 2, "save_total_limit": 2, "logging_steps": 2}
    reference = train(str(tiny_base_dir), str(tokenized_dir), str(tmp_path / "ref"), TrainConfig(**values),
                      _LocalPipes(quiet=True))
    ckpts = tmp_path / "stable"
    run = tmp_path / "run.json"
    run.write_text(json.dumps({"model_dir": str(tiny_base_dir), "data_dir": str(tokenized_dir),
                               "output_dir": str(tmp_path / "killed"), "checkpoint_dir": str(ckpts),
                               "training": values}))
    env = {k: v for k, v in os.environ.items() if not k.startswith("DAGSTER_PIPES")}
    command = [sys.executable, "-m", "t2s_pipeline.training.train", "--config", str(run)]
    proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if newest_complete_checkpoint(ckpts) is not None:
            proc.send_signal(signal.SIGKILL)
            break
        time.sleep(0.02)
    assert proc.wait(timeout=30) == -signal.SIGKILL, "the run ended before it could be killed"
    assert not (tmp_path / "killed" / "metrics.json").exists()

    run.write_text(run.read_text().replace(str(tmp_path / "killed"), str(tmp_path / "resumed")))
    subprocess.run(command, env=env, check=True, capture_output=True, timeout=180)
    metrics = json.loads((tmp_path / "resumed" / "metrics.json").read_text())
    assert metrics["resumed_from"] and metrics["resumed_from"].startswith("checkpoint-")
    assert metrics["steps"] == 30
    assert metrics["final_loss"] == pytest.approx(reference["final_loss"], abs=1e-4)
