"""Guards that run inside the Trainer: a bad-loss / exploding-gradient stop and a wall-clock budget.

The Trainer never hands the per-step loss or gradient norm to callbacks (and its logs filter NaN
losses out), so `GuardedTrainer` records both every optimizer step and `GuardCallback` decides.
Under several processes the loss is averaged over ranks before the check, so every rank takes the
same decision at the same step (a rank that stopped alone would hang the others).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Optional

STOP_NAN = "nan_or_inf"
STOP_GRAD_NORM = "grad_norm_exploded"
STOP_BUDGET = "wall_time_budget"


@dataclass
class GuardState:
    """What the guards saw; copied into metrics.json."""
    stopped_reason: Optional[str] = None
    bad_step: Optional[int] = None
    bad_value: Optional[dict] = None
    step_loss: float = 0.0
    micro_steps: int = 0
    grad_norm: Optional[float] = None
    started: float = field(default_factory=time.monotonic)

    @property
    def bad(self) -> bool:
        return self.stopped_reason in (STOP_NAN, STOP_GRAD_NORM)

    def hours(self) -> float:
        return (time.monotonic() - self.started) / 3600.0


def _all_ranks_mean(value: float) -> float:
    import torch
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return value
    t = torch.tensor([value], dtype=torch.float64,
                     device="cuda" if dist.get_backend() == "nccl" else "cpu")
    dist.all_reduce(t)
    return float(t.item()) / dist.get_world_size()


def _finite(x: Optional[float]) -> bool:
    return x is None or math.isfinite(x)


def make_guard_callback(cfg, guard: GuardState, log=lambda msg: None):
    from transformers import TrainerCallback

    class GuardCallback(TrainerCallback):
        """Stops on a NaN/inf loss or gradient norm, an exploding gradient norm, or a spent time budget."""

        def on_train_begin(self, args, state, control, **kwargs):
            guard.started = time.monotonic()

        def on_step_end(self, args, state, control, **kwargs):
            loss = _all_ranks_mean(guard.step_loss / max(guard.micro_steps, 1))
            grad_norm = guard.grad_norm
            guard.step_loss, guard.micro_steps, guard.grad_norm = 0.0, 0, None
            values = {"loss": loss, "grad_norm": grad_norm}
            reason = None
            if cfg.stop_on_nan and not (_finite(loss) and _finite(grad_norm)):
                reason = STOP_NAN
            elif cfg.max_grad_norm_to_stop and grad_norm is not None and grad_norm > cfg.max_grad_norm_to_stop:
                reason = STOP_GRAD_NORM
                values["threshold"] = cfg.max_grad_norm_to_stop
            if reason:
                guard.stopped_reason, guard.bad_step, guard.bad_value = reason, state.global_step, values
                log(f"guard: stopping at step {state.global_step}: {reason} {values}; the newest checkpoint "
                    "saved before it is kept as the result")
                control.should_training_stop = True
                # These weights are bad: no checkpoint, no evaluation of them.
                control.should_save = False
                control.should_evaluate = False
                return control
            if cfg.max_wall_hours and _all_ranks_mean(guard.hours()) >= cfg.max_wall_hours:
                guard.stopped_reason, guard.bad_step = STOP_BUDGET, state.global_step
                guard.bad_value = {"hours": round(guard.hours(), 6), "max_wall_hours": cfg.max_wall_hours}
                log(f"guard: wall-time budget of {cfg.max_wall_hours} h spent at step {state.global_step}: "
                    "saving a checkpoint and stopping")
                control.should_training_stop = True
                control.should_save = True
            return control

    return GuardCallback()


def make_guarded_trainer_class(base=None):
    """A Trainer (or a subclass given as `base`: TRL's GRPOTrainer) that reports each micro-step loss and each
    step's gradient norm to a GuardState, and (for tests) can make one step's loss NaN."""
    import torch

    if base is None:
        from transformers import Trainer as base

    class GuardedTrainer(base):
        def __init__(self, *args, guard: GuardState, inject_nan_at_step: int = 0, **kwargs):
            super().__init__(*args, **kwargs)
            self.guard = guard
            self.inject_nan_at_step = inject_nan_at_step

        def compute_loss(self, model, inputs, *args, **kwargs):
            result = super().compute_loss(model, inputs, *args, **kwargs)
            if self.inject_nan_at_step and self.state.global_step + 1 == self.inject_nan_at_step and model.training:
                if isinstance(result, tuple):
                    return (result[0] * float("nan"), *result[1:])
                return result * float("nan")
            return result

        def training_step(self, model, inputs, *args, **kwargs):
            loss = super().training_step(model, inputs, *args, **kwargs)
            value = loss.detach().float().item() if isinstance(loss, torch.Tensor) else float(loss)
            self.guard.step_loss += value
            self.guard.micro_steps += 1
            return loss

        def _get_grad_norm(self, model, grad_norm=None):
            value = super()._get_grad_norm(model, grad_norm=grad_norm)
            try:
                self.guard.grad_norm = float(value.item() if hasattr(value, "item") else value)
            except (TypeError, ValueError):
                self.guard.grad_norm = None
            return value

    return GuardedTrainer


def quiet_stdout(trainer) -> None:
    """Without tqdm the Trainer prints every log dict to stdout; the progress callback already reports them
    through Pipes, so the terminal (t2s demo's compact view) is spared the copies."""
    from transformers.trainer_callback import PrinterCallback

    trainer.remove_callback(PrinterCallback)
