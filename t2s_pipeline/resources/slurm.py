"""The launcher's Slurm backend: the training step as a Slurm job over N nodes, reporting through Pipes.

The job's files (batch script, node.json, Pipes context and messages, one log per node) go to a folder
beside the run's output, which every node must see (shared storage). Rank 0 writes Pipes messages to a
file there, read back here as they come, so progress and the final metrics show as with the local backend.
Any exception while waiting (the Dagster run cancelled, the step interrupted) cancels the job (scancel).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Optional

import dagster as dg
from pydantic import Field, field_validator

from t2s_pipeline.training import slurm


class SlurmSettings(dg.Config):
    """Where and how big the Slurm job is."""

    nodes: int = Field(default=1, ge=1, description="Nodes to train on (one `accelerate launch` per node).")
    gpus_per_node: int = Field(default=0, ge=0, description="GPUs to request per node (--gpus-per-node); 0 "
                                                            "requests none (CPU training).")
    processes_per_node: Optional[int] = Field(
        default=None, ge=1, description="Training processes per node; default gpus_per_node, or 1 without GPUs.")
    cpus_per_task: Optional[int] = Field(default=None, ge=1, description="CPUs per node task (--cpus-per-task).")
    partition: Optional[str] = Field(default=None, description="Slurm partition (--partition); default: the "
                                                               "cluster's default partition.")
    account: Optional[str] = Field(default=None, description="Account charged for the job (--account).")
    time_limit: Optional[str] = Field(
        default=None, description="Wall-time limit (--time): minutes, MM:SS, HH:MM:SS, D-HH, D-HH:MM or "
                                  "D-HH:MM:SS. Set it below the preset's max_wall_hours' end so training "
                                  "stops cleanly with a checkpoint first.")
    sbatch_options: list[str] = Field(
        default=[], description="Further sbatch options, each one word starting with --, e.g. "
                                "['--constraint=a100', '--exclusive', '--qos=high'].")
    setup_commands: list[str] = Field(
        default=[], description="Shell lines the batch script runs before starting the nodes, e.g. "
                                "'module load cuda/12.4' or 'export NCCL_SOCKET_IFNAME=ib0'. The job also "
                                "gets the submitting process's environment and the launcher's extra_env.")
    python: Optional[str] = Field(
        default=None, description="The Python on the nodes (a venv with this project installed); default: "
                                  "this process's interpreter, which must then be at the same path there.")
    job_name: Optional[str] = Field(default=None, description="Slurm job name; default t2s-<asset>.")
    poll_seconds: float = Field(default=5.0, gt=0, description="Seconds between looks at the job's state.")

    @field_validator("time_limit")
    @classmethod
    def _time_limit(cls, value):
        if value is not None and not slurm.TIME_LIMIT.match(value):
            raise ValueError(f"time_limit {value!r}: expected minutes, MM:SS, HH:MM:SS, D-HH, D-HH:MM or D-HH:MM:SS")
        return value

    @field_validator("sbatch_options")
    @classmethod
    def _options(cls, values):
        bad = [v for v in values if not v.startswith("--") or any(c.isspace() for c in v)]
        if bad:
            raise ValueError(f"sbatch_options {bad}: each must be one word starting with -- (e.g. --qos=high)")
        return values

    @field_validator("partition", "account", "job_name")
    @classmethod
    def _word(cls, value):
        if value is not None and (not value or any(c.isspace() for c in value)):
            raise ValueError(f"{value!r}: a Slurm name is one word")
        return value

    def per_node(self) -> int:
        return self.processes_per_node or self.gpus_per_node or 1


def run_job(context: dg.AssetExecutionContext, settings: SlurmSettings, launch: list[str], script: list[str],
            port: int, job_dir: Path, env: dict[str, str]) -> list:
    """Submit, wait, and return the custom Pipes messages rank 0 sent; raises when the job did not complete."""
    job_dir.mkdir(parents=True, exist_ok=True)
    (job_dir / "node.json").write_text(json.dumps(
        {"launch": launch, "script": script, "port": port, "processes_per_node": settings.per_node()}, indent=2))
    batch = job_dir / "job.sbatch"
    batch.write_text(slurm.render_batch_script(
        job_name=settings.job_name or f"t2s-{context.asset_key.to_user_string().replace('/', '-')}",
        job_dir=job_dir, nodes=settings.nodes, python=launch[0], gpus_per_node=settings.gpus_per_node,
        cpus_per_task=settings.cpus_per_task, partition=settings.partition, account=settings.account,
        time_limit=settings.time_limit, sbatch_options=settings.sbatch_options,
        setup_commands=settings.setup_commands))
    with dg.open_pipes_session(
            context=context,
            context_injector=dg.PipesFileContextInjector(str(job_dir / "pipes_context.json")),
            message_reader=dg.PipesFileMessageReader(str(job_dir / "pipes_messages.jsonl"))) as session:
        # Credentials travel in the environment (sbatch --export=ALL), never in the files on shared storage.
        job_env = {**os.environ, **env, **session.get_bootstrap_env_vars()}
        job_id = slurm.submit(batch, job_env)
        context.log.info(f"submitted Slurm job {job_id}: {settings.nodes} node(s) x {settings.per_node()} "
                         f"process(es); script and node logs in {job_dir}")
        try:
            fields = _wait(context, job_id, settings.poll_seconds, job_env)
        except BaseException:
            context.log.warning(f"cancelling Slurm job {job_id} (scancel)")
            slurm.cancel(job_id, job_env)
            raise
        state = fields.get("JobState", "UNKNOWN")
        if state != "COMPLETED":
            raise RuntimeError(f"Slurm job {job_id} ended {state} (exit code {fields.get('ExitCode', '?')}, "
                               f"reason {fields.get('Reason', '?')}); node logs:\n{_log_tails(job_dir)}")
        return list(session.get_custom_messages())


def _wait(context, job_id: str, poll_seconds: float, env: dict, patience_seconds: float = 120) -> dict:
    """Polls the job until it leaves the active states, logging each change of state. scontrol failing for
    a while (slurmctld restarting or failing over) is waited out; failing for patience_seconds is an error."""
    seen, failing_since = None, None
    while True:
        fields = slurm.job_fields(job_id, env)
        if not fields:
            failing_since = failing_since or time.monotonic()
            if time.monotonic() - failing_since > patience_seconds:
                raise RuntimeError(f"scontrol has not shown Slurm job {job_id} for {patience_seconds:.0f} s "
                                   "(slurmctld unreachable, or the job forgotten: MinJobAge too short?)")
            time.sleep(poll_seconds)
            continue
        failing_since = None
        state = fields.get("JobState", "UNKNOWN")
        described = f"{state} ({fields.get('Reason', 'None')})" if state == "PENDING" else state
        if described != seen:
            where = f" on {fields.get('NodeList')}" if state == "RUNNING" else ""
            context.log.info(f"Slurm job {job_id}: {described}{where}")
            seen = described
        if state not in slurm.ACTIVE_STATES:
            return fields
        time.sleep(poll_seconds)


def _log_tails(job_dir: Path, chars: int = 2000) -> str:
    return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-chars:]}"
                     for p in sorted(job_dir.glob("*.log"))) or "(none)"
