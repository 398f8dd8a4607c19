"""Experiment tracking with Weights & Biases for the training job, off unless turned on.

Transformers' W&B integration logs from inside the training processes (rank 0 only), so this resource
only hands them their settings as WANDB_* environment variables. Offline by default: a run is written
under `dir` and uploaded later with `wandb sync <dir>/wandb/offline-run-*`, nothing reaches the network.
Online needs an API key: give it as dg.EnvVar("WANDB_API_KEY") so its value never appears in config,
logs or metadata. (dagster-wandb's own `wandb_resource` logs in inside the Dagster process, needs a key
even offline and cannot reach a subprocess; definitions.py still offers it for online use.)
"""

from __future__ import annotations

from pathlib import Path

import dagster as dg
from pydantic import Field

from t2s_pipeline.resources.storage import resolve_root

MODES = ("offline", "online")


class WandbTracking(dg.ConfigurableResource):
    """Weights & Biases settings for the training subprocess."""

    enabled: bool = Field(default=False, description="Log training metrics to W&B (rank 0 only). Off by default; "
                                                     "definitions.py turns it on when $T2S_WANDB=1.")
    mode: str = Field(default="offline", description="'offline' (runs written under `dir`, upload later with "
                                                     "`wandb sync`) or 'online' (needs api_key).")
    project: str = Field(default="t2s_pipeline", description="W&B project of the runs.")
    entity: str = Field(default="", description="W&B entity (user or team); empty: the key's default entity.")
    api_key: str = Field(default="", description="W&B API key, for online mode. Set it only through "
                                                 "dg.EnvVar('WANDB_API_KEY'): never as a literal.")
    host: str = Field(default="", description="W&B server URL for a self-hosted server; empty: W&B cloud.")
    dir: str = Field(default="", description="Where W&B writes runs, its cache and its settings; empty: "
                                             "<local storage root>/wandb.")

    def run_dir(self) -> Path:
        return Path(self.dir).expanduser().absolute() if self.dir else resolve_root("") / "wandb"

    def training_env(self, run_name: str) -> dict[str, str]:
        """WANDB_* variables for the training processes; empty when tracking is off."""
        if not self.enabled:
            return {}
        if self.mode not in MODES:
            raise ValueError(f"tracking mode {self.mode!r}: expected one of {', '.join(MODES)}")
        if self.mode == "online" and not self.api_key:
            raise ValueError("tracking mode 'online' needs api_key: set WANDB_API_KEY (passed as dg.EnvVar), "
                             "or use mode 'offline' and `wandb sync` later")
        folder = self.run_dir()
        folder.mkdir(parents=True, exist_ok=True)
        env = {
            "WANDB_MODE": self.mode, "WANDB_DIR": str(folder), "WANDB_PROJECT": self.project,
            "WANDB_NAME": run_name,
            # Keep W&B's settings and caches here, not in the user's home; no crash reports, no console capture
            # (stdout belongs to Pipes).
            "WANDB_CONFIG_DIR": str(folder / "config"), "WANDB_CACHE_DIR": str(folder / "cache"),
            "WANDB_DATA_DIR": str(folder / "data"), "WANDB_ARTIFACT_DIR": str(folder / "artifacts"),
            "WANDB_ERROR_REPORTING": "false", "WANDB_CONSOLE": "off", "WANDB_SILENT": "true",
            "WANDB_LOG_MODEL": "false", "WANDB_WATCH": "false",
        }
        optional = {"WANDB_ENTITY": self.entity, "WANDB_BASE_URL": self.host, "WANDB_API_KEY": self.api_key}
        return {**env, **{k: v for k, v in optional.items() if v}}
