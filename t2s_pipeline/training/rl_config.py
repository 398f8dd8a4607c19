"""The reinforcement-learning recipe (GRPO after SFT): a typed config with a description per field.

A preset file t2s_pipeline/configs/rl-<name>.yaml holds `model:` (the base it was written for),
`launch_profile:` and `training:` (RLConfig fields; `reward:` inside it holds RewardConfig fields).
Unknown keys and impossible combinations are rejected when the config is built, naming the fields.
The fields shared with TrainConfig (model loading, guards) keep TrainConfig's names and meanings, so
the same loader and guard callbacks serve both stages.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass

from t2s_pipeline.modeling.constraint import CHOICES, DEFAULT
from t2s_pipeline.training.config import read_preset
from t2s_pipeline.training.config_fields import StageFields
from t2s_pipeline.training.config_fields import described as _f
from t2s_pipeline.training.reward import RewardConfig

GENERATIONS = ("auto", "hf", "vllm")
LOSS_TYPES = ("grpo", "dr_grpo", "dapo", "bnpo")
SCALE_REWARDS = ("group", "batch", "none")
PROMPT_SPLITS = ("train", "dev")
OPTIMIZERS = ("adamw_torch", "sgd")


def vllm_installed() -> bool:
    return importlib.util.find_spec("vllm") is not None


@dataclass
class RLConfig(StageFields):
    """The GRPO recipe (rl_adapter); the fields it shares with SFT are StageFields', some with other defaults."""

    KIND = "RL"
    # GRPO
    num_generations: int = _f(8, "Group size: completions sampled per prompt; advantages are relative to the group.")
    beta: float = _f(0.0, "KL coefficient against the SFT adapter the run starts from; 0 loads no reference.")
    learning_rate: float = _f(1e-6, "Peak learning rate of the adapter weights.")
    max_completion_length: int = _f(256, "Tokens generated per completion at most.")
    temperature: float = _f(1.0, "Sampling temperature of the completions.")
    top_p: float = _f(1.0, "Nucleus sampling: keep the smallest token set with this probability mass (1 keeps all).")
    max_steps: int = _f(100, "Optimizer steps.")
    per_device_train_batch_size: int = _f(8, "Completions per device per micro-step.")
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
    constraint: str = _f("none", "Sample completions under a constraint, as eval_report decodes: 'grammar' (the "
                                 "database's SQL grammar through llguidance: modeling/sql_grammar.py), 'rules' (the "
                                 "hand rules: modeling/constrained.py), 'grammar+rules', 'none', or 'default' (the "
                                 "base model folder's: rules for the tiny models, none for hub models), so the rewards "
                                 "judge the choices the constraint leaves to the model. Runs in model.generate: needs "
                                 "generation hf (auto picks hf).")
    generation: str = _f("auto", "Who samples completions: 'hf' (model.generate), 'vllm' (TRL's colocated vLLM; "
                                 "needs vllm and a GPU), or 'auto' (vllm when installed on a GPU, else hf).")
    vllm_gpu_memory_utilization: float = _f(0.3, "Share of GPU memory vLLM may take in colocate mode.")
    reward: dict = _f({}, "RewardConfig fields: correct, executes, failed, format_bonus, format_gate, timeout_s, "
                          "max_rows, protocol, workers (see training/reward.py).")
    optimizer: str = _f("adamw_torch", "'adamw_torch' or 'sgd'. Adam moves every weight by about the learning rate "
                                       "each step whatever the gradient's size, and keeps moving through steps whose "
                                       "groups all agree (zero gradient); SGD's step is the gradient's size: a weak "
                                       "reward signal moves the adapter little.")
    # Shared with SFT (StageFields), with RL's own defaults
    lr_scheduler_type: str = _f("constant_with_warmup", "Learning-rate schedule: cosine, linear or "
                                                        "constant_with_warmup.")
    warmup_steps: int = _f(0, "Linear warmup steps.")
    logging_steps: int = _f(1, "Log reward, share correct, KL and completion length every N steps.")

    def __post_init__(self):
        problems = self.problems()
        if problems:
            raise ValueError("invalid RL config: " + "; ".join(problems))

    def reward_config(self) -> RewardConfig:
        return RewardConfig.from_dict(self.reward)

    def problems(self) -> list[str]:
        p = self.shared_problems()
        for name, allowed in (("generation", GENERATIONS), ("loss_type", LOSS_TYPES), ("scale_rewards", SCALE_REWARDS),
                              ("prompt_split", PROMPT_SPLITS), ("optimizer", OPTIMIZERS)):
            if getattr(self, name) not in allowed:
                p.append(f"{name} must be one of {', '.join(allowed)}, got {getattr(self, name)!r}")
        if self.num_generations < 2:
            p.append(f"num_generations must be at least 2 (advantages compare a group), got {self.num_generations}")
        for name in ("temperature", "max_completion_length", "max_steps", "num_iterations"):
            if getattr(self, name) <= 0:
                p.append(f"{name} must be positive, got {getattr(self, name)}")
        for name in ("beta", "epsilon", "max_prompts", "hardest_of", "literal_variants"):
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
        if self.constraint not in CHOICES:
            p.append(f"constraint must be one of {', '.join(CHOICES)}, got {self.constraint!r}")
        elif self.constraint not in ("none", DEFAULT) and self.generation == "vllm":
            p.append("constrained sampling runs in model.generate: generation must be hf or auto, got 'vllm'")
        try:
            self.reward_config()
        except (TypeError, ValueError) as error:
            p.append(f"reward: {error}")
        return p

    def batch_problem(self, world_size: int) -> str | None:
        """Why the launch cannot hold whole groups, or None: each generation batch (per device x accumulation x
        processes) must be a multiple of num_generations."""
        batch = self.effective_batch(world_size)
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
        return self.generation == "auto" and cuda and vllm_installed() and self.constraint == "none"


def load_rl_preset(name_or_path: str) -> RLConfig:
    """An RL preset by name (`rl-tiny`, from t2s_pipeline/configs/) or a YAML path."""
    return RLConfig.from_dict(read_preset(name_or_path)["training"] or {})
