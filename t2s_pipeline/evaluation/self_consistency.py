"""Self-consistency: several SQL queries per question, one answer chosen by a vote on their results.

The candidates are the greedy query first, then queries drawn by sampling. Each runs in the read-only
sandbox; candidates whose results are equal (the same multiset of rows, column order as written) vote
for one another, and the answer is the first candidate of the largest group. Candidates that fail to
run do not vote; when none runs, the greedy query is the answer. Ties go to the group whose first
candidate came first, so the greedy query wins every tie it is in.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from t2s_pipeline.sql.compare import normalize_rows


def result_key(rows) -> tuple:
    """A hashable key equal for results with the same multiset of rows."""
    return tuple(sorted(Counter(normalize_rows(rows)).items(), key=repr))


def vote(db_path: str | Path, candidates: list[str], timeout_s: float = 5.0, max_rows: int = 10_000) -> dict:
    """{"sql", "votes", "candidates", "ran"}: the chosen query, the size of its group, how many candidates and
    how many of them ran."""
    from t2s_pipeline.sql.judge import prepare_sql
    from t2s_pipeline.sql.execute import connect_readonly, execute_sql

    groups: dict[tuple, list[int]] = {}
    try:
        conn = connect_readonly(db_path)
    except (FileNotFoundError, OSError):
        conn = None
    try:
        results: dict[str, object] = {}
        for i, sql in enumerate(candidates):
            text = prepare_sql(sql)
            if text not in results:
                results[text] = execute_sql(db_path, text, timeout_s=timeout_s, max_rows=max_rows, conn=conn) \
                    if conn is not None and sql.strip() else None
            result = results[text]
            if result is not None and result.ok and not result.truncated:
                groups.setdefault(result_key(result.rows), []).append(i)
    finally:
        if conn is not None:
            conn.close()
    ran = sum(len(members) for members in groups.values())
    if not groups:
        return {"sql": candidates[0] if candidates else "", "votes": 0, "candidates": len(candidates), "ran": 0}
    best = max(groups.values(), key=lambda members: (len(members), -members[0]))
    return {"sql": candidates[best[0]], "votes": len(best), "candidates": len(candidates), "ran": ran}


def self_consistent_sql(model, tokenizer, conversations: list[list[dict]], db_paths: list, n_samples: int,
                        batch_size: int = 16, max_new_tokens: int = 128, temperature: float = 1.0,
                        top_p: float = 1.0, chat_template: str | None = None, timeout_s: float = 5.0,
                        greedy: list[str] | None = None, contexts: list | None = None) -> list[dict]:
    """One vote per conversation over the greedy query (given, or decoded here) and n_samples - 1 samples;
    contexts (constrained.py) constrain the decoding when given."""
    from t2s_pipeline.modeling.generate import generate_sql, sample_sql

    if greedy is None:
        greedy = generate_sql(model, tokenizer, conversations, batch_size, max_new_tokens, chat_template=chat_template,
                              contexts=contexts)
    drawn = sample_sql(model, tokenizer, conversations, n_samples - 1, batch_size, max_new_tokens, temperature,
                       top_p, chat_template, contexts) if n_samples > 1 else [[] for _ in conversations]
    return [vote(db, [g, *d], timeout_s) for db, g, d in zip(db_paths, greedy, drawn)]
