"""The execution reward for reinforcement learning: run the completion's SQL, compare with the gold.

Arctic-Text2SQL-R1's reward by default: 1 when the result matches the gold, 0.1 when the SQL runs but
the result differs, 0 otherwise (an error, a timeout, a write or ATTACH refused by the sandbox, several
statements, prose). A format term applies where the sample asks for a format: a pipe target must read
back as pipe SQL (`|>`, parsed by sql/pipe_read.py), a chain-of-thought answer must put its SQL in a
```sql block. With `format_gate` a completion without the asked format scores 0 whatever it returns;
`format_bonus` adds to the score of one that has it.

Every query runs in the core sandbox (sql/execute.py: read-only, authorizer, one statement, a
wall-clock limit inside SQLite, a row cap), so a runaway completion costs at most `timeout_s` per
database. The comparison is one call, `judge_on_databases(pred, gold, databases, ordered, timeout_s)`:
correct only when the prediction matches the gold on every database it is given (the original, then
test-suite variants when there are some). A batch is scored in parallel processes when `workers` > 1;
a worker that does not answer in time is killed and its completions score 0.
No torch here: the reward runs the same inside the training processes and in a test.
"""

from __future__ import annotations

import multiprocessing
import re
from dataclasses import dataclass
from functools import lru_cache

from t2s_pipeline.sql.compare import SPIDER
from t2s_pipeline.sql.execute import NOT_SQL, WRONG_RESULT
from t2s_pipeline.training.config_fields import ConfigRecord
from t2s_pipeline.training.config_fields import described as _f

# What a sample asks its answer to look like (the reward dataset's `answer_format` column).
SQL, PIPE, COT = "sql", "pipe", "cot"
ANSWER_FORMATS = (SQL, PIPE, COT)
BAD_FORMAT = "bad_format"
WATCHDOG_SLACK_S = 10.0  # on top of the sandbox limits, before a silent worker is killed

_SQL_BLOCK = re.compile(r"```(?:sqlite|sql)\s*\n?(.*?)```", re.DOTALL | re.IGNORECASE)


@dataclass(frozen=True)
class RewardConfig(ConfigRecord):
    KIND = "reward"

    correct: float = _f(1.0, "Reward for SQL whose result matches the gold on every database.")
    executes: float = _f(0.1, "Reward for SQL that runs but returns another result.")
    failed: float = _f(0.0, "Reward for everything else: errors, timeouts, refused statements, prose.")
    format_bonus: float = _f(0.0, "Added when the completion has the format its sample asks for (pipe SQL that "
                                  "reads back, or a ```sql block after the reasoning); 0 adds nothing.")
    format_gate: bool = _f(True, "A completion without the format its sample asks for scores `failed`, whatever "
                                 "its SQL returns. Plain-SQL samples ask for no format.")
    timeout_s: float = _f(2.0, "Wall-clock limit per query and database in the sandbox (the gold gets 6x).")
    max_rows: int = _f(10_000, "Rows fetched per query at most (the row cap).")
    protocol: str = _f(SPIDER, "Result comparison: 'spider' (multisets of rows, any column order) or 'bird' (sets).")
    workers: int = _f(1, "Processes that score a batch; 1 scores in the calling process.")

    def __post_init__(self):
        problems = [f"{name} must not be negative, got {getattr(self, name)}"
                    for name in ("correct", "executes", "failed", "format_bonus") if getattr(self, name) < 0]
        if self.timeout_s <= 0:
            problems.append(f"timeout_s must be positive, got {self.timeout_s}")
        if self.max_rows <= 0:
            problems.append(f"max_rows must be positive, got {self.max_rows}")
        if self.workers < 1:
            problems.append(f"workers must be at least 1, got {self.workers}")
        if self.protocol not in ("spider", "bird"):
            problems.append(f"protocol must be spider or bird, got {self.protocol!r}")
        if not self.correct > self.executes >= self.failed:
            problems.append(f"rewards must order correct > executes >= failed, got {self.correct}, "
                            f"{self.executes}, {self.failed}")
        if problems:
            raise ValueError("invalid reward config: " + "; ".join(problems))



# --- one completion ------------------------------------------------------------------------------------


def completion_text(completion) -> str:
    """The text of a completion: a string, or TRL's conversational form (a list of messages)."""
    if isinstance(completion, str):
        return completion
    return "".join(m.get("content") or "" for m in completion if m.get("role", "assistant") == "assistant")


def answer_sql(text: str, answer_format: str = SQL) -> tuple[str, bool]:
    """(the SQL to run, whether the text has the format asked for)."""
    from t2s_pipeline.modeling.generate import extract_sql, strip_thinking

    text = strip_thinking(text)  # a thinking model's reasoning may hold a ```sql block of its own
    if answer_format == COT:
        blocks = _SQL_BLOCK.findall(text)
        return (blocks[-1].strip().rstrip(";").strip(), True) if blocks else (extract_sql(text), False)
    sql = extract_sql(text)
    if answer_format == PIPE:
        return sql, reads_as_pipe(sql)
    if answer_format != SQL:
        raise ValueError(f"answer_format must be one of {ANSWER_FORMATS}, got {answer_format!r}")
    return sql, True


@lru_cache(maxsize=4096)
def reads_as_pipe(sql: str) -> bool:
    """Pipe SQL that sqlglot reads back into SQLite: starts FROM, has `|>`, parses."""
    import sqlglot

    from t2s_pipeline.sql.pipe_read import read_pipe

    if "|>" not in sql or not sql.lstrip().upper().startswith("FROM"):
        return False
    try:
        read_pipe(sql)
    except (sqlglot.errors.SqlglotError, ValueError, RecursionError):
        return False
    return True


def judge_on_databases(pred_sql: str, gold_sql: str, databases: list[str], ordered: bool | None = None,
                       timeout_s: float = 2.0, max_rows: int = 10_000, protocol: str = SPIDER) -> dict:
    """A verdict for one prediction over a list of databases (the original first, then suite variants):
    {"correct", "executes", "reason", "error"}, from the one judge evaluation uses too (sql/judge.py).
    Correct only when it matches the gold on every database; `executes` when it ran on the original."""
    from t2s_pipeline.sql.judge import judge

    verdict = judge(pred_sql, gold_sql, databases, ordered=ordered, timeout_s=timeout_s, protocol=protocol,
                    max_rows=max_rows, connections=_CONNECTIONS)
    executes = verdict.correct or verdict.reason == WRONG_RESULT or bool(verdict.original_correct)
    return {"correct": verdict.correct, "executes": executes, "reason": verdict.reason, "error": verdict.error}


_CONNECTIONS: dict = {}  # read-only connections per database file, kept per process across batches


def score_one(text: str, gold_sql: str, databases: list[str], answer_format: str = SQL,
              ordered: bool | None = None, cfg: RewardConfig = RewardConfig()) -> dict:
    """{"reward", "correct", "executes", "format_ok", "reason"} for one completion's text."""
    sql, format_ok = answer_sql(text, answer_format)
    if not format_ok and cfg.format_gate:
        return {"reward": cfg.failed, "correct": False, "executes": False, "format_ok": False, "reason": BAD_FORMAT}
    if not sql.strip():
        verdict = {"correct": False, "executes": False, "reason": NOT_SQL}
    else:
        verdict = judge_on_databases(sql, gold_sql, databases, ordered, cfg.timeout_s, cfg.max_rows, cfg.protocol)
    base = cfg.correct if verdict["correct"] else cfg.executes if verdict["executes"] else cfg.failed
    bonus = cfg.format_bonus if format_ok and answer_format != SQL else 0.0
    return {"reward": base + bonus, "correct": verdict["correct"], "executes": verdict["executes"],
            "format_ok": format_ok, "reason": verdict["reason"]}


def _score_task(task: tuple) -> dict:
    text, gold_sql, databases, answer_format, ordered, cfg = task
    return score_one(text, gold_sql, databases, answer_format, ordered, cfg)


def _failed(cfg: RewardConfig, reason: str) -> dict:
    return {"reward": cfg.failed, "correct": False, "executes": False, "format_ok": False, "reason": reason}


# --- a batch, as TRL's GRPOTrainer calls it ----------------------------------------------------------------


class ExecutionReward:
    """A GRPOTrainer reward function: `reward(prompts, completions, gold_sql, databases, answer_format, ...)`.

    The dataset columns it reads: `gold_sql` (str), `databases` (list of SQLite paths, the original
    first), `answer_format` (sql, pipe or cot; default sql) and `ordered` (bool or None: None reads the
    gold's top-level ORDER BY). `last` keeps the details of the last batch (for logs and tests).
    """

    __name__ = "execution"

    def __init__(self, cfg: RewardConfig = RewardConfig()):
        self.cfg = cfg
        self._pool = None
        self.last: list[dict] = []

    def __call__(self, prompts=None, completions=None, gold_sql=None, databases=None, answer_format=None,
                 ordered=None, id=None, log_metric=None, log_extra=None, **_) -> list[float]:
        n = len(completions)
        tasks = [(completion_text(completions[i]), gold_sql[i], list(databases[i]),
                  (answer_format[i] if answer_format else None) or SQL,
                  ordered[i] if ordered else None, self.cfg) for i in range(n)]
        self.last = self.score(tasks)
        if log_extra is not None:  # columns of TRL's completions table (and of completions.jsonl)
            log_extra("id", list(id) if id else [None] * n)
            log_extra("verdict", [s["reason"] for s in self.last])
        if log_metric is not None and n:
            log_metric("execution/correct", sum(s["correct"] for s in self.last) / n)
            log_metric("execution/executes", sum(s["executes"] for s in self.last) / n)
            log_metric("execution/format_ok", sum(s["format_ok"] for s in self.last) / n)
        return [s["reward"] for s in self.last]

    def score(self, tasks: list[tuple]) -> list[dict]:
        if self.cfg.workers <= 1 or len(tasks) < 2:
            return [_score_task(t) for t in tasks]
        pool = self._get_pool()
        per_task = self.cfg.timeout_s * (6 + 1) * max(len(t[2]) for t in tasks)
        deadline = per_task * -(-len(tasks) // self.cfg.workers) + WATCHDOG_SLACK_S
        pending = pool.map_async(_score_task, tasks, chunksize=max(1, len(tasks) // (self.cfg.workers * 2)))
        try:
            return pending.get(timeout=deadline)
        except multiprocessing.TimeoutError:
            # A worker stuck outside SQLite's own limit: kill the pool, score each one alone with a short leash.
            self.close()
            return [self._score_alone(t, per_task + WATCHDOG_SLACK_S) for t in tasks]

    def _score_alone(self, task: tuple, limit_s: float) -> dict:
        pool = self._get_pool()
        try:
            return pool.apply_async(_score_task, (task,)).get(timeout=limit_s)
        except multiprocessing.TimeoutError:
            self.close()
            return _failed(self.cfg, "timeout")

    def _get_pool(self):
        if self._pool is None:
            # forkserver: forking a multi-threaded parent (torch's) can deadlock.
            self._pool = multiprocessing.get_context("forkserver").Pool(self.cfg.workers)
        return self._pool

    def close(self) -> None:
        if self._pool is not None:
            self._pool.terminate()
            self._pool.join()
            self._pool = None

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass
