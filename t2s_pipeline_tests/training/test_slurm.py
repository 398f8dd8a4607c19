"""The Slurm job's pieces without a cluster: host lists, scontrol records, each node's command, the batch script."""

from __future__ import annotations

from pathlib import Path

import pytest

from t2s_pipeline.training.slurm import (
    TIME_LIMIT, expand_nodelist, node_command, parse_fields, render_batch_script,
)


@pytest.mark.parametrize("nodelist, names", [
    ("node7", ["node7"]),
    ("t2s-n[1-2]", ["t2s-n1", "t2s-n2"]),
    ("gpu[01-03,07],cpu5", ["gpu01", "gpu02", "gpu03", "gpu07", "cpu5"]),
    ("rack[1-2]-n[8-9]", ["rack1-n8", "rack1-n9", "rack2-n8", "rack2-n9"]),
    ("a[009-011]", ["a009", "a010", "a011"]),
])
def test_expand_nodelist_matches_scontrol_show_hostnames(nodelist, names):
    assert expand_nodelist(nodelist) == names


def test_parse_fields_reads_a_one_line_record():
    record = ("JobId=12 JobName=t2s-lora_adapter UserId=root(0) JobState=PENDING Reason=Resources "
              "ExitCode=0:0 NodeList=(null) Command=/x/job.sbatch")
    fields = parse_fields(record)
    assert (fields["JobId"], fields["JobState"], fields["Reason"], fields["ExitCode"]) == \
        ("12", "PENDING", "Resources", "0:0")


def test_each_node_gets_its_rank_and_the_first_nodes_address():
    spec = {"launch": ["py", "-m", "accelerate.commands.launch", "--config_file", "m.yaml"],
            "script": ["-m", "t2s_pipeline.training.train", "--config", "run.json"], "port": 29511,
            "processes_per_node": 4}
    asked = []

    def address_of(node):
        asked.append(node)
        return "10.0.0.5"

    env = {"SLURM_NNODES": "3", "SLURM_NODEID": "2", "SLURM_JOB_NODELIST": "gpu[04-06]", "SLURM_CPUS_ON_NODE": "16"}
    command = node_command(spec, env, address_of=address_of)
    assert asked == ["gpu04"]
    assert command == ["py", "-m", "accelerate.commands.launch", "--config_file", "m.yaml",
                       "--num_cpu_threads_per_process", "4",  # the node's 16 CPUs shared by its 4 processes
                       "--num_machines", "3", "--machine_rank", "2", "--main_process_ip", "10.0.0.5",
                       "--main_process_port", "29511", "--num_processes", "12",
                       "-m", "t2s_pipeline.training.train", "--config", "run.json"]
    # Threads the launcher resource set (cpu_threads_per_process) are kept as they are.
    spec["launch"] += ["--num_cpu_threads_per_process", "2"]
    assert node_command(spec, env, address_of=address_of).count("--num_cpu_threads_per_process") == 1


def test_batch_script_carries_every_setting():
    script = render_batch_script(job_name="t2s-x", job_dir=Path("/shared/job"), nodes=2, python="/venv/bin/python",
                                 gpus_per_node=8, cpus_per_task=32, partition="gpu", account="ml",
                                 time_limit="1-00:00:00", sbatch_options=["--exclusive", "--qos=high"],
                                 setup_commands=["module load cuda/12.4"])
    lines = script.splitlines()
    assert lines[0] == "#!/bin/bash"
    for option in ("--job-name=t2s-x", "--nodes=2", "--ntasks-per-node=1", "--gpus-per-node=8",
                   "--cpus-per-task=32", "--partition=gpu", "--account=ml", "--time=1-00:00:00", "--exclusive",
                   "--qos=high", "--export=ALL", "--output=/shared/job/job-%j.log"):
        assert f"#SBATCH {option}" in lines, option
    assert lines.index("module load cuda/12.4") < len(lines) - 1
    assert lines[-1] == ("srun --kill-on-bad-exit=1 --output=/shared/job/node-%n.log /venv/bin/python "
                         "-m t2s_pipeline.training.slurm /shared/job/node.json")


def test_batch_script_leaves_out_what_is_unset():
    script = render_batch_script(job_name="j", job_dir=Path("/j"), nodes=1, python="python")
    assert "--gpus-per-node" not in script and "--partition" not in script and "--time" not in script


@pytest.mark.parametrize("value, ok", [("30", True), ("4:00:00", True), ("2-12", True), ("1-00:30:00", True),
                                        ("UNLIMITED", True), ("4h", False), ("1:2", False), ("", False)])
def test_time_limit_formats(value, ok):
    assert bool(TIME_LIMIT.match(value)) == ok
