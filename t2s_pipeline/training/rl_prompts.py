"""The prompts reinforcement learning samples from: one per train question, with what the reward needs.

Each row: `prompt` (the system and user turns of the question's whole-query sample, or its text in the
Alpaca format), `gold_sql`, `databases` (the question's SQLite file first, then the test-suite variants
that judge its gold query when a suite folder, the test_suites asset, is given), `answer_format` (sql,
pipe or cot: what the reward checks), `question` (the user turn from the question on: what a constrained
completion may take its literals from), `messages` (the whole sample, answer included: what `hardest_prompts`
scores), `db_id` and `id`. With `literal_variants`, literal-swapped copies of
the questions join them (`literal_swapped_prompts`).
"""

from __future__ import annotations

import random
from pathlib import Path

from t2s_pipeline.samples.literal_swap import pair_keys, string_literals, swap_literals
from t2s_pipeline.samples.trajectories import WHOLE_QUERY_KINDS, held_out_pair_keys, whole_query_samples
from t2s_pipeline.sql.execute import execute_sql
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
               suite_dir: Path | None = None, literal_variants: int = 0) -> list[dict]:
    """One row per question of the split (standard-SQL samples when the split has them, else whole pipe
    queries; a question the mix repeated counts once), plus `literal_variants` literal-swapped copies of each
    where they qualify; at most max_prompts of them drawn with the seed."""
    samples = whole_query_samples(trajectories_dir, split)
    kind = next((k for k in WHOLE_QUERY_KINDS if any(s["meta"]["kind"] == k for s in samples)), None)
    rows, seen = [], set()
    for s in samples:
        meta = s["meta"]
        if meta["kind"] != kind or meta["id"] in seen:
            continue
        seen.add(meta["id"])
        prompt = [m for m in s["messages"] if m["role"] != "assistant"]
        rows.append({"prompt": prompt, "question": prompt[-1]["content"].rsplit("Question: ", 1)[-1],
                     "messages": s["messages"],
                     "format": s.get("format", "chat"), "gold_sql": meta["gold_sql"],
                     "databases": question_databases(raw_dir, meta["db_id"], meta["gold_sql"], suite_dir),
                     "answer_format": answer_format(s), "db_id": meta["db_id"], "id": meta["id"]})
    if not rows:
        raise ValueError(f"no whole-query sample ({' or '.join(WHOLE_QUERY_KINDS)}) in {trajectories_dir}/{split}.jsonl")
    if literal_variants:
        rows += literal_swapped_prompts(rows, trajectories_dir, raw_dir, literal_variants, seed, suite_dir)
    if max_prompts and len(rows) > max_prompts:
        rows = random.Random(seed).sample(rows, max_prompts)
    return rows


def literal_swapped_prompts(rows: list[dict], trajectories_dir, raw_dir, variants: int, seed: int = 0,
                            suite_dir: Path | None = None) -> list[dict]:
    """Up to `variants` copies of each standard-SQL prompt whose question states its literals, with those
    literals swapped for others in the question and the gold query alike (samples/literal_swap.py).

    A copy is kept only when its gold query returns rows on the question's database and a second swap of
    the same literals returns other ones (else a completion with a wrong literal could score as correct:
    an empty result, a count of 0), and when it matches no dev or test question or query.
    Why: on the train questions a fine-tuned model is nearly always right, so every completion of a group
    earns the same reward and GRPO learns nothing; copying a literal it has never seen is where a small model
    still fails, so these prompts give groups with mixed rewards."""
    held_out = held_out_pair_keys(trajectories_dir)
    rng, pool = random.Random(seed), string_literals([r["gold_sql"] for r in rows])
    swapped, seen = [], set()
    for row in rows:
        if row["answer_format"] != SQL:
            continue
        head, marker, rest = row["prompt"][-1]["content"].rpartition("Question: ")
        question, evidence_sep, evidence = rest.partition("\n\n")
        for k in range(variants):
            swap = swap_literals(question, row["gold_sql"], pool, rng)
            if not swap or swap in seen or swap == (question, row["gold_sql"]) or held_out & pair_keys(*swap):
                continue
            seen.add(swap)
            new_question, gold_sql = swap
            if not _literals_decide_the_result(row["databases"][0], new_question, gold_sql, pool, rng):
                continue
            user = {"role": "user", "content": head + marker + new_question + evidence_sep + evidence}
            swapped.append({**row, "prompt": [*row["prompt"][:-1], user], "gold_sql": gold_sql,
                            "question": new_question + evidence_sep + evidence,
                            "databases": question_databases(raw_dir, row["db_id"], gold_sql, suite_dir),
                            "id": f"{row['id']}/swap{k}"})
    return swapped


def _literals_decide_the_result(db_path: str, question: str, gold_sql: str, pool: list[str],
                                rng: random.Random) -> bool:
    """The gold query returns rows, and the same query with its literals swapped again returns other ones."""
    result = execute_sql(db_path, gold_sql, timeout_s=2.0)
    other = swap_literals(question, gold_sql, pool, rng)
    if not result.ok or not result.rows or other is None or other[1] == gold_sql:
        return False
    return execute_sql(db_path, other[1], timeout_s=2.0).rows != result.rows


def hardest_prompts(rows: list[dict], losses: list[tuple[float, int]], keep: int) -> list[dict]:
    """The `keep` rows of highest summed loss (losses[i]: the SFT model's (summed cross-entropy, tokens) on
    row i's gold answer). Why summed: a per-token mean ranks first the short answers the model gets wholly
    wrong, where every completion of a group fails alike; the summed loss finds the answers with a few
    uncertain choices, where some completions are right and some wrong."""
    if len(losses) != len(rows):
        raise ValueError(f"{len(losses)} losses for {len(rows)} prompts")
    order = sorted(range(len(rows)), key=lambda i: -losses[i][0])
    return [rows[i] for i in order[:keep]]


def mixed_prompts(rows: list[dict], correct: list[list[bool]]) -> list[dict]:
    """The rows whose sampled group (correct[i]: one verdict per completion of row i) was neither all right nor
    all wrong: only there do GRPO's advantages differ from zero."""
    if len(correct) != len(rows):
        raise ValueError(f"{len(correct)} groups for {len(rows)} prompts")
    return [row for row, group in zip(rows, correct) if any(group) and not all(group)]
