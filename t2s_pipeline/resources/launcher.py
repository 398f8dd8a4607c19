"""Launch training as an `accelerate launch` subprocess through Dagster Pipes.

A launch profile is an accelerate config in t2s_pipeline/configs/accelerate/: `single_process`, `ddp`
(one process per GPU), `deepspeed_zero2`, `deepspeed_zero3` (with `deepspeed_offload`, the `_offload`
DeepSpeed JSON) and `multi_node`. The resource adds what varies per run on the command line:
the number of processes, the DeepSpeed JSON as an absolute path, and the node fields.

backend `local` runs the launch here; backend `slurm` submits it as a Slurm job over `slurm.nodes` nodes, one
`accelerate launch` per node, with the node fields taken from Slurm's environment (resources/slurm.py).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Literal, Optional

import dagster as dg
from pydantic import Field

from t2s_pipeline.resources.slurm import SlurmSettings, run_job

CONFIGS = Path(__file__).resolve().parent.parent / "configs"
ACCELERATE_CONFIGS = CONFIGS / "accelerate"
DEEPSPEED_CONFIGS = CONFIGS / "deepspeed"
TRAIN_MODULE = "t2s_pipeline.training.train"


class AccelerateLauncher(dg.ConfigurableResource):
    """Runs `accelerate launch -m <entry point>` (t2s_pipeline.training.train or .grpo) with a launch profile,
    reporting through Pipes."""

    launch_profile: str = Field(
        default="single_process",
        description="An accelerate config in t2s_pipeline/configs/accelerate/ (single_process, ddp, deepspeed_zero2, "
                    "deepspeed_zero3, multi_node) or a path to one.",
    )
    num_processes: Optional[int] = Field(
        default=None,
        description="Training processes in all (one per GPU; over all nodes for multi_node). None keeps the "
                    "profile's figure. On a CPU-only machine, ddp with 2 runs two real gloo processes.",
    )
    deepspeed_offload: bool = Field(
        default=False, description="DeepSpeed profiles: offload optimizer states (and ZeRO-3 parameters) to CPU memory.")
    num_machines: Optional[int] = Field(default=None, description="multi_node: number of nodes.")
    machine_rank: Optional[int] = Field(default=None, description="multi_node: this node's rank (0 is the main node).")
    main_process_ip: Optional[str] = Field(default=None, description="multi_node: address of the main node.")
    main_process_port: Optional[int] = Field(default=None, description="multi_node: port on the main node.")
    cpu_threads_per_process: Optional[int] = Field(
        default=None,
        description="CPU threads (OMP_NUM_THREADS) of each training process. None: OMP_NUM_THREADS when set (in "
                    "extra_env or this process's environment), else "
                    "this machine's CPUs shared among its processes. (Left alone, accelerate gives each process one "
                    "thread unless its config says use_cpu: on a 2-core CPU, LoRA trained at 3,700 tokens/s instead "
                    "of 6,300.)")
    extra_env: dict[str, str] = Field(default={}, description="Extra environment variables for the training processes.")
    backend: Literal["local", "slurm"] = Field(
        default="local", description="local: launch on this machine. slurm: submit a Slurm job (settings in "
                                     "`slurm`); use a multi-process profile (multi_node, deepspeed_*) for more "
                                     "than one process in all.")
    slurm: SlurmSettings = Field(default_factory=SlurmSettings,
                                 description="The Slurm job, for backend slurm: nodes, GPUs, partition, account, "
                                             "time limit, extra sbatch options, setup lines.")

    def config_file(self) -> Path:
        path = Path(self.launch_profile)
        if path.suffix not in (".yaml", ".yml"):
            path = ACCELERATE_CONFIGS / f"{self.launch_profile}.yaml"
        if not path.is_file():
            available = sorted(p.stem for p in ACCELERATE_CONFIGS.glob("*.yaml"))
            raise FileNotFoundError(f"accelerate launch profile not found: {self.launch_profile} (available: {available})")
        return path

    def profile(self) -> dict:
        import yaml

        return yaml.safe_load(self.config_file().read_text()) or {}

    def deepspeed_config_file(self) -> Optional[Path]:
        """The DeepSpeed JSON for a DeepSpeed profile (absolute), else None."""
        profile = self.profile()
        if profile.get("distributed_type") != "DEEPSPEED":
            return None
        name = (profile.get("deepspeed_config") or {}).get("deepspeed_config_file")
        if not name:
            raise ValueError(f"launch profile {self.launch_profile}: DEEPSPEED without deepspeed_config_file")
        path = Path(name)
        if self.deepspeed_offload:
            path = path.with_name(f"{path.stem}_offload{path.suffix}")
        if not path.is_absolute():
            path = DEEPSPEED_CONFIGS / path
        if not path.is_file():
            raise FileNotFoundError(f"DeepSpeed config not found for launch profile {self.launch_profile}: {path}")
        return path

    def deepspeed_args(self) -> list[str]:
        """`--deepspeed_config_file <json>` for a DeepSpeed profile; refuses offload without one."""
        ds = self.deepspeed_config_file()
        if ds is None and self.deepspeed_offload:
            raise ValueError(f"deepspeed_offload needs a deepspeed profile, not {self.launch_profile}")
        return ["--deepspeed_config_file", str(ds)] if ds is not None else []

    def world_size(self) -> int:
        if self.backend == "slurm":
            return self.slurm.nodes * self.slurm.per_node()
        return int(self.num_processes or self.profile().get("num_processes") or 1)

    def command(self, run_config_path: Path, module: str = TRAIN_MODULE) -> list[str]:
        if self.backend == "slurm":
            raise ValueError("backend slurm: each node builds its own command (slurm_launch)")
        command = [sys.executable, "-m", "accelerate.commands.launch", "--config_file", str(self.config_file())]
        if self.num_processes is not None:
            if self.num_processes < 1:
                raise ValueError(f"num_processes must be positive, got {self.num_processes}")
            if self.num_processes > 1 and self.profile().get("distributed_type", "NO") == "NO":
                raise ValueError(f"num_processes {self.num_processes} with launch_profile {self.launch_profile}, "
                                 "which runs one process: use ddp or a deepspeed profile")
            command += ["--num_processes", str(self.num_processes)]
        command += ["--num_cpu_threads_per_process", str(self.cpu_threads())]
        command += self.deepspeed_args()
        for name in ("num_machines", "machine_rank", "main_process_ip", "main_process_port"):
            value = getattr(self, name)
            if value is not None:
                command += [f"--{name}", str(value)]
        return command + self.script(run_config_path, module)

    def cpu_threads(self) -> int:
        """Threads for each local training process (see cpu_threads_per_process)."""
        if self.cpu_threads_per_process is not None:
            if self.cpu_threads_per_process < 1:
                raise ValueError(f"cpu_threads_per_process must be positive, got {self.cpu_threads_per_process}")
            return self.cpu_threads_per_process
        chosen = self.extra_env.get("OMP_NUM_THREADS") or os.environ.get("OMP_NUM_THREADS", "")
        if chosen.isdigit():
            return max(1, int(chosen))
        cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
        local_processes = max(1, self.world_size() // (self.num_machines or 1))
        return max(1, cpus // local_processes)

    @staticmethod
    def script(run_config_path: Path, module: str = TRAIN_MODULE) -> list[str]:
        """The training entry point and its run.json (another stage passes its own module)."""
        return ["-m", module, "--config", str(run_config_path)]

    def slurm_launch(self) -> list[str]:
        """backend slurm: the `accelerate launch` words every node shares (each node adds its rank, the main
        address, the port and the process count)."""
        taken = [n for n in ("num_processes", "num_machines", "machine_rank", "main_process_ip")
                 if getattr(self, n) is not None]
        if taken:
            raise ValueError(f"backend slurm sets {taken} from the job (slurm.nodes, slurm.processes_per_node, "
                             "the allocated nodes): leave them unset")
        if self.world_size() > 1 and self.profile().get("distributed_type", "NO") == "NO":
            raise ValueError(f"backend slurm with {self.world_size()} processes in all and launch_profile "
                             f"{self.launch_profile}, which runs one process: use multi_node or a deepspeed profile")
        command = [self.slurm.python or sys.executable, "-m", "accelerate.commands.launch",
                   "--config_file", str(self.config_file())]
        if self.cpu_threads_per_process is not None:  # else each node shares its own CPUs (training/slurm.py)
            command += ["--num_cpu_threads_per_process", str(self.cpu_threads())]
        command += self.deepspeed_args()
        return command

    def env(self) -> dict[str, str]:
        env = {"TOKENIZERS_PARALLELISM": "false", "PYTHONUNBUFFERED": "1"}
        if self.deepspeed_config_file() is not None and "TORCH_EXTENSIONS_DIR" not in os.environ:
            # DeepSpeed builds its ops on first use (40-60 s): keep them in the project's venv, built once.
            env["TORCH_EXTENSIONS_DIR"] = str(Path(sys.prefix) / "torch_extensions")
        return {**env, **self.extra_env}

    def launch(self, context: dg.AssetExecutionContext, run_config: dict, work_dir: Path,
               env: Optional[dict[str, str]] = None, module: str = TRAIN_MODULE) -> dict:
        """Write run.json, launch `module` (a training entry point: SFT's train, RL's grpo), stream logs; returns
        the metrics rank 0 reported. `env` adds variables for the training processes (credentials go there, never into run.json,
        which is part of the artifact)."""
        run_config_path = work_dir / "run.json"
        run_config_path.write_text(json.dumps(run_config, indent=2))
        if self.backend == "slurm":
            # The job's files sit beside the output folder (shared storage), not inside the artifact.
            received = run_job(context, self.slurm, self.slurm_launch(), self.script(run_config_path, module),
                               self.main_process_port or 29500, work_dir.parent / f"{work_dir.name}.slurm",
                               {**self.env(), **(env or {})})
        else:
            command = self.command(run_config_path, module)
            context.log.info("launching: " + " ".join(command))
            received = dg.PipesSubprocessClient().run(context=context, command=command,
                                                      env={**self.env(), **(env or {})}).get_custom_messages()
        messages = [m for m in received if isinstance(m, dict) and "metrics" in m]
        if not messages:
            raise RuntimeError("the training process ended without reporting its metrics through Pipes")
        if len(messages) > 1:
            raise RuntimeError(f"{len(messages)} metrics reports came through Pipes: only rank 0 may report")
        return messages[-1]["metrics"]
