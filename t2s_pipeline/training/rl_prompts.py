"""The prompts reinforcement learning samples from: one per train question, with what the reward needs.

Each row: `prompt` (the system and user turns of the question's whole-query sample, or its text in the
Alpaca format), `gold_sql`, `databases` (the question's SQLite file first, then the test-suite variants
that judge its gold query when a suite folder, the test_suites asset, is given), `answer_format` (sql,
pipe or cot: what the reward checks) and `id`.
"""

from __future__ import annotations

import random
from pathlib import Path

from t2s_pipeline.records import read_jsonl
from t2s_pipeline.samples.trajectories import WHOLE_QUERY_KINDS
from t2s_pipeline.sql.test_suite_read import suite_databases
from t2s_pipeline.training.reward import COT, PIPE, SQL


def answer_format(sample: dict) -> str:
    meta = sample["meta"]
    if meta.get("answer") == "cot":
        return COT
    return PIPE if meta["kind"] == "pipe_whole_query" else SQL


def question_databases(raw_dir: Path, db_id: str, gold_sql: str, suite_dir: Path | None = None) -> list[str]:
    """The question's database, then the test-suite variants that can judge its gold query (a variant on which
    the gold errors, times out or ties is left out: it must never count against a completion)."""
    return list(suite_databases(suite_dir, db_id, Path(raw_dir) / "databases" / f"{db_id}.sqlite", gold_sql))


def rl_prompts(trajectories_dir, raw_dir, split: str = "train", max_prompts: int = 0, seed: int = 0,
               suite_dir: Path | None = None) -> list[dict]:
    """One row per question of the split (standard-SQL samples when the split has them, else whole pipe
    queries; a question the mix repeated counts once), at most max_prompts of them drawn with the seed."""
    samples = [s for s in read_jsonl(Path(trajectories_dir) / f"{split}.jsonl") if s["meta"]["kind"] in WHOLE_QUERY_KINDS]
    kind = next((k for k in WHOLE_QUERY_KINDS if any(s["meta"]["kind"] == k for s in samples)), None)
    rows, seen = [], set()
    for s in samples:
        meta = s["meta"]
        if meta["kind"] != kind or meta["id"] in seen:
            continue
        seen.add(meta["id"])
        rows.append({"prompt": [m for m in s["messages"] if m["role"] != "assistant"],
                     "format": s.get("format", "chat"), "gold_sql": meta["gold_sql"],
                     "databases": question_databases(raw_dir, meta["db_id"], meta["gold_sql"], suite_dir),
                     "answer_format": answer_format(s), "id": meta["id"]})
    if not rows:
        raise ValueError(f"no whole-query sample ({' or '.join(WHOLE_QUERY_KINDS)}) in {trajectories_dir}/{split}.jsonl")
    if max_prompts and len(rows) > max_prompts:
        rows = random.Random(seed).sample(rows, max_prompts)
    return rows
