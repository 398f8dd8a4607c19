"""What every training config shares: a field with its description, reading from and writing to a dict, and
the fields SFT (TrainConfig) and RL (RLConfig) both have, with one name, meaning and check each.

A stage's config subclasses `StageFields` and redeclares a shared field only where its default differs
(RL's learning rate is 1e-6, SFT's 2e-4); the description and the checks stay here.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields

QUANTIZATIONS = ("none", "8bit", "4bit-nf4")
PRECISIONS = ("auto", "bf16", "fp16", "fp32")
COMPUTE_DTYPES = ("bf16", "fp16", "fp32")
ATTENTIONS = ("auto", "flash_attention_2", "sdpa", "eager")
SCHEDULERS = ("cosine", "linear", "constant_with_warmup")


def described(default, help: str):
    """A dataclass field with its description (shown in docs, errors and the Dagster UI)."""
    if isinstance(default, list):
        raise TypeError("use a tuple for sequence defaults")
    if isinstance(default, dict):
        return field(default_factory=lambda: dict(default), metadata={"help": help})
    return field(default=default, metadata={"help": help})


class ConfigRecord:
    """from_dict (unknown keys named), to_dict and help for a config dataclass; KIND names it in errors."""

    KIND = "config"

    @classmethod
    def from_dict(cls, values: dict):
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown {cls.KIND} config key(s): {', '.join(unknown)}; "
                             f"known keys: {', '.join(sorted(known))}")
        return cls(**values)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def help(cls) -> dict[str, str]:
        """Each field's description, for docs and UIs."""
        return {f.name: f.metadata["help"] for f in fields(cls)}


@dataclass
class StageFields(ConfigRecord):
    # Model loading
    quantization: str = described("none", "Base weights: 'none', '8bit' (bitsandbytes LLM.int8) or '4bit-nf4' "
                                          "(QLoRA).")
    bnb_4bit_compute_dtype: str = described("bf16", "Compute dtype of 4-bit layers: bf16, fp16 or fp32.")
    bnb_4bit_use_double_quant: bool = described(True, "Quantize the 4-bit quantization constants too (saves ~0.4 "
                                                       "bit/param).")
    precision: str = described("auto", "Training precision: 'auto' (bf16 where the GPU supports it, else fp16; fp32 "
                                       "on CPU), 'bf16', 'fp16' (GPU only) or 'fp32'.")
    attn_implementation: str = described("auto", "'auto' (flash_attention_2 when installed on a GPU, else sdpa), "
                                                 "'flash_attention_2', 'sdpa' or 'eager'.")
    activation_checkpointing: bool = described(False, "Recompute activations in backward to save memory.")
    init_from: str = described("", "An adapter folder whose weights start this run (fresh optimizer, step 0): "
                                   "SFT's second stage, or the SFT adapter that RL continues (set by rl_adapter). "
                                   "Its LoRA shape (r, alpha, targets) wins over the LoRA fields.")
    # Optimisation and schedule
    learning_rate: float = described(2e-4, "Peak learning rate (after warmup, then the schedule).")
    lr_scheduler_type: str = described("cosine", "Learning-rate schedule after warmup: cosine, linear or "
                                                 "constant_with_warmup.")
    warmup_steps: int = described(10, "Linear warmup steps.")
    per_device_train_batch_size: int = described(4, "Samples (RL: completions) per device per micro-step.")
    gradient_accumulation_steps: int = described(1, "Micro-steps per optimizer step.")
    max_grad_norm: float = described(1.0, "Gradient clipping norm (0 turns clipping off).")
    # Checkpoints and logging
    logging_steps: int = described(10, "Log the training figures every N steps.")
    save_steps: int = described(0, "Save a checkpoint every N steps; 0 saves only the final adapter.")
    save_total_limit: int = described(2, "Checkpoints kept on disk.")
    # Guards
    stop_on_nan: bool = described(True, "Stop when a training loss or gradient norm is NaN or infinite; the newest "
                                        "checkpoint saved before it becomes the result.")
    max_grad_norm_to_stop: float = described(1e4, "Stop when the pre-clip gradient norm exceeds this (an exploding "
                                                  "run); 0 turns the check off.")
    max_wall_hours: float = described(0.0, "Budget: stop cleanly with a checkpoint after this many hours of "
                                           "training; 0 is no limit.")
    price_per_gpu_hour: float = described(0.0, "Price of one device hour, for the estimated cost in metrics (0 "
                                               "reports no cost).")
    debug_inject_nan_at_step: int = described(0, "FOR TESTS ONLY: make the loss of this optimizer step (1-based) NaN; "
                                                 "0 is off.")
    seed: int = described(0, "Seed for data order, adapter initialisation and (RL) sampling and the prompt draw.")

    def shared_problems(self) -> list[str]:
        """What is wrong with the shared fields, each naming the field."""
        p = []
        for name, allowed in (("quantization", QUANTIZATIONS), ("precision", PRECISIONS),
                              ("bnb_4bit_compute_dtype", COMPUTE_DTYPES), ("attn_implementation", ATTENTIONS),
                              ("lr_scheduler_type", SCHEDULERS)):
            if getattr(self, name) not in allowed:
                p.append(f"{name} must be one of {', '.join(allowed)}, got {getattr(self, name)!r}")
        for name in ("learning_rate", "per_device_train_batch_size", "gradient_accumulation_steps", "logging_steps"):
            if getattr(self, name) <= 0:
                p.append(f"{name} must be positive, got {getattr(self, name)}")
        for name in ("warmup_steps", "max_grad_norm", "save_steps", "max_grad_norm_to_stop", "max_wall_hours",
                     "price_per_gpu_hour", "debug_inject_nan_at_step"):
            if getattr(self, name) < 0:
                p.append(f"{name} must not be negative, got {getattr(self, name)}")
        if self.save_steps and self.save_total_limit < 1:
            p.append(f"save_total_limit must be at least 1 when save_steps is set, got {self.save_total_limit}")
        max_steps = getattr(self, "max_steps", -1)
        if self.debug_inject_nan_at_step and max_steps > 0 and self.debug_inject_nan_at_step > max_steps:
            p.append(f"debug_inject_nan_at_step {self.debug_inject_nan_at_step} is after max_steps {max_steps}")
        return p

    def effective_batch(self, world_size: int) -> int:
        """Samples (RL: completions) per optimizer step: per-device x accumulation x world size."""
        return self.per_device_train_batch_size * self.gradient_accumulation_steps * world_size
