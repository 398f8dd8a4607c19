"""Pipe SQL samples: the whole pipe query, and one sample per operator (incremental decoding).

A pair whose pipe query has N top-level steps (`FROM ...`, then one `|> ...` per operator) gives N
step samples. Step k's user turn carries the schema, the question, the evidence and the query so
far (steps 1..k-1, "(empty)" at step 1); the assistant turn is exactly step k. The last step ends
with `;`: that is how a model decoding one operator at a time knows the query is complete
(every other step has no `;`). Plus one whole-query sample whose assistant turn is the pipe query.

meta.kind: `pipe_step` and `pipe_whole_query` (`whole_query` stays the SQL sample that
eval_report scores); meta also has `gold_sql`, `pipe_sql`, `step`, `steps` and, on a step, `op`.
"""

from __future__ import annotations

from t2s_pipeline.samples.prompts import user_prompt
from t2s_pipeline.sql.pipe import split_pipe

PIPE_SYSTEM_PROMPT = ("You write one SQLite query in pipe syntax (FROM ... |> operator ...) that answers the "
                      "question. Reply with the query only.")
STEP_SYSTEM_PROMPT = ("You write a SQLite query in pipe syntax (FROM ... |> operator ...), one operator at a "
                      "time. Reply with exactly the next operator; end it with ';' when it completes the query.")
END = ";"
EMPTY_QUERY = "(empty)"


def step_user_prompt(schema_text: str, question: str, evidence: str, query_so_far: str) -> str:
    return f"{user_prompt(schema_text, question, evidence)}\n\nQuery so far:\n{query_so_far or EMPTY_QUERY}"


def _meta(pair: dict, kind: str, step: int, steps: int) -> dict:
    return {
        "id": pair["id"],
        "db_id": pair["db_id"],
        "benchmark": pair["benchmark"],
        "difficulty": pair.get("difficulty"),
        "gold_sql": pair["gold_sql"],
        "pipe_sql": pair["pipe_sql"],
        "kind": kind,
        "step": step,
        "steps": steps,
    }


def pipe_step_samples(pair: dict, schema_prompt: str) -> list[dict]:
    """One sample per top-level operator of pair["pipe_sql"], in order."""
    steps = split_pipe(pair["pipe_sql"])
    ops = pair.get("pipe_ops") or [None] * len(steps)
    samples = []
    for k, step in enumerate(steps, start=1):
        so_far = "\n".join(steps[:k - 1])
        answer = step + END if k == len(steps) else step
        meta = _meta(pair, "pipe_step", k, len(steps))
        meta["op"] = ops[k - 1] if len(ops) == len(steps) else None
        samples.append({
            "messages": [
                {"role": "system", "content": STEP_SYSTEM_PROMPT},
                {"role": "user", "content": step_user_prompt(schema_prompt, pair["question"],
                                                             pair.get("evidence", ""), so_far)},
                {"role": "assistant", "content": answer},
            ],
            "meta": meta,
        })
    return samples


def pipe_whole_query_sample(pair: dict, schema_prompt: str) -> dict:
    return {
        "messages": [
            {"role": "system", "content": PIPE_SYSTEM_PROMPT},
            {"role": "user", "content": user_prompt(schema_prompt, pair["question"], pair.get("evidence", ""))},
            {"role": "assistant", "content": pair["pipe_sql"]},
        ],
        "meta": _meta(pair, "pipe_whole_query", 1, 1),
    }


def assemble_steps(replies: list[str]) -> tuple[str, bool]:
    """(the pipe query, whether it is complete) from step replies as a model would produce them."""
    steps, done = [], False
    for reply in replies:
        text = reply.strip()
        if text.endswith(END):
            text, done = text[: -len(END)].rstrip(), True
        steps.append(text)
        if done:
            break
    return "\n".join(steps), done
