"""The accelerate launcher: profiles become command lines; a real 2-process DDP run on CPU (gloo)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from t2s_pipeline.resources.launcher import ACCELERATE_CONFIGS, DEEPSPEED_CONFIGS, AccelerateLauncher


PROFILES = ("single_process", "ddp", "deepspeed_zero2", "deepspeed_zero3", "multi_node")


def _flag(command, name):
    return command[command.index(name) + 1] if name in command else None


def test_every_profile_is_shipped_and_parses():
    import yaml

    assert {p.stem for p in ACCELERATE_CONFIGS.glob("*.yaml")} == set(PROFILES)
    for name in PROFILES:
        text = (ACCELERATE_CONFIGS / f"{name}.yaml").read_text()
        assert text.startswith("#") and "accelerate launch" in text
        assert yaml.safe_load(text)["compute_environment"] == "LOCAL_MACHINE"


def test_deepspeed_json_configs_defer_batch_and_precision_to_the_trainer():
    stages = {"zero2": 2, "zero2_offload": 2, "zero3": 3, "zero3_offload": 3}
    for name, stage in stages.items():
        cfg = json.loads((DEEPSPEED_CONFIGS / f"{name}.json").read_text())
        assert cfg["zero_optimization"]["stage"] == stage
        assert cfg["train_micro_batch_size_per_gpu"] == cfg["gradient_accumulation_steps"] == "auto"
        assert ("offload_optimizer" in cfg["zero_optimization"]) == name.endswith("_offload")


def test_single_process_command(tmp_path):
    command = AccelerateLauncher().command(tmp_path / "run.json")
    assert command[:3] == [sys.executable, "-m", "accelerate.commands.launch"]
    assert _flag(command, "--config_file").endswith("single_process.yaml")
    assert "--num_processes" not in command and "--deepspeed_config_file" not in command
    assert command[-4:] == ["-m", "t2s_pipeline.training.train", "--config", str(tmp_path / "run.json")]
    assert AccelerateLauncher().world_size() == 1


def test_ddp_sets_the_number_of_processes(tmp_path):
    launcher = AccelerateLauncher(launch_profile="ddp", num_processes=4)
    command = launcher.command(tmp_path / "run.json")
    assert _flag(command, "--config_file").endswith("ddp.yaml")
    assert _flag(command, "--num_processes") == "4"
    assert launcher.world_size() == 4


@pytest.mark.parametrize("profile, offload, json_name", [
    ("deepspeed_zero2", False, "zero2.json"), ("deepspeed_zero2", True, "zero2_offload.json"),
    ("deepspeed_zero3", False, "zero3.json"), ("deepspeed_zero3", True, "zero3_offload.json"),
])
def test_deepspeed_profiles_pass_an_absolute_json(tmp_path, profile, offload, json_name):
    launcher = AccelerateLauncher(launch_profile=profile, num_processes=7, deepspeed_offload=offload)
    command = launcher.command(tmp_path / "run.json")
    ds = Path(_flag(command, "--deepspeed_config_file"))
    assert ds.is_absolute() and ds.name == json_name and ds.is_file()
    assert "TORCH_EXTENSIONS_DIR" in launcher.env() or "TORCH_EXTENSIONS_DIR" in os.environ


def test_multi_node_fields_reach_the_command(tmp_path):
    launcher = AccelerateLauncher(launch_profile="multi_node", num_processes=16, num_machines=2, machine_rank=1,
                                  main_process_ip="10.0.0.1", main_process_port=29501)
    command = launcher.command(tmp_path / "run.json")
    assert (_flag(command, "--num_machines"), _flag(command, "--machine_rank"), _flag(command, "--main_process_ip"),
            _flag(command, "--main_process_port"), _flag(command, "--num_processes")) == \
        ("2", "1", "10.0.0.1", "29501", "16")


def test_each_process_gets_its_share_of_the_cpus(tmp_path, monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(8)), raising=False)
    threads = lambda launcher: _flag(launcher.command(tmp_path / "run.json"), "--num_cpu_threads_per_process")
    assert threads(AccelerateLauncher()) == "8"
    assert threads(AccelerateLauncher(launch_profile="ddp", num_processes=2)) == "4"
    assert threads(AccelerateLauncher(launch_profile="multi_node", num_processes=4, num_machines=2)) == "4"
    assert threads(AccelerateLauncher(launch_profile="ddp", num_processes=16)) == "1"
    assert threads(AccelerateLauncher(cpu_threads_per_process=3)) == "3"
    assert threads(AccelerateLauncher(extra_env={"OMP_NUM_THREADS": "5"})) == "5"
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    assert threads(AccelerateLauncher()) == "2"
    with pytest.raises(ValueError, match="cpu_threads_per_process"):
        AccelerateLauncher(cpu_threads_per_process=0).command(tmp_path / "run.json")


def test_a_real_launch_runs_with_the_threads_it_was_given(tmp_path, monkeypatch):
    # accelerate alone gives a CPU process one thread; the launcher's figure must reach torch
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    script = tmp_path / "threads.py"
    script.write_text("import torch\nprint('threads', torch.get_num_threads())\n")
    launcher = AccelerateLauncher(cpu_threads_per_process=2)
    command = launcher.command(tmp_path / "run.json")[:-4] + [str(script)]
    env = {k: v for k, v in os.environ.items() if not k.startswith("DAGSTER_PIPES")}
    proc = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "threads 2" in proc.stdout


def test_impossible_launches_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="no_such_profile"):
        AccelerateLauncher(launch_profile="no_such_profile").command(tmp_path / "run.json")
    with pytest.raises(ValueError, match="num_processes"):
        AccelerateLauncher(launch_profile="single_process", num_processes=2).command(tmp_path / "run.json")
    with pytest.raises(ValueError, match="deepspeed_offload"):
        AccelerateLauncher(launch_profile="ddp", deepspeed_offload=True).command(tmp_path / "run.json")


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _launch(launcher: AccelerateLauncher, run: dict, out: Path, timeout: int = 240):
    out.mkdir(parents=True, exist_ok=True)
    (out / "run.json").write_text(json.dumps(run))
    env = {k: v for k, v in os.environ.items() if not k.startswith("DAGSTER_PIPES")}
    env.update(launcher.env(), OMP_NUM_THREADS="1")
    proc = subprocess.run(launcher.command(out / "run.json"), env=env, capture_output=True, text=True,
                          timeout=timeout)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return json.loads((out / "metrics.json").read_text())


@pytest.mark.slow
def test_a_real_two_process_ddp_run_on_cpu(tiny_base_dir, tokenized_dir, tmp_path):
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    from t2s_pipeline.training.config import TrainConfig

    cfg = TrainConfig(lora_r=4, lora_alpha=8, learning_rate=1e-2, warmup_steps=0, max_steps=4,
                      per_device_train_batch_size=2, logging_steps=1, seed=0)
    run = {"model_dir": str(tiny_base_dir), "data_dir": str(tokenized_dir), "output_dir": str(tmp_path / "out"),
           "training": cfg.to_dict()}
    launcher = AccelerateLauncher(launch_profile="ddp", num_processes=2, main_process_port=_free_port())
    metrics = _launch(launcher, run, tmp_path / "out")
    assert metrics["world_size"] == 2
    assert metrics["effective_batch_size"] == 2 * 1 * 2
    assert metrics["steps"] == 4
    model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_base_dir), tmp_path / "out" / "adapter")
    assert torch.isfinite(model(torch.tensor([[1, 2, 3]])).logits).all()


@pytest.mark.slow
@pytest.mark.parametrize("profile", ["deepspeed_zero2", "deepspeed_zero3"])
def test_a_real_two_process_deepspeed_run_on_cpu(tiny_base_dir, tokenized_dir, tmp_path, profile):
    pytest.importorskip("deepspeed")
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    from t2s_pipeline.training.config import TrainConfig

    cfg = TrainConfig(lora_r=4, lora_alpha=8, learning_rate=1e-2, warmup_steps=0, max_steps=3,
                      per_device_train_batch_size=2, logging_steps=1, seed=0)
    run = {"model_dir": str(tiny_base_dir), "data_dir": str(tokenized_dir), "output_dir": str(tmp_path / "out"),
           "training": cfg.to_dict()}
    launcher = AccelerateLauncher(launch_profile=profile, num_processes=2, main_process_port=_free_port())
    metrics = _launch(launcher, run, tmp_path / "out", timeout=400)
    assert metrics["world_size"] == 2 and metrics["steps"] == 3
    model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_base_dir), tmp_path / "out" / "adapter")
    assert torch.isfinite(model(torch.tensor([[1, 2, 3]])).logits).all()


def test_slurm_backend_shares_the_launch_words_and_counts_every_node():
    from t2s_pipeline.resources.slurm import SlurmSettings

    launcher = AccelerateLauncher(launch_profile="deepspeed_zero2", backend="slurm",
                                  slurm=SlurmSettings(nodes=3, gpus_per_node=8, python="/shared/venv/bin/python"))
    words = launcher.slurm_launch()
    assert words[:3] == ["/shared/venv/bin/python", "-m", "accelerate.commands.launch"]
    assert _flag(words, "--config_file").endswith("deepspeed_zero2.yaml")
    assert Path(_flag(words, "--deepspeed_config_file")).name == "zero2.json"
    assert "--num_processes" not in words and "--machine_rank" not in words
    assert launcher.world_size() == 24
    assert AccelerateLauncher(backend="slurm", slurm=SlurmSettings(nodes=2, gpus_per_node=8,
                                                                   processes_per_node=4)).world_size() == 8
    assert AccelerateLauncher(backend="slurm").world_size() == 1


def test_slurm_backend_refuses_what_the_job_decides_and_bad_settings(tmp_path):
    import pydantic

    from t2s_pipeline.resources.slurm import SlurmSettings

    with pytest.raises(ValueError, match="num_processes"):
        AccelerateLauncher(launch_profile="multi_node", backend="slurm", num_processes=4).slurm_launch()
    with pytest.raises(ValueError, match="single_process"):
        AccelerateLauncher(backend="slurm", slurm=SlurmSettings(nodes=2)).slurm_launch()
    with pytest.raises(ValueError, match="backend slurm"):
        AccelerateLauncher(backend="slurm").command(tmp_path / "run.json")
    with pytest.raises(pydantic.ValidationError, match="time_limit '4h'"):
        SlurmSettings(time_limit="4h")
    with pytest.raises(pydantic.ValidationError, match="sbatch_options"):
        SlurmSettings(sbatch_options=["-p gpu"])
    with pytest.raises(pydantic.ValidationError, match="one word"):
        SlurmSettings(partition="gpu large")
    with pytest.raises(pydantic.ValidationError, match="nodes"):
        SlurmSettings(nodes=0)
    with pytest.raises(pydantic.ValidationError, match="backend"):
        AccelerateLauncher(backend="kubernetes")
