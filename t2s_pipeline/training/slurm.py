"""Training as a Slurm job: the batch script, the job's state, and the per-node entry point.

The batch script runs one task per node (`srun --ntasks-per-node=1`); each task runs this module, which
reads Slurm's environment (SLURM_NODEID, SLURM_NNODES, SLURM_JOB_NODELIST) and replaces itself with that
node's `accelerate launch`: machine rank = node id, main address = the first node's address, so
accelerate starts the node's processes and they meet at the main node.

    python -m t2s_pipeline.training.slurm JOB_DIR/node.json

node.json: {"launch": [python, -m, accelerate.commands.launch, --config_file, ...], "script": [-m,
t2s_pipeline.training.train, --config, RUN.json], "port": main port, "processes_per_node": N}.
No Dagster here: the launcher resource renders the files and waits for the job.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

# Slurm states after which a job no longer runs (squeue/scontrol JobState).
ACTIVE_STATES = {"PENDING", "CONFIGURING", "RUNNING", "COMPLETING", "SUSPENDED", "REQUEUED", "RESIZING",
                 "SIGNALING", "STAGE_OUT", "REQUEUE_HOLD", "REQUEUE_FED", "RESV_DEL_HOLD"}
TIME_LIMIT = re.compile(r"^(\d+|\d+:\d{2}|\d+:\d{2}:\d{2}|\d+-\d+|\d+-\d+:\d{2}|\d+-\d+:\d{2}:\d{2}|UNLIMITED)$")


def expand_nodelist(nodelist: str) -> list[str]:
    """Slurm's compressed host list ("gpu[01-03,07],cpu5") as names, in order (what `scontrol show
    hostnames` prints)."""
    names = []
    for part in re.findall(r"[^,\[]+(?:\[[^\]]*\][^,\[]*)*", nodelist):
        names += _expand_one(part)
    return names


def _expand_one(pattern: str) -> list[str]:
    match = re.search(r"\[([^\]]*)\]", pattern)
    if not match:
        return [pattern]
    head, tail = pattern[:match.start()], pattern[match.end():]
    out = []
    for item in match.group(1).split(","):
        low, _, high = item.partition("-")
        width = len(low)
        numbers = range(int(low), int(high or low) + 1)
        out += [f"{head}{n:0{width}d}{rest}" for n in numbers for rest in _expand_one(tail)]
    return out


def parse_fields(text: str) -> dict[str, str]:
    """`scontrol show job -o` / `show node -o` output as a dict (Key=Value words; the first of a key wins)."""
    fields: dict[str, str] = {}
    for word in text.split():
        key, sep, value = word.partition("=")
        if sep:
            fields.setdefault(key, value)
    return fields


def node_address(node: str, env: dict | None = None) -> str:
    """The address other nodes reach `node` at: its NodeAddr (which defaults to the node name)."""
    proc = subprocess.run(["scontrol", "show", "node", "-o", node], capture_output=True, text=True, env=env)
    address = parse_fields(proc.stdout).get("NodeAddr") if proc.returncode == 0 else None
    return address or node


def node_command(spec: dict, env: dict, address_of=node_address) -> list[str]:
    """This node's `accelerate launch` command from the job spec and Slurm's environment."""
    nodes = int(env["SLURM_NNODES"])
    rank = int(env["SLURM_NODEID"])
    main = address_of(expand_nodelist(env["SLURM_JOB_NODELIST"])[0])
    per_node = int(spec["processes_per_node"])
    threads = []
    if "--num_cpu_threads_per_process" not in spec["launch"]:
        # As the local launcher does: the node's CPUs shared among its processes (accelerate would give one each).
        cpus = int(env.get("SLURM_CPUS_ON_NODE") or len(os.sched_getaffinity(0)))
        threads = ["--num_cpu_threads_per_process", str(max(1, cpus // per_node))]
    return [*spec["launch"], *threads, "--num_machines", str(nodes), "--machine_rank", str(rank),
            "--main_process_ip", main, "--main_process_port", str(spec["port"]),
            "--num_processes", str(nodes * per_node), *spec["script"]]


def render_batch_script(*, job_name: str, job_dir: Path, nodes: int, python: str, gpus_per_node: int = 0,
                        cpus_per_task: int | None = None, partition: str | None = None,
                        account: str | None = None, time_limit: str | None = None,
                        sbatch_options: list[str] = (), setup_commands: list[str] = ()) -> str:
    """The sbatch script: one task per node, each running this module on JOB_DIR/node.json."""
    options = [f"--job-name={job_name}", f"--nodes={nodes}", "--ntasks-per-node=1",
               f"--output={job_dir}/job-%j.log", "--export=ALL"]
    options += [f"--gpus-per-node={gpus_per_node}"] if gpus_per_node else []
    options += [f"--cpus-per-task={cpus_per_task}"] if cpus_per_task else []
    options += [f"--partition={partition}"] if partition else []
    options += [f"--account={account}"] if account else []
    options += [f"--time={time_limit}"] if time_limit else []
    options += list(sbatch_options)
    lines = ["#!/bin/bash", *(f"#SBATCH {o}" for o in options), "set -euo pipefail", *setup_commands,
             "# One task per node; each starts its node's `accelerate launch` (see t2s_pipeline/training/slurm.py).",
             f"srun --kill-on-bad-exit=1 --output={job_dir}/node-%n.log "
             f"{shlex.quote(python)} -m t2s_pipeline.training.slurm {shlex.quote(str(job_dir / 'node.json'))}"]
    return "\n".join(lines) + "\n"


def submit(script: Path, env: dict) -> str:
    """sbatch the script; returns the job id."""
    proc = subprocess.run(["sbatch", "--parsable", str(script)], capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise RuntimeError(f"sbatch {script} failed ({proc.returncode}): {proc.stderr.strip() or proc.stdout.strip()}")
    return proc.stdout.strip().split(";")[0]


def job_fields(job_id: str, env: dict | None = None) -> dict[str, str]:
    """The job's record (JobState, Reason, ExitCode, NodeList...); empty once Slurm has forgotten it."""
    proc = subprocess.run(["scontrol", "show", "job", "-o", job_id], capture_output=True, text=True, env=env)
    return parse_fields(proc.stdout) if proc.returncode == 0 else {}


def cancel(job_id: str, env: dict | None = None) -> None:
    subprocess.run(["scancel", job_id], capture_output=True, env=env, check=False)


def main(argv: list[str] | None = None) -> None:
    spec = json.loads(Path((argv or sys.argv[1:])[0]).read_text())
    command = node_command(spec, dict(os.environ))
    print(f"node {os.environ.get('SLURMD_NODENAME', '?')} (id {os.environ['SLURM_NODEID']}): "
          + " ".join(shlex.quote(c) for c in command), flush=True)
    os.execv(command[0], command)


if __name__ == "__main__":
    main()
