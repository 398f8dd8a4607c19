"""Figures a training run reports as it goes and at its end: the progress callback (loss log and Pipes lines),
tokens per second, pad share of the batches and peak memory. SFT and GRPO report the same way."""

from __future__ import annotations

import json
from pathlib import Path


def batch_token_stats(batches) -> dict:
    """Real (non-pad) tokens and pad share of collated batches: padded batches carry attention_mask zeros;
    padding-free ones (one flattened row) carry none."""
    real = total = 0
    for batch in batches:
        ids = batch["input_ids"]
        total += ids.numel()
        real += int(batch["attention_mask"].sum()) if "attention_mask" in batch else ids.numel()
    return {"real_tokens": real, "batch_tokens": total, "pad_share": (total - real) / total if total else 0.0}


def peak_memory_gib(cuda: bool) -> float:
    import torch

    if cuda:
        return torch.cuda.max_memory_allocated() / 2**30
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB on Linux: this process's peak RSS


def tokens_per_second(sampled: dict, sampled_batches: int, steps: int, accumulation: int, world_size: int,
                       seconds: float) -> float:
    """Real tokens trained per second over all processes: the sampled mean per batch x the batches trained."""
    if not sampled_batches or seconds <= 0:
        return 0.0
    return sampled["real_tokens"] / sampled_batches * steps * accumulation * world_size / seconds


def make_progress_callback(pipes, loss_log_path: Path, is_rank0: bool, shown_keys: dict[str, str] | None = None):
    """shown_keys: {log key: name} of the figures the Pipes line shows (default: every logged figure)."""
    from transformers import TrainerCallback

    class ProgressCallback(TrainerCallback):
        """Streams losses to the loss log and the Pipes log (rank 0 only)."""

        def on_log(self, args, state, control, logs=None, **kwargs):
            if not is_rank0 or not logs:
                return
            record = {"step": state.global_step, "epoch": state.epoch, **logs}
            with open(loss_log_path, "a") as f:
                f.write(json.dumps(record) + "\n")
            figures = logs if shown_keys is None else {name: logs[k] for k, name in shown_keys.items() if k in logs}
            if not figures:
                return
            shown = ", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in figures.items())
            pipes.log.info(f"step {state.global_step}/{state.max_steps}: {shown}")

    return ProgressCallback()
