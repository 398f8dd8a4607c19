"""The training recipe: a typed config with a description per field, loaded from a YAML preset.

Unknown keys and impossible combinations are rejected when the config is built, before any
process is launched; every message names the fields involved. Choices that depend on the machine
the job runs on (precision `auto`, attention `auto`) are resolved inside the training process by
`resolve_precision` and `resolve_attention`.

A preset file (t2s_pipeline/configs/<name>.yaml) holds a `training:` mapping of TrainConfig
fields, and optionally `model:` (the `base_model` asset's model for this preset) and
`launch_profile:` (the accelerate profile it was written for); other top-level keys are errors.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from t2s_pipeline.training.config_fields import StageFields
from t2s_pipeline.training.config_fields import described as _f

PRESETS_DIR = Path(__file__).resolve().parent.parent / "configs"
PRESET_TOP_LEVEL_KEYS = ("model", "launch_profile", "training")

BATCHINGS = ("pad", "padding_free")
FINETUNINGS = ("lora", "full")
METRICS_FOR_BEST = ("execution_accuracy", "record_f1", "eval_loss")
# peft added DoRA for bitsandbytes-quantized layers in 0.10.0.
PEFT_MIN_FOR_QUANTIZED_DORA = (0, 10, 0)


def _version_tuple(version: str) -> tuple[int, ...]:
    parts = []
    for piece in version.split(".")[:3]:
        digits = "".join(ch for ch in piece if ch.isdigit())
        parts.append(int(digits) if digits else 0)
    return tuple(parts)


def installed_peft_version() -> Optional[tuple[int, ...]]:
    try:
        from importlib.metadata import version

        return _version_tuple(version("peft"))
    except Exception:
        return None


def flash_attention_installed() -> bool:
    return importlib.util.find_spec("flash_attn") is not None


@dataclass
class TrainConfig(StageFields):
    """The SFT recipe (lora_adapter); the fields it shares with RL are StageFields'."""

    KIND = "training"
    # What is trained
    finetuning: str = _f("lora", "'lora' trains a LoRA adapter on the frozen base; 'full' trains every weight (what "
                                 "the adapter/ folder of the artifact then holds is the whole model).")
    freeze_encoder: bool = _f(False, "Full fine-tuning of an encoder-decoder model (T5): keep the encoder's weights "
                                     "fixed (its embeddings, shared with the decoder, stay governed by "
                                     "freeze_embeddings).")
    freeze_embeddings: bool = _f(False, "Full fine-tuning: keep the token embeddings (and a tied output layer) fixed.")
    # LoRA
    lora_r: int = _f(16, "LoRA rank.")
    lora_alpha: int = _f(32, "LoRA scaling numerator (scale = alpha / r).")
    lora_dropout: float = _f(0.0, "Dropout on the LoRA path.")
    lora_target_modules: list[str] = _f(
        ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"),
        "Linear layers that get LoRA adapters.")
    use_dora: bool = _f(False, "Weight-decomposed LoRA (DoRA): slower, sometimes better at low rank.")
    # Optimisation
    max_steps: int = _f(-1, "Optimizer steps; -1 trains num_train_epochs instead.")
    num_train_epochs: float = _f(1.0, "Epochs when max_steps is -1 (0 is unset).")
    effective_batch_size: int = _f(0, "Expected samples per optimizer step (per-device x accumulation x world size); "
                                      "the job fails at start when the launch gives another figure. 0 skips the "
                                      "check; the actual figure is always recorded in metrics.json.")
    weight_decay: float = _f(0.0, "AdamW weight decay.")
    # Data
    max_length: int = _f(1024, "Samples longer than this many tokens are dropped at tokenization.")
    batching: str = _f("pad", "'pad' pads each batch to its longest sample; 'padding_free' concatenates the batch "
                              "into one row with restarting position ids (no pad tokens; samples stay separated).")
    # Evaluation and checkpoints
    eval_steps: int = _f(0, "Evaluate on the dev split every N steps; 0 evaluates only at the end.")
    eval_samples: int = _f(0, "Dev samples the loss eval reads (the first N); 0 reads them all.")
    keep_best: bool = _f(False, "Keep the checkpoint with the lowest dev loss and make it the result "
                                "(needs eval_steps and save_steps, save_steps a multiple of eval_steps).")
    # Model selection by generated SQL (any model family)
    generation_eval_steps: int = _f(0, "Every N steps, generate SQL for a dev sample, score execution accuracy and "
                                       "record F1 with the judge, log both, keep the best model by metric_for_best "
                                       "as the result; 0 turns it off. The loss-only eval (eval_steps) runs between.")
    generation_eval_samples: int = _f(64, "Dev questions (the first N whole-query dev samples) scored at each "
                                          "generation eval.")
    generation_num_beams: int = _f(0, "Beams when generating for selection; 0 picks by model family (5 for "
                                      "encoder-decoder models, 1 otherwise).")
    generation_max_new_tokens: int = _f(128, "Generation length limit for selection.")
    metric_for_best: str = _f("execution_accuracy", "What selects the kept model: execution_accuracy or record_f1 "
                                                     "(at each generation eval; higher is better), or eval_loss "
                                                     "(at each loss eval, every eval_steps; lower is better).")
    patience: int = _f(0, "Stop after this many selection evaluations in a row without improvement of "
                          "metric_for_best; 0 never stops early.")
    # Guards
    debug_zero_lr_after_step: int = _f(0, "FOR TESTS ONLY: train with a learning rate of 0 after this optimizer step "
                                          "(the weights stop changing); 0 is off.")

    def __post_init__(self):
        self.lora_target_modules = list(self.lora_target_modules)
        problems = self.problems()
        if problems:
            raise ValueError("invalid training config: " + "; ".join(problems))

    def problems(self) -> list[str]:
        p = []

        def choice(name, allowed):
            if getattr(self, name) not in allowed:
                p.append(f"{name} must be one of {', '.join(allowed)}, got {getattr(self, name)!r}")

        p += self.shared_problems()
        choice("batching", BATCHINGS)
        choice("finetuning", FINETUNINGS)
        choice("metric_for_best", METRICS_FOR_BEST)
        if self.lora_r <= 0:
            p.append(f"lora_r must be positive, got {self.lora_r}")
        if self.lora_alpha <= 0:
            p.append(f"lora_alpha must be positive, got {self.lora_alpha}")
        if not self.lora_target_modules:
            p.append("lora_target_modules must name at least one module")
        if self.max_steps <= 0 and self.max_steps != -1:
            p.append(f"max_steps must be positive or -1, got {self.max_steps}")
        if self.max_steps == -1 and not (self.num_train_epochs and self.num_train_epochs > 0):
            p.append("max_steps and num_train_epochs are both unset: num_train_epochs must be positive "
                     "when max_steps is -1")
        if not 0.0 <= self.lora_dropout < 1.0:
            p.append(f"lora_dropout must be in [0, 1), got {self.lora_dropout}")
        if self.max_length <= 0:
            p.append(f"max_length must be positive, got {self.max_length}")
        for name in ("eval_steps", "eval_samples", "effective_batch_size", "weight_decay", "generation_eval_steps",
                     "generation_num_beams", "patience", "debug_zero_lr_after_step"):
            if getattr(self, name) < 0:
                p.append(f"{name} must not be negative, got {getattr(self, name)}")
        if self.effective_batch_size and self.effective_batch_size % (
                self.per_device_train_batch_size * self.gradient_accumulation_steps or 1):
            p.append(f"effective_batch_size {self.effective_batch_size} is not a multiple of "
                     f"per_device_train_batch_size x gradient_accumulation_steps "
                     f"({self.per_device_train_batch_size} x {self.gradient_accumulation_steps})")
        # Combinations.
        if self.quantization == "4bit-nf4" and self.precision == "fp16" and self.bnb_4bit_compute_dtype == "bf16":
            p.append("precision fp16 with bnb_4bit_compute_dtype bf16: bf16 and fp16 together; use precision bf16 "
                     "(or auto) or bnb_4bit_compute_dtype fp16")
        if self.quantization == "4bit-nf4" and self.precision == "bf16" and self.bnb_4bit_compute_dtype == "fp16":
            p.append("precision bf16 with bnb_4bit_compute_dtype fp16: bf16 and fp16 together; pick one for both")
        if self.use_dora and self.quantization != "none":
            peft_version = installed_peft_version()
            if peft_version is not None and peft_version < PEFT_MIN_FOR_QUANTIZED_DORA:
                p.append(f"use_dora with quantization {self.quantization} needs peft >= "
                         f"{'.'.join(map(str, PEFT_MIN_FOR_QUANTIZED_DORA))}, installed "
                         f"{'.'.join(map(str, peft_version))}")
        if self.keep_best:
            if not self.eval_steps or not self.save_steps:
                p.append(f"keep_best needs eval_steps and save_steps set, got eval_steps {self.eval_steps} "
                         f"and save_steps {self.save_steps}")
            elif self.save_steps % self.eval_steps:
                p.append(f"keep_best needs save_steps ({self.save_steps}) to be a multiple of eval_steps "
                         f"({self.eval_steps}): a checkpoint is kept only where it was evaluated")
        p += self._selection_problems()
        return p

    def _selection_problems(self) -> list[str]:
        p = []
        if (self.freeze_encoder or self.freeze_embeddings) and self.finetuning != "full":
            p.append("freeze_encoder and freeze_embeddings apply to finetuning full (LoRA already keeps the base "
                     f"fixed), got finetuning {self.finetuning!r}")
        if self.finetuning == "full" and (self.quantization != "none" or self.use_dora or self.init_from):
            p.append("finetuning full trains the plain weights: quantization, use_dora and init_from are LoRA options")
        if self.generation_eval_samples <= 0 or self.generation_max_new_tokens <= 0:
            p.append("generation_eval_samples and generation_max_new_tokens must be positive, got "
                     f"{self.generation_eval_samples} and {self.generation_max_new_tokens}")
        selecting = self.generation_eval_steps > 0 or self.patience > 0
        if selecting and self.keep_best:
            p.append("keep_best (the Trainer's own selection by dev loss) and generation_eval_steps/patience (selection "
                     "by metric_for_best) are two ways to keep the best model: use one")
        if selecting and self.metric_for_best != "eval_loss" and not self.generation_eval_steps:
            p.append(f"metric_for_best {self.metric_for_best} is scored by the generation eval: set "
                     "generation_eval_steps")
        if selecting and self.metric_for_best == "eval_loss" and not self.eval_steps:
            p.append("metric_for_best eval_loss is read at each loss eval: set eval_steps")
        return p

    def selection_active(self) -> bool:
        return self.generation_eval_steps > 0 or self.patience > 0


def resolve_precision(cfg: TrainConfig, cuda: bool, bf16_supported: bool) -> str:
    """The precision actually used on this machine: bf16, fp16 or fp32."""
    if cfg.precision == "auto":
        if not cuda:
            return "fp32"
        return "bf16" if bf16_supported else "fp16"
    if cfg.precision == "fp16" and not cuda:
        raise ValueError("precision fp16 needs a CUDA device (mixed fp16 is not supported on CPU); use fp32 or bf16")
    if cfg.precision == "bf16" and cuda and not bf16_supported:
        raise ValueError("precision bf16 is not supported by this GPU; use precision auto or fp16")
    return cfg.precision


def resolve_attention(cfg: TrainConfig, cuda: bool) -> str:
    """flash_attention_2 only when the package is installed and a GPU is there; else sdpa."""
    installed = flash_attention_installed()
    if cfg.attn_implementation == "auto":
        return "flash_attention_2" if installed and cuda else "sdpa"
    if cfg.attn_implementation == "flash_attention_2" and not (installed and cuda):
        raise ValueError("attn_implementation flash_attention_2 needs the flash_attn package and a CUDA device "
                         f"(installed: {installed}, cuda: {cuda}); use auto or sdpa")
    return cfg.attn_implementation


def read_preset(name_or_path: str) -> dict:
    """The preset file's top-level mapping (model, launch_profile, training), its keys checked."""
    import yaml

    path = Path(name_or_path)
    if path.suffix not in (".yaml", ".yml"):  # a name (names may hold dots: qwen2.5-...)
        path = PRESETS_DIR / f"{name_or_path}.yaml"
    if not path.is_file():
        available = sorted(p.stem for p in PRESETS_DIR.glob("*.yaml"))
        raise FileNotFoundError(f"training preset not found: {name_or_path} (available: {', '.join(available)})")
    values = yaml.safe_load(path.read_text()) or {}
    if "training" not in values:  # a flat file of training fields
        return {"training": values}
    unknown = sorted(set(values) - set(PRESET_TOP_LEVEL_KEYS))
    if unknown:
        raise ValueError(f"unknown top-level preset key(s) in {path.name}: {', '.join(unknown)}; "
                         f"known: {', '.join(PRESET_TOP_LEVEL_KEYS)}")
    return values


def load_preset(name_or_path: str) -> TrainConfig:
    """A preset name from t2s_pipeline/configs/ (e.g. 'tiny') or a path to a YAML file."""
    return TrainConfig.from_dict(read_preset(name_or_path)["training"] or {})
