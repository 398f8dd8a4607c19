"""What every training stage (SFT's lora_adapter, RL's rl_adapter) does around its launch, in one place.

Checkpoints live outside a run's scratch folder, in `<root>/.checkpoints/<stage>/<fingerprint>`, keyed
by the training config and the names of the input versions, so re-materializing after a killed run
resumes it, and only a like run. With s3:// storage the training job also uploads each checkpoint to
`<store>` (same fingerprint) as it saves it, and a run whose local folder is gone or behind fetches the
newest one first. A finished run removes both (the kept checkpoints travel with the artifact).
After the launch, `finished_adapter` says whether there is an adapter to keep and why not.
"""

from __future__ import annotations

import hashlib
import json
import math
import shutil
from dataclasses import dataclass
from pathlib import Path

from t2s_pipeline.training.checkpoint_upload import fetch_newer_checkpoint, remove_store
from t2s_pipeline.training.checkpoints import checkpoint_step, newest_complete_checkpoint

BAD_STOPS = ("nan_or_inf", "grad_norm_exploded")


def checkpoint_fingerprint(training: dict, inputs: list[Path]) -> str:
    key = {"training": training, "inputs": [Path(p).name for p in inputs]}
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]


@dataclass
class StageCheckpoints:
    """The checkpoint folder of one training (stage, config, inputs) and its copy in the store, if any."""
    local: Path
    store: str | None = None
    storage_options: dict | None = None

    @classmethod
    def for_run(cls, root: Path, stage: str, training: dict, inputs: list[Path], store_prefix: str | None = None,
                storage_options: dict | None = None) -> "StageCheckpoints":
        fingerprint = checkpoint_fingerprint(training, inputs)
        store = f"{store_prefix}/{fingerprint}" if store_prefix else None
        return cls(Path(root) / ".checkpoints" / stage / fingerprint, store, storage_options)

    def fetch_newest(self, world_size: int, log=lambda msg: None) -> None:
        """With a store: bring the newest complete uploaded checkpoint here when it is newer than the local one."""
        if not self.store:
            return
        local = newest_complete_checkpoint(self.local, world_size)
        try:
            fetch_newer_checkpoint(self.store, checkpoint_step(local) if local else -1, self.local,
                                   self.storage_options, log=log)
        except Exception as error:
            raise RuntimeError(f"fetching the newest uploaded checkpoint from {self.store} to resume failed "
                               f"({type(error).__name__}: {error}); retry, or set resume: false to start over"
                               ) from error

    def run_fields(self, resume: bool) -> dict:
        """The run.json fields the training entry points read."""
        return {"checkpoint_dir": str(self.local), "resume": resume, "upload_checkpoints_to": self.store}

    def finish(self, warn=lambda msg: None) -> None:
        """A finished run leaves nothing to resume: the local folder and the uploaded copies go."""
        shutil.rmtree(self.local, ignore_errors=True)
        if self.store:
            try:
                remove_store(self.store, self.storage_options)
            except Exception as error:
                warn(f"could not remove the uploaded checkpoints at {self.store}: {error}")


def run_stage(run: dict, out: Path, checkpoints: StageCheckpoints, launch, world_size: int, resume: bool,
              log=lambda msg: None, warn=lambda msg: None) -> dict:
    """One training stage around its launch, the same for SFT and RL: fetch the newest uploaded checkpoint (to
    resume), launch (`launch(run) -> metrics`, the training entry point's report), remove the finished run's
    checkpoints, and check that an adapter was written. Returns the metrics."""
    if resume:
        checkpoints.fetch_newest(world_size, log=log)
    metrics = launch({**run, **checkpoints.run_fields(resume)})
    if metrics.get("resumed_from"):
        log(f"resumed from {metrics['resumed_from']} of an earlier, interrupted run")
    checkpoints.finish(warn=warn)
    if warning := check_adapter_written(out, metrics):
        warn(warning)
    return metrics


def describe_stop(metrics: dict) -> str:
    reason = metrics.get("stopped_reason")
    if reason in BAD_STOPS:
        kept = metrics.get("result_checkpoint") or "no checkpoint"
        return f"{reason} at step {metrics.get('bad_step')}: {metrics.get('bad_value')}; kept {kept}"
    return f"{reason} at step {metrics.get('steps')}: {metrics.get('bad_value')}"


def check_adapter_written(out: Path, metrics: dict) -> str | None:
    """Raises when the run left no adapter (or, fully fine-tuned, no model) in out/adapter; returns a warning
    when it stopped early."""
    if not any((out / "adapter" / name).is_file() for name in ("adapter_config.json", "config.json")):
        if metrics.get("stopped_reason"):
            raise RuntimeError(f"training stopped ({describe_stop(metrics)}) before any checkpoint was saved: "
                               f"no good adapter to keep in {out / 'adapter'}; set save_steps below the bad step")
        raise RuntimeError(f"training finished without writing an adapter to {out / 'adapter'}")
    return f"training stopped early: {describe_stop(metrics)}" if metrics.get("stopped_reason") else None


def jsonable(values: dict) -> dict:
    """NaN and infinities as text: strict JSON (the UI's) has no such numbers."""
    return {k: (str(v) if isinstance(v, float) and not math.isfinite(v) else v) for k, v in values.items()}
