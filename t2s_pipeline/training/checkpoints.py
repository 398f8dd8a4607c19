"""Checkpoints of one training run: which is the newest complete one to resume from, what one lacks, and the
last good one before a bad step. SFT (train.py), GRPO (grpo.py) and the stage launcher (stage.py) use them."""

from __future__ import annotations

from pathlib import Path

from t2s_pipeline.modeling.model_folder import has_weights


def checkpoint_step(path: Path) -> int:
    try:
        return int(path.name.rsplit("-", 1)[1])
    except (IndexError, ValueError):
        return -1


def checkpoint_problems(path: Path, world_size: int = 1) -> list[str]:
    """What a checkpoint lacks to resume exactly: adapter, trainer state, optimizer, scheduler, RNG states.

    Without optimizer.pt the Trainer resumes silently with different losses, so every file is checked first.
    """
    missing = [name for name in ("trainer_state.json",) if not (path / name).is_file()]
    if not has_weights(path):
        missing.append("adapter_config.json and adapter_model.safetensors (or a full model's config.json and weights)")
    if not any(path.glob("global_step*")):  # DeepSpeed keeps optimizer states in global_step*/
        missing += [name for name in ("optimizer.pt", "scheduler.pt") if not (path / name).is_file()]
    rng = ["rng_state.pth"] if world_size == 1 else [f"rng_state_{r}.pth" for r in range(world_size)]
    missing += [name for name in rng if not (path / name).is_file()]
    return missing


def newest_complete_checkpoint(checkpoints_dir: Path, world_size: int = 1, log=lambda msg: None) -> Path | None:
    """The newest checkpoint that holds every file needed to resume; incomplete ones are skipped (and named)."""
    for path in sorted(Path(checkpoints_dir).glob("checkpoint-*"), key=checkpoint_step, reverse=True):
        missing = checkpoint_problems(path, world_size)
        if not missing:
            return path
        log(f"skipping incomplete checkpoint {path.name}: missing {', '.join(missing)}")
    return None


def last_checkpoint_before(checkpoints_dir: Path, step: int) -> Path | None:
    """The newest checkpoint saved before `step` that holds an adapter."""
    found = [p for p in checkpoints_dir.glob("checkpoint-*")
             if 0 <= checkpoint_step(p) < step and has_weights(p)]
    return max(found, key=checkpoint_step) if found else None
