"""The reinforcement-learning recipe (GRPO after SFT): a typed config with a description per field.

A preset file t2s_pipeline/configs/rl-<name>.yaml holds `model:` (the base it was written for),
`launch_profile:` and `training:` (RLConfig fields; `reward:` inside it holds RewardConfig fields).
Unknown keys and impossible combinations are rejected when the config is built, naming the fields.
The fields shared with TrainConfig (model loading, guards) keep TrainConfig's names and meanings, so
the same loader and guard callbacks serve both stages.
"""

from __future__ import annotations

import importlib.util
from dataclasses import asdict, dataclass, field, fields

from t2s_pipeline.training.config import (
    ATTENTIONS, COMPUTE_DTYPES, PRECISIONS, QUANTIZATIONS, SCHEDULERS, read_preset,
)
from t2s_pipeline.training.reward import RewardConfig

GENERATIONS = ("auto", "hf", "vllm")
LOSS_TYPES = ("grpo", "dr_grpo", "dapo", "bnpo")
SCALE_REWARDS = ("group", "batch", "none")
PROMPT_SPLITS = ("train", "dev")
OPTIMIZERS = ("adamw_torch", "sgd")


def _f(default, help: str):
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda: type(default)(default), metadata={"help": help})
    return field(default=default, metadata={"help": help})


def vllm_installed() -> bool:
    return importlib.util.find_spec("vllm") is not None


@dataclass
class RLConfig:
    # GRPO
    num_generations: int = _f(8, "Group size: completions sampled per prompt; advantages are relative to the group.")
    beta: float = _f(0.0, "KL coefficient against the SFT adapter the run starts from; 0 loads no reference.")
    learning_rate: float = _f(1e-6, "Peak learning rate of the adapter weights.")
    max_completion_length: int = _f(256, "Tokens generated per completion at most.")
    temperature: float = _f(1.0, "Sampling temperature of the completions.")
    top_p: float = _f(1.0, "Nucleus sampling: keep the smallest token set with this probability mass (1 keeps all).")
    max_steps: int = _f(100, "Optimizer steps.")
    per_device_train_batch_size: int = _f(8, "Completions per device per micro-step.")
    gradient_accumulation_steps: int = _f(1, "Micro-steps per optimizer step; one generation batch feeds them all.")
    num_iterations: int = _f(1, "Optimizer passes over each generation batch (GRPO's mu).")
    epsilon: float = _f(0.2, "Clipping range of the probability ratio.")
    loss_type: str = _f("dapo", "Loss aggregation: grpo, dr_grpo, dapo (token-level, TRL's default) or bnpo.")
    scale_rewards: str = _f("group", "Divide advantages by the reward std of the group, the batch, or not at all (none).")
    prompt_split: str = _f("train", "Split whose questions are the prompts: 'train' (the SFT adapter's own questions) "
                                    "or 'dev' (questions SFT never trained on, where its completions still differ; "
                                    "the test split, which eval_report scores, is never used).")
    max_prompts: int = _f(0, "Use at most this many questions of prompt_split as prompts (drawn with the seed); "
                             "0 uses all.")
    hardest_of: int = _f(0, "Draw this many questions of prompt_split (with the seed), score each by the SFT adapter's "
                            "summed loss on its gold answer, and keep the max_prompts hardest as prompts: where its "
                            "completions still differ, so groups have mixed rewards (on the demo the top fifth gave "
                            "40% mixed groups, a random draw 20%). 0: max_prompts drawn at random.")
    mixed_only: bool = _f(False, "Before training, sample num_generations completions of each prompt as training will "
                                 "(same temperature, top_p, constraint) and keep only the prompts whose group had "
                                 "some completions right and some wrong: a group that all agree has zero advantage "
                                 "and teaches nothing (the offline form of DAPO's dynamic sampling). Costs one sampling "
                                 "pass (the demo's 60 prompts x 8: 22-29 s). When no prompt is mixed, all are kept "
                                 "and the log says so.")
    literal_variants: int = _f(0, "Literal-swapped copies of each train question added to the prompts, kept where "
                                  "the literal decides the result (training/rl_prompts.py). On its own train "
                                  "questions a fine-tuned model is nearly always right and GRPO gets no signal; "
                                  "unseen literals are where a small model still fails. 0: the questions alone.")
    constrained: bool = _f(False, "Sample completions under the constraint eval_report decodes with (literals from the "
                                  "question, names from the database: modeling/constrained.py), so the rewards "
                                  "judge the choices that constraint leaves to the model. Needs generation hf "
                                  "(auto picks hf).")
    generation: str = _f("auto", "Who samples completions: 'hf' (model.generate), 'vllm' (TRL's colocated vLLM; "
                                 "needs vllm and a GPU), or 'auto' (vllm when installed on a GPU, else hf).")
    vllm_gpu_memory_utilization: float = _f(0.3, "Share of GPU memory vLLM may take in colocate mode.")
    reward: dict = _f({}, "RewardConfig fields: correct, executes, failed, format_bonus, format_gate, timeout_s, "
                          "max_rows, protocol, workers (see training/reward.py).")
    optimizer: str = _f("adamw_torch", "'adamw_torch' or 'sgd'. Adam moves every weight by about the learning rate "
                                       "each step whatever the gradient's size, and keeps moving through steps whose "
                                       "groups all agree (zero gradient); SGD's step is the gradient's size: a weak "
                                       "reward signal moves the adapter little.")
    # Schedule and checkpoints
    lr_scheduler_type: str = _f("constant_with_warmup", "Learning-rate schedule: cosine, linear or constant_with_warmup.")
    warmup_steps: int = _f(0, "Linear warmup steps.")
    max_grad_norm: float = _f(1.0, "Gradient clipping norm (0 turns clipping off).")
    logging_steps: int = _f(1, "Log reward, share correct, KL and completion length every N steps.")
    save_steps: int = _f(0, "Save a checkpoint every N steps; 0 saves only the final adapter.")
    save_total_limit: int = _f(2, "Checkpoints kept on disk.")
    # Model loading (as TrainConfig)
    quantization: str = _f("none", "Base weights: 'none', '8bit' or '4bit-nf4' (QLoRA).")
    bnb_4bit_compute_dtype: str = _f("bf16", "Compute dtype of 4-bit layers: bf16, fp16 or fp32.")
    bnb_4bit_use_double_quant: bool = _f(True, "Quantize the 4-bit quantization constants too.")
    precision: str = _f("auto", "'auto' (bf16 where the GPU supports it, else fp16; fp32 on CPU), bf16, fp16 or fp32.")
    attn_implementation: str = _f("auto", "'auto', 'flash_attention_2', 'sdpa' or 'eager'.")
    activation_checkpointing: bool = _f(False, "Recompute activations in backward to save memory.")
    # Guards (as TrainConfig)
    stop_on_nan: bool = _f(True, "Stop on a NaN/inf loss or gradient norm; the newest checkpoint before it is kept.")
    max_grad_norm_to_stop: float = _f(1e4, "Stop when the pre-clip gradient norm exceeds this; 0 turns it off.")
    max_wall_hours: float = _f(0.0, "Budget: stop cleanly with a checkpoint after this many hours; 0 is no limit.")
    price_per_gpu_hour: float = _f(0.0, "Price of one device hour, for the estimated cost (0 reports none).")
    debug_inject_nan_at_step: int = _f(0, "FOR TESTS ONLY: make the loss of this optimizer step (1-based) NaN.")
    init_from: str = _f("", "The SFT adapter the run continues (set by the rl_adapter asset).")
    seed: int = _f(0, "Seed of the prompt order, the sampling and the prompt draw.")

    def __post_init__(self):
        problems = self.problems()
        if problems:
            raise ValueError("invalid RL config: " + "; ".join(problems))

    def reward_config(self) -> RewardConfig:
        return RewardConfig.from_dict(self.reward)

    def problems(self) -> list[str]:
        p = []
        for name, allowed in (("generation", GENERATIONS), ("loss_type", LOSS_TYPES), ("scale_rewards", SCALE_REWARDS),
                              ("lr_scheduler_type", SCHEDULERS), ("quantization", QUANTIZATIONS),
                              ("precision", PRECISIONS), ("bnb_4bit_compute_dtype", COMPUTE_DTYPES),
                              ("attn_implementation", ATTENTIONS), ("prompt_split", PROMPT_SPLITS),
                              ("optimizer", OPTIMIZERS)):
            if getattr(self, name) not in allowed:
                p.append(f"{name} must be one of {', '.join(allowed)}, got {getattr(self, name)!r}")
        if self.num_generations < 2:
            p.append(f"num_generations must be at least 2 (advantages compare a group), got {self.num_generations}")
        for name in ("learning_rate", "temperature", "max_completion_length", "max_steps", "per_device_train_batch_size",
                     "gradient_accumulation_steps", "num_iterations", "logging_steps"):
            if getattr(self, name) <= 0:
                p.append(f"{name} must be positive, got {getattr(self, name)}")
        for name in ("beta", "epsilon", "max_prompts", "hardest_of", "literal_variants", "warmup_steps",
                     "max_grad_norm", "save_steps", "max_grad_norm_to_stop", "max_wall_hours", "price_per_gpu_hour",
                     "debug_inject_nan_at_step"):
            if getattr(self, name) < 0:
                p.append(f"{name} must not be negative, got {getattr(self, name)}")
        if not 0.0 < self.top_p <= 1.0:
            p.append(f"top_p must be in (0, 1], got {self.top_p}")
        if not 0.0 < self.vllm_gpu_memory_utilization <= 1.0:
            p.append(f"vllm_gpu_memory_utilization must be in (0, 1], got {self.vllm_gpu_memory_utilization}")
        if self.hardest_of and not 0 < self.max_prompts < self.hardest_of:
            p.append(f"hardest_of {self.hardest_of} keeps the max_prompts hardest: max_prompts must be between 1 and "
                     f"{self.hardest_of - 1}, got {self.max_prompts}")
        if self.hardest_of and self.literal_variants:
            p.append("hardest_of scores the questions' own gold answers; literal_variants adds copies with other "
                     "answers: use one or the other")
        if self.constrained and self.generation == "vllm":
            p.append("constrained sampling runs in model.generate: generation must be hf or auto, got 'vllm'")
        if self.save_steps and self.save_total_limit < 1:
            p.append(f"save_total_limit must be at least 1 when save_steps is set, got {self.save_total_limit}")
        if self.debug_inject_nan_at_step > self.max_steps:
            p.append(f"debug_inject_nan_at_step {self.debug_inject_nan_at_step} is after max_steps {self.max_steps}")
        try:
            self.reward_config()
        except (TypeError, ValueError) as error:
            p.append(f"reward: {error}")
        return p

    def batch_problem(self, world_size: int) -> str | None:
        """Why the launch cannot hold whole groups, or None: each generation batch (per device x accumulation x
        processes) must be a multiple of num_generations."""
        batch = self.per_device_train_batch_size * self.gradient_accumulation_steps * world_size
        if batch % self.num_generations:
            return (f"per_device_train_batch_size {self.per_device_train_batch_size} x gradient_accumulation_steps "
                    f"{self.gradient_accumulation_steps} x {world_size} processes = {batch} completions a step, not a "
                    f"multiple of num_generations {self.num_generations}")
        return None

    def use_vllm(self, cuda: bool) -> bool:
        if self.generation == "vllm":
            if not (vllm_installed() and cuda):
                raise ValueError(f"generation vllm needs the vllm package and a GPU (installed: {vllm_installed()}, "
                                 f"cuda: {cuda}); use auto or hf")
            return True
        return self.generation == "auto" and cuda and vllm_installed() and not self.constrained

    @classmethod
    def from_dict(cls, values: dict) -> "RLConfig":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown RL config key(s): {', '.join(unknown)}; known keys: {', '.join(sorted(known))}")
        return cls(**values)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def help(cls) -> dict[str, str]:
        return {f.name: f.metadata["help"] for f in fields(cls)}


def load_rl_preset(name_or_path: str) -> RLConfig:
    """An RL preset by name (`rl-tiny`, from t2s_pipeline/configs/) or a YAML path."""
    return RLConfig.from_dict(read_preset(name_or_path)["training"] or {})
