"""Model selection by generated SQL, for every model family: a Trainer callback.

Every `generation_eval_steps` the model writes SQL for a fixed dev sample; the core judge (sql/execute.py
in a read-only sandbox, sql/compare.py) scores execution accuracy and record F1 (F1 of the returned rows),
both are logged (loss log, trainer_state, W&B, Pipes), and the best model by `metric_for_best` so far is
saved to `best_dir`. With `metric_for_best: eval_loss` the loss-only evaluation (every `eval_steps`) is
what selects. After `patience` selection evaluations in a row without a strict improvement, training
stops. The result of the run is then the saved best model, not the last weights.

Every rank generates and judges the same dev sample (greedy or beam search is deterministic), so all
ranks take the same stop decision at the same step; saving goes through Trainer.save_model, which
writes on the main process (and gathers DeepSpeed ZeRO-3 shards). The history is kept in
`state_path` (selection.json), so a resumed run keeps the evaluations made before its checkpoint.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from t2s_pipeline.records import read_jsonl
from t2s_pipeline.samples.trajectories import WHOLE_QUERY_KINDS

LOWER_IS_BETTER = ("eval_loss",)
GENERATED_METRICS = ("execution_accuracy", "record_f1")


@dataclass
class SelectionItem:
    conversation: list[dict]
    gold_sql: str
    db_path: str


@dataclass
class Selection:
    """What the selection saw: one history entry per evaluation, and the best so far."""
    metric: str
    patience: int
    history: list[dict] = field(default_factory=list)
    best_step: int | None = None
    best_value: float | None = None
    evaluations_without_improvement: int = 0
    stopped_early_at: int | None = None

    def better(self, value: float) -> bool:
        if self.best_value is None:
            return True
        return value < self.best_value if self.metric in LOWER_IS_BETTER else value > self.best_value

    def observe(self, step: int, value: float) -> bool:
        """Count one selection evaluation; True when it is a new best."""
        if self.better(value):
            self.best_step, self.best_value, self.evaluations_without_improvement = step, value, 0
            return True
        self.evaluations_without_improvement += 1
        return False

    def out_of_patience(self) -> bool:
        return bool(self.patience) and self.evaluations_without_improvement >= self.patience

    def entry(self, step: int) -> dict:
        for e in self.history:
            if e["step"] == step:
                return e
        self.history.append({"step": step})
        return self.history[-1]

    def replay(self, upto_step: int) -> None:
        """Keep the evaluations up to a resumed checkpoint's step and recount the best from them."""
        kept = [e for e in self.history if e["step"] <= upto_step]
        self.history, self.best_step, self.best_value = [], None, None
        self.evaluations_without_improvement, self.stopped_early_at = 0, None
        for e in kept:
            self.history.append(e)
            if e.get(self.metric) is not None:
                self.observe(e["step"], e[self.metric])

    def to_dict(self) -> dict:
        return asdict(self)


def load_selection_items(dev_jsonl: str | Path, databases_dir: str | Path, limit: int) -> list[SelectionItem]:
    """The first `limit` whole-query dev samples (standard SQL when the split has it, else whole pipe queries)."""
    samples = list(read_jsonl(dev_jsonl)) if Path(dev_jsonl).is_file() else []
    kind = next((k for k in WHOLE_QUERY_KINDS if any(s["meta"]["kind"] == k for s in samples)), None)
    chosen = [s for s in samples if s["meta"]["kind"] == kind][:limit]
    if not chosen:
        raise ValueError(f"model selection: no whole-query dev sample in {dev_jsonl}")
    return [SelectionItem([m for m in s["messages"] if m["role"] != "assistant"], s["meta"]["gold_sql"],
                          str(Path(databases_dir) / f"{s['meta']['db_id']}.sqlite")) for s in chosen]


def score(model, tokenizer, items: list[SelectionItem], num_beams: int, max_new_tokens: int,
          batch_size: int = 16) -> dict:
    """Generate SQL for the items and judge it: execution accuracy and mean record F1."""
    from t2s_pipeline.modeling.generate import default_num_beams, generate_sql
    from t2s_pipeline.sql.judge import prepare_sql
    from t2s_pipeline.sql.judge_many import judge_many

    start = time.monotonic()
    was_training = model.training
    model.eval()
    try:
        sqls = generate_sql(model, tokenizer, [i.conversation for i in items], batch_size, max_new_tokens,
                            num_beams or default_num_beams(model))
    finally:
        model.train(was_training)
    verdicts = judge_many([(i.db_path, i.gold_sql, prepare_sql(sql)) for i, sql in zip(items, sqls)], workers=1)
    n = len(items)
    return {"execution_accuracy": round(sum(v["correct"] for v in verdicts) / n, 4),
            "record_f1": round(sum(v["f1"] for v in verdicts) / n, 4),
            "generation_eval_seconds": round(time.monotonic() - start, 2)}


def make_selection_callback(cfg, items: list[SelectionItem] | None, tokenizer, best_dir: Path, state_path: Path,
                            is_rank0: bool, log=lambda msg: None):
    """The callback; set its `trainer` attribute once the Trainer exists (best models are saved through it)."""
    from transformers import TrainerCallback

    selection = Selection(cfg.metric_for_best, cfg.patience)

    class SelectionCallback(TrainerCallback):
        trainer = None

        def __init__(self):
            self.selection = selection
            self.training = False

        def resume(self, upto_step: int) -> None:
            if state_path.is_file():
                saved = json.loads(state_path.read_text())
                selection.history = saved.get("history", [])
                selection.replay(upto_step)
                log(f"selection: kept {len(selection.history)} evaluations made before step {upto_step}")

        def on_train_begin(self, args, state, control, **kwargs):
            self.training = True

        def on_train_end(self, args, state, control, **kwargs):
            self.training = False  # the evaluation after training is not a selection step

        def on_step_end(self, args, state, control, model=None, **kwargs):
            every = cfg.generation_eval_steps
            if not every or not (state.global_step % every == 0 or state.global_step == state.max_steps):
                return control
            figures = score(model, tokenizer, items, cfg.generation_num_beams, cfg.generation_max_new_tokens)
            selection.entry(state.global_step).update(figures)
            if self.trainer is not None:  # into the loss log, trainer_state, W&B and Pipes, like the losses
                self.trainer.log({f"dev_{k}": v for k, v in figures.items()})
            if cfg.metric_for_best in GENERATED_METRICS:
                self._select(state, control, figures[cfg.metric_for_best])
            if self.trainer is not None and self.trainer.eval_dataset is not None and \
                    cfg.metric_for_best in GENERATED_METRICS:
                control.should_evaluate = True  # the dev loss at the same step, for the record
            return control

        def on_evaluate(self, args, state, control, metrics=None, **kwargs):
            if not self.training or not metrics or "eval_loss" not in metrics:
                return control
            selection.entry(state.global_step)["eval_loss"] = round(float(metrics["eval_loss"]), 6)
            if cfg.metric_for_best == "eval_loss":
                self._select(state, control, float(metrics["eval_loss"]))
            self._write()
            return control

        def _select(self, state, control, value: float) -> None:
            if selection.observe(state.global_step, value):
                self.trainer.save_model(str(best_dir))
                if is_rank0:
                    (best_dir / "selected_step.json").write_text(json.dumps(
                        {"step": state.global_step, "metric": selection.metric, "value": value}) + "\n")
                log(f"selection: step {state.global_step} is the best so far, {selection.metric} {value:.4g}")
            else:
                log(f"selection: step {state.global_step}, {selection.metric} {value:.4g}, no better than "
                    f"{selection.best_value:.4g} at step {selection.best_step} "
                    f"({selection.evaluations_without_improvement} of patience {selection.patience or 'unlimited'})")
            if selection.out_of_patience():
                selection.stopped_early_at = state.global_step
                control.should_training_stop = True
                log(f"selection: no improvement in {selection.patience} evaluations: stopping at step "
                    f"{state.global_step}; the result is step {selection.best_step}")
            self._write()

        def _write(self) -> None:
            if is_rank0:
                state_path.parent.mkdir(parents=True, exist_ok=True)
                state_path.write_text(json.dumps(selection.to_dict(), indent=2) + "\n")

    return SelectionCallback()


def best_model_step(best_dir: Path) -> int | None:
    """The step of the model saved in best_dir, or None when none was saved."""
    marker = Path(best_dir) / "selected_step.json"
    return json.loads(marker.read_text())["step"] if marker.is_file() else None


def copy_best(best_dir: Path, dest: Path) -> None:
    """The selected model becomes the run's result folder."""
    shutil.rmtree(dest, ignore_errors=True)
    shutil.copytree(best_dir, dest)


def make_zero_lr_callback(after_step: int):
    """FOR TESTS ONLY: a learning rate of 0 for every optimizer step after `after_step` (weights stop changing)."""
    from transformers import TrainerCallback

    class ZeroLearningRate(TrainerCallback):
        # on_step_begin runs after the scheduler set this step's rate and before the optimizer uses it.
        def on_step_begin(self, args, state, control, optimizer=None, **kwargs):
            if state.global_step >= after_step and optimizer is not None:
                for group in optimizer.param_groups:
                    group["lr"] = 0.0

    return ZeroLearningRate()
