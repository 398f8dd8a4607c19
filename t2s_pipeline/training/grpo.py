"""GRPO entry point (reinforcement learning with the execution reward), run by `accelerate launch`.

    accelerate launch --config_file t2s_pipeline/configs/accelerate/single_process.yaml \
        -m t2s_pipeline.training.grpo --config run.json

run.json: {"model_dir", "trajectories_dir", "raw_dir", "output_dir", "rl": {RLConfig, init_from = the SFT
adapter}}, optionally "suite_dir" (test-suite databases: the reward must match on each), "checkpoint_dir",
"resume", "upload_checkpoints_to" and "wandb", as for train.py.
Writes output_dir/adapter (the adapter after RL), loss_log.jsonl (every logged figure), completions.jsonl
(each sampled completion with its reward and verdict), trainer_state.json and metrics.json. Under Dagster
Pipes rank 0 streams reward mean, share correct, KL and completion length, then sends the final metrics.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import functools
import json
import os
import shutil
import time
from pathlib import Path

from t2s_pipeline.training.pipes import open_pipes_on_rank0
from t2s_pipeline.training.rl_config import RLConfig
from t2s_pipeline.training.pipes import leave_process_group

# The figures the progress line shows: TRL's log keys -> short names.
PROGRESS = {"reward": "reward", "execution/correct": "correct", "kl": "kl",
            "completions/mean_length": "completion_len", "loss": "loss", "grad_norm": "grad_norm"}


def make_grpo_trainer_class(completions_path: Path | None, contexts=None):
    """TRL's GRPOTrainer with the guards, writing each generation batch's completions, rewards and verdicts
    to completions.jsonl (rank 0: the trainer gathers every process's completions there).
    contexts: a callable from a batch's prompt rows to one constraint context each; completions are then sampled
    under that constraint (modeling/constraint.py: grammar or hand rules; generation hf only)."""
    from trl import GRPOTrainer

    from t2s_pipeline.training.callbacks import make_guarded_trainer_class

    shared: dict = {}  # what the constraint keeps from step to step

    class RecordingGRPOTrainer(GRPOTrainer):
        _generations = 0
        _written = 0
        _batch_contexts = None

        def _generate_and_score_completions(self, inputs, *args, **kwargs):
            self._batch_contexts = contexts(inputs) if contexts else None
            output = super()._generate_and_score_completions(inputs, *args, **kwargs)
            self._generations += 1
            return output

        def _generate_single_turn(self, prompt_ids, *args, **kwargs):
            if self._batch_contexts is None or self.use_vllm:
                return super()._generate_single_turn(prompt_ids, *args, **kwargs)
            width = max(len(ids) for ids in prompt_ids)  # TRL left-pads the prompts to this width
            if self.pad_to_multiple_of:
                width = -(-width // self.pad_to_multiple_of) * self.pad_to_multiple_of
            with constrained_generate(self.accelerator.unwrap_model(self.model_wrapped), self.processing_class,
                                      self._batch_contexts, width, shared):
                return super()._generate_single_turn(prompt_ids, *args, **kwargs)

        def log(self, logs, start_time=None):
            if completions_path and self.accelerator.is_main_process and self._generations > self._written:
                self._written = self._generations
                self._write_completions()
            super().log(logs, start_time)

        def _write_completions(self):
            rewards = self._logs["rewards"]["execution"]
            extra = self._logs["extra"]
            with open(completions_path, "a") as f:
                for k, completion in enumerate(self._logs["completion"]):
                    text = completion if isinstance(completion, str) else "".join(
                        m.get("content") or "" for m in completion)
                    f.write(json.dumps({"step": self.state.global_step, "id": extra["id"][k], "completion": text,
                                        "reward": rewards[k], "verdict": extra["verdict"][k]}) + "\n")

    return make_guarded_trainer_class(base=RecordingGRPOTrainer)


@contextlib.contextmanager
def constrained_generate(model, tokenizer, contexts: list, prompt_width: int, shared: dict | None = None):
    """Within the block, model.generate samples under the contexts' constraint (grammar or hand rules): row i
    draws on contexts[i]."""
    from transformers import LogitsProcessorList

    from t2s_pipeline.modeling.constraint import constraint_processor
    from t2s_pipeline.modeling.generate import stop_token_ids

    processors = LogitsProcessorList([constraint_processor(tokenizer, contexts, prompt_width, 1,
                                                           stop_token_ids(tokenizer), {} if shared is None else shared)])
    model.generate = functools.partial(type(model).generate, model, logits_processor=processors)
    try:
        yield
    finally:
        del model.generate


def context_reader(constraint: str = "rules"):
    """A callable from prompt rows to their constraint contexts, each built once (a database's names and values
    are read once too)."""
    from t2s_pipeline.modeling.constraint import constraint_contexts
    from t2s_pipeline.training.reward import PIPE

    built: dict[str, object] = {}

    def contexts(rows: list[dict]) -> list:
        for pipe in (False, True):  # pipe answers decode under the pipe grammar
            new = {r["id"]: r for r in rows if r["id"] not in built and (r.get("answer_format") == PIPE) == pipe}
            if new:
                built.update(zip(new, constraint_contexts(constraint, [r["question"] for r in new.values()],
                                                          [r["databases"][0] for r in new.values()], pipe=pipe)))
        return [built[r["id"]] for r in rows]

    return contexts


def sampled_verdicts(model, tokenizer, rows: list[dict], cfg: RLConfig, reward, contexts=None) -> list[list[bool]]:
    """Whether each of num_generations completions of each row, sampled as training samples them (temperature,
    top_p, length, constraint), is correct by the reward's judge."""
    from t2s_pipeline.modeling.generate import sample_replies
    from t2s_pipeline.samples.prompts import ALPACA_TEMPLATE

    n = cfg.num_generations
    replies = sample_replies(model, tokenizer, [r["prompt"] for r in rows], n, cfg.per_device_train_batch_size,
                             cfg.max_completion_length, cfg.temperature, cfg.top_p,
                             ALPACA_TEMPLATE if rows[0]["format"] == "alpaca" else None,
                             contexts(rows) if contexts else None)
    per = lambda key: [r[key] for r in rows for _ in range(n)]
    reward(completions=[text for group in replies for text in group], gold_sql=per("gold_sql"),
           databases=per("databases"), answer_format=per("answer_format"))
    correct = [s["correct"] for s in reward.last]
    return [correct[i * n:(i + 1) * n] for i in range(len(rows))]


def rank0_choice(chosen: list[dict], candidates: list[dict]) -> list[dict]:
    """Rank 0's chosen rows, on every process. TRL forms each prompt's group from completions on several
    processes, so all must hold the same prompts in the same order, and losses or samples computed on each
    device may differ in the last bits (the candidates, drawn with the seed, are the same everywhere)."""
    from accelerate.utils import broadcast_object_list  # joins the process group accelerate launch set up

    ids = broadcast_object_list([[r["id"] for r in chosen]], from_process=0)[0]
    by_id = {r["id"]: r for r in candidates}
    return [by_id[i] for i in ids]


def prompt_dataset(rows: list[dict], tokenizer):
    """The dataset GRPOTrainer samples from: chat prompts as messages (the tokenizer's template), Alpaca
    prompts as their rendered text."""
    from datasets import Dataset

    from t2s_pipeline.samples.prompts import ALPACA_TEMPLATE

    def prompt(row):
        if row["format"] == "alpaca":
            return tokenizer.apply_chat_template(row["prompt"], chat_template=ALPACA_TEMPLATE, tokenize=False,
                                                 add_generation_prompt=True)
        return row["prompt"]

    if len({r["format"] for r in rows}) > 1:
        raise ValueError("the prompts mix the chat and Alpaca formats: GRPO needs one")
    return Dataset.from_list([{"prompt": prompt(r), "gold_sql": r["gold_sql"], "databases": r["databases"],
                               "answer_format": r["answer_format"], "id": r["id"], "question": r["question"]}
                              for r in rows])


def grpo(run: dict, cfg: RLConfig, pipes) -> dict:
    """Continue the SFT adapter cfg.init_from with GRPO on the questions of cfg.prompt_split; returns the metrics."""
    import torch
    from peft import PeftModel
    from transformers import AutoTokenizer, set_seed
    from trl import GRPOConfig

    from t2s_pipeline.modeling.decoding import resolve_constraint
    from t2s_pipeline.modeling.generate import masked_losses
    from t2s_pipeline.modeling.tokenize import CHAT_TEMPLATE_KWARGS
    from t2s_pipeline.training.callbacks import GuardState, make_guard_callback, quiet_stdout
    from t2s_pipeline.training.checkpoint_upload import make_checkpoint_upload_callback
    from t2s_pipeline.training.config import resolve_attention, resolve_precision
    from t2s_pipeline.training.reward import ExecutionReward
    from t2s_pipeline.training.rl_prompts import hardest_prompts, mixed_prompts, rl_prompts
    from t2s_pipeline.modeling.model_folder import ADAPTER_FILES, adapter_folder
    from t2s_pipeline.training.checkpoints import last_checkpoint_before, newest_complete_checkpoint
    from t2s_pipeline.training.model_setup import load_base_for_training
    from t2s_pipeline.training.run_figures import make_progress_callback, peak_memory_gib

    start = time.monotonic()
    out = Path(run["output_dir"])
    out.mkdir(parents=True, exist_ok=True)
    ckpt_dir = Path(run.get("checkpoint_dir") or out / "checkpoints")
    rank, world_size = int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))
    if problem := cfg.batch_problem(world_size):
        raise ValueError(problem)
    if not cfg.init_from:
        raise ValueError("init_from is empty: GRPO continues an SFT adapter")
    cfg = dataclasses.replace(cfg, constraint=resolve_constraint(cfg.constraint, run["model_dir"]))
    if cfg.constraint != "none" and cfg.generation == "vllm":
        raise ValueError(f"the base model's default constraint is {cfg.constraint!r}: constrained sampling runs in "
                         "model.generate, so generation must be hf or auto, got 'vllm'")
    cuda = torch.cuda.is_available()
    precision = resolve_precision(cfg, cuda, cuda and torch.cuda.is_bf16_supported())
    attention = resolve_attention(cfg, cuda)
    use_vllm = cfg.use_vllm(cuda)
    adapter = adapter_folder(cfg.init_from)
    has_tokenizer = (adapter / "tokenizer_config.json").is_file()
    tokenizer = AutoTokenizer.from_pretrained(adapter if has_tokenizer else run["model_dir"])
    tokenizer.padding_side = "left"
    set_seed(cfg.seed)
    base = load_base_for_training(run["model_dir"], cfg, precision, attention, cuda)
    base.config.use_cache = not cfg.activation_checkpointing  # generation needs the KV cache to be fast
    model = PeftModel.from_pretrained(base, str(adapter), is_trainable=True)
    rows = rl_prompts(run["trajectories_dir"], run["raw_dir"], cfg.prompt_split,
                      max_prompts=cfg.hardest_of or cfg.max_prompts, seed=cfg.seed,
                      suite_dir=Path(run["suite_dir"]) if run.get("suite_dir") else None,
                      literal_variants=cfg.literal_variants)
    candidates = rows
    if cfg.hardest_of:
        scored = time.monotonic()
        rows = hardest_prompts(rows, masked_losses(model.eval(), tokenizer, rows), cfg.max_prompts)
        pipes.log.info(f"prompts: the {len(rows)} of {cfg.hardest_of} {cfg.prompt_split} questions the SFT adapter "
                       f"finds hardest (summed loss on the gold answer), scored in {time.monotonic() - scored:.1f} s")
    reward = ExecutionReward(cfg.reward_config())
    contexts = context_reader(cfg.constraint) if cfg.constraint != "none" else None
    if cfg.mixed_only:
        sampled = time.monotonic()
        mixed = mixed_prompts(rows, sampled_verdicts(model.eval(), tokenizer, rows, cfg, reward, contexts))
        pipes.log.info(f"prompts: {len(mixed)} of {len(rows)} gave mixed groups ({cfg.num_generations} completions "
                       f"each sampled in {time.monotonic() - sampled:.1f} s)"
                       + ("; keeping them" if mixed else "; none did, keeping all (GRPO will learn little)"))
        rows = mixed or rows
    if world_size > 1 and rows is not candidates:
        rows = rank0_choice(rows, candidates)
    dataset = prompt_dataset(rows, tokenizer)
    pipes.log.info(f"GRPO from {adapter}: {len(rows)} prompts, {cfg.num_generations} completions each, "
                   f"world size {world_size}, generation {'vllm' if use_vllm else 'hf'}"
                   f"{'' if cfg.constraint == 'none' else f' (constraint: {cfg.constraint})'}, precision {precision}")
    args = GRPOConfig(
        output_dir=str(ckpt_dir),
        use_cpu=not cuda,
        learning_rate=cfg.learning_rate,
        optim=cfg.optimizer,
        lr_scheduler_type=cfg.lr_scheduler_type,
        warmup_steps=cfg.warmup_steps,
        max_steps=cfg.max_steps,
        per_device_train_batch_size=cfg.per_device_train_batch_size,
        gradient_accumulation_steps=cfg.gradient_accumulation_steps,
        num_generations=cfg.num_generations,
        max_completion_length=cfg.max_completion_length,
        chat_template_kwargs=dict(CHAT_TEMPLATE_KWARGS),  # thinking off, as in SFT and eval (modeling/tokenize.py)
        temperature=cfg.temperature,
        top_p=cfg.top_p,
        beta=cfg.beta,
        num_iterations=cfg.num_iterations,
        epsilon=cfg.epsilon,
        loss_type=cfg.loss_type,
        scale_rewards=cfg.scale_rewards,
        max_grad_norm=cfg.max_grad_norm,
        logging_steps=cfg.logging_steps,
        save_strategy="steps" if cfg.save_steps else "no",
        save_steps=cfg.save_steps or 500,
        save_total_limit=cfg.save_total_limit,
        bf16=precision == "bf16",
        fp16=precision == "fp16",
        gradient_checkpointing=cfg.activation_checkpointing,
        use_vllm=use_vllm,
        vllm_mode="colocate",
        vllm_gpu_memory_utilization=cfg.vllm_gpu_memory_utilization,
        seed=cfg.seed,
        data_seed=cfg.seed,
        report_to=["wandb"] if run.get("wandb") and rank == 0 else [],
        log_completions=False,  # completions.jsonl instead (TRL's printing floods the log)
        disable_tqdm=True,
        dataloader_num_workers=0,
    )
    guard = GuardState()
    uploader = make_checkpoint_upload_callback(run["upload_checkpoints_to"], log=pipes.log.info,
                                               warn=pipes.log.warning) if run.get("upload_checkpoints_to") else None
    trainer = make_grpo_trainer_class(out / "completions.jsonl" if rank == 0 else None, contexts)(
        model=model,
        reward_funcs=[reward],
        args=args,
        train_dataset=dataset,
        processing_class=tokenizer,
        callbacks=[make_progress_callback(pipes, out / "loss_log.jsonl", rank == 0, PROGRESS),
                   make_guard_callback(cfg, guard, log=pipes.log.warning if rank == 0 else (lambda m: None)),
                   *([uploader] if uploader else [])],
        guard=guard,
        inject_nan_at_step=cfg.debug_inject_nan_at_step,
    )
    quiet_stdout(trainer)
    resume_from = newest_complete_checkpoint(ckpt_dir, world_size, log=pipes.log.warning) \
        if run.get("resume", True) else None
    if resume_from is not None:
        pipes.log.info(f"resuming from {resume_from}")
    train_start = time.monotonic()
    try:
        trainer.train(resume_from_checkpoint=str(resume_from) if resume_from else None)
    finally:
        reward.close()
    train_seconds = time.monotonic() - train_start
    result_checkpoint = None
    if guard.bad:
        good = last_checkpoint_before(ckpt_dir, guard.bad_step)
        if good is not None and rank == 0:
            (out / "adapter").mkdir(parents=True, exist_ok=True)
            for name in ADAPTER_FILES:
                if (good / name).is_file():
                    shutil.copy2(good / name, out / "adapter" / name)
            tokenizer.save_pretrained(out / "adapter")
        result_checkpoint = good.name if good is not None else None
    else:
        trainer.save_model(str(out / "adapter"))
        if rank == 0:
            tokenizer.save_pretrained(out / "adapter")
    if rank == 0:
        _drop_reference_adapter(out / "adapter")
        trainer.state.save_to_json(str(out / "trainer_state.json"))
        if ckpt_dir != out / "checkpoints" and ckpt_dir.is_dir():
            for path in ckpt_dir.glob("checkpoint-*"):
                shutil.copytree(path, out / "checkpoints" / path.name, dirs_exist_ok=True)
    logs = [h for h in trainer.state.log_history if "reward" in h]
    first, last = (logs[0], logs[-1]) if logs else ({}, {})
    tail = logs[-max(1, len(logs) // 4):]  # one step's figures are noisy: the last quarter of the run's
    mean = lambda key: round(sum(h.get(key, 0.0) for h in tail) / len(tail), 4) if tail else None
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    device_hours = (time.monotonic() - start) / 3600.0 * world_size
    metrics = {
        "world_size": world_size,
        "generation": "vllm" if use_vllm else "hf",
        "precision": precision,
        "init_from": cfg.init_from,
        "prompts": len(rows),
        "sampling": "free" if cfg.constraint == "none" else f"constrained ({cfg.constraint})",
        "num_generations": cfg.num_generations,
        "steps": trainer.state.global_step,
        "first_reward": first.get("reward"),
        "final_reward": last.get("reward"),
        "reward_mean": mean("reward"),
        "share_correct": mean("execution/correct"),
        "first_share_correct": first.get("execution/correct"),
        "final_share_correct": last.get("execution/correct"),
        "final_kl": last.get("kl"),
        "final_completion_length": last.get("completions/mean_length"),
        "first_loss": losses[0] if losses else None,
        "final_loss": losses[-1] if losses else None,
        "train_seconds": round(train_seconds, 1),
        "stopped_reason": guard.stopped_reason,
        "bad_step": guard.bad_step if guard.bad else None,
        "bad_value": guard.bad_value,
        "result_checkpoint": result_checkpoint,
        "resumed_from": resume_from.name if resume_from is not None else None,
        "checkpoints_uploaded": uploader.uploaded if uploader else None,
        "device_hours": round(device_hours, 6),
        "peak_memory_gib": round(peak_memory_gib(cuda), 3),
        "estimated_cost": round(device_hours * cfg.price_per_gpu_hour, 4) if cfg.price_per_gpu_hour else None,
    }
    if rank == 0:
        (out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    return metrics


def _drop_reference_adapter(adapter_dir: Path) -> None:
    """With beta > 0 TRL keeps a frozen copy of the start adapter named `ref`, which save_model writes to
    adapter_dir/ref: the result is the trained `default` adapter alone."""
    shutil.rmtree(adapter_dir / "ref", ignore_errors=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True, help="run.json with model_dir, trajectories_dir, raw_dir, "
                                                        "output_dir, rl")
    run = json.loads(Path(parser.parse_args(argv).config).read_text())
    cfg = RLConfig.from_dict(run["rl"])
    with open_pipes_on_rank0() as pipes:
        metrics = grpo(run, cfg, pipes)
        pipes.report_custom_message({"metrics": metrics})
    leave_process_group()


if __name__ == "__main__":
    main()
