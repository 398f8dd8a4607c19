"""The training recipe: a typed config with a description per field, loaded from a YAML preset.

Unknown keys and impossible combinations are rejected when the config is built, before any
process is launched.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

PRESETS_DIR = Path(__file__).resolve().parent.parent / "configs"


def _f(default, help: str):
    return field(default=default, metadata={"help": help})


@dataclass
class TrainConfig:
    lora_r: int = _f(16, "LoRA rank.")
    lora_alpha: int = _f(32, "LoRA scaling numerator (scale = alpha / r).")
    lora_dropout: float = _f(0.0, "Dropout on the LoRA path.")
    lora_target_modules: list[str] = _f(
        ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"),
        "Linear layers that get LoRA adapters.")
    learning_rate: float = _f(2e-4, "Peak learning rate (cosine schedule after warmup).")
    warmup_steps: int = _f(10, "Linear warmup steps.")
    max_steps: int = _f(-1, "Optimizer steps; -1 trains num_train_epochs instead.")
    num_train_epochs: float = _f(1.0, "Epochs when max_steps is -1.")
    per_device_train_batch_size: int = _f(4, "Samples per device per micro-step.")
    gradient_accumulation_steps: int = _f(1, "Micro-steps per optimizer step.")
    max_grad_norm: float = _f(1.0, "Gradient clipping norm.")
    weight_decay: float = _f(0.0, "AdamW weight decay.")
    max_length: int = _f(1024, "Samples longer than this many tokens are dropped at tokenization.")
    logging_steps: int = _f(10, "Log the loss every N steps.")
    eval_steps: int = _f(0, "Evaluate on the dev split every N steps; 0 evaluates only at the end.")
    save_steps: int = _f(0, "Save a checkpoint every N steps; 0 saves only the final adapter.")
    save_total_limit: int = _f(2, "Checkpoints kept on disk.")
    bf16: bool = _f(False, "Train in bfloat16 mixed precision (GPUs that support it).")
    activation_checkpointing: bool = _f(False, "Recompute activations in backward to save memory.")
    seed: int = _f(0, "Seed for data order and LoRA initialisation.")

    def __post_init__(self):
        self.lora_target_modules = list(self.lora_target_modules)
        problems = []
        if self.lora_r <= 0:
            problems.append(f"lora_r must be positive, got {self.lora_r}")
        if self.max_steps <= 0 and self.max_steps != -1:
            problems.append(f"max_steps must be positive or -1, got {self.max_steps}")
        if self.max_steps == -1 and self.num_train_epochs <= 0:
            problems.append("num_train_epochs must be positive when max_steps is -1")
        if self.learning_rate <= 0:
            problems.append(f"learning_rate must be positive, got {self.learning_rate}")
        if not 0.0 <= self.lora_dropout < 1.0:
            problems.append(f"lora_dropout must be in [0, 1), got {self.lora_dropout}")
        if problems:
            raise ValueError("invalid training config: " + "; ".join(problems))

    @classmethod
    def from_dict(cls, values: dict) -> "TrainConfig":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown training config key(s): {', '.join(unknown)}; known keys: {', '.join(sorted(known))}")
        return cls(**values)

    def to_dict(self) -> dict:
        return asdict(self)


def load_preset(name_or_path: str) -> TrainConfig:
    """A preset name from t2s_pipeline/configs/ (e.g. 'tiny') or a path to a YAML file."""
    import yaml

    path = Path(name_or_path)
    if not path.suffix:
        path = PRESETS_DIR / f"{name_or_path}.yaml"
    if not path.is_file():
        available = sorted(p.stem for p in PRESETS_DIR.glob("*.yaml"))
        raise FileNotFoundError(f"training preset not found: {name_or_path} (available: {', '.join(available)})")
    values = yaml.safe_load(path.read_text()) or {}
    return TrainConfig.from_dict(values.get("training", values))
