"""Launch training as an `accelerate launch` subprocess through Dagster Pipes."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import dagster as dg
from pydantic import Field

ACCELERATE_CONFIGS = Path(__file__).resolve().parent.parent / "configs" / "accelerate"


class AccelerateLauncher(dg.ConfigurableResource):
    """Runs `accelerate launch -m t2s_pipeline.training.train` with a launch profile, reporting through Pipes."""

    launch_profile: str = Field(
        default="single_process",
        description="An accelerate config in t2s_pipeline/configs/accelerate/ (name without .yaml) or a path to one.",
    )
    extra_env: dict[str, str] = Field(default={}, description="Extra environment variables for the training processes.")

    def config_file(self) -> Path:
        path = Path(self.launch_profile)
        if not path.suffix:
            path = ACCELERATE_CONFIGS / f"{self.launch_profile}.yaml"
        if not path.is_file():
            available = sorted(p.stem for p in ACCELERATE_CONFIGS.glob("*.yaml"))
            raise FileNotFoundError(f"accelerate launch profile not found: {self.launch_profile} (available: {available})")
        return path

    def command(self, run_config_path: Path) -> list[str]:
        return [
            sys.executable, "-m", "accelerate.commands.launch",
            "--config_file", str(self.config_file()),
            "-m", "t2s_pipeline.training.train",
            "--config", str(run_config_path),
        ]

    def launch(self, context: dg.AssetExecutionContext, run_config: dict, work_dir: Path) -> dict:
        """Write run.json, launch, stream logs; returns the metrics rank 0 reported."""
        run_config_path = work_dir / "run.json"
        run_config_path.write_text(json.dumps(run_config, indent=2))
        command = self.command(run_config_path)
        context.log.info("launching: " + " ".join(command))
        env = {"TOKENIZERS_PARALLELISM": "false", "PYTHONUNBUFFERED": "1", **self.extra_env}
        invocation = dg.PipesSubprocessClient().run(context=context, command=command, env=env)
        messages = [m for m in invocation.get_custom_messages() if isinstance(m, dict) and "metrics" in m]
        if not messages:
            raise RuntimeError("the training process ended without reporting its metrics through Pipes")
        return messages[-1]["metrics"]
