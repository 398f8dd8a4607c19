"""Chat training samples from golden pairs, written as train/dev/test JSON lines.

Whole-query samples: system prompt; user = schema text then the question; assistant = the SQL.
"""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

from t2s_pipeline.records import read_json, read_jsonl, write_json, write_jsonl
from t2s_pipeline.samples.prompts import prompt_messages
from t2s_pipeline.samples.splits import SPLITS, split_by_question
from t2s_pipeline.sql.schema import schema_text


def whole_query_sample(pair: dict, schema_prompt: str) -> dict:
    messages = prompt_messages(schema_prompt, pair["question"], pair.get("evidence", ""))
    messages.append({"role": "assistant", "content": pair["gold_sql"]})
    return {
        "messages": messages,
        "meta": {
            "id": pair["id"],
            "db_id": pair["db_id"],
            "benchmark": pair["benchmark"],
            "difficulty": pair.get("difficulty"),
            "gold_sql": pair["gold_sql"],
            "kind": "whole_query",
            "step": 1,
            "steps": 1,
        },
    }


def build_trajectories(
    pairs_dir: str | Path,
    raw_dir: str | Path,
    out_dir: str | Path,
    fractions: dict[str, float] | None = None,
    seed: int = 0,
) -> dict:
    """Write train.jsonl, dev.jsonl, test.jsonl and stats.json; returns the stats."""
    start = time.monotonic()
    fractions = fractions or {"train": 0.8, "dev": 0.1, "test": 0.1}
    out_dir = Path(out_dir)
    pairs = list(read_jsonl(Path(pairs_dir) / "pairs.jsonl"))
    schemas = read_json(Path(raw_dir) / "schemas.json")
    schema_prompts = {db_id: schema_text(schema) for db_id, schema in schemas.items()}
    assignment = split_by_question(pairs, fractions, seed)
    samples = {split: [] for split in SPLITS}
    for pair in pairs:
        samples[assignment[pair["id"]]].append(whole_query_sample(pair, schema_prompts[pair["db_id"]]))
    for split, rows in samples.items():
        write_jsonl(out_dir / f"{split}.jsonl", rows)
    stats = {
        "pairs": len(pairs),
        "samples": {split: len(rows) for split, rows in samples.items()},
        "questions": {split: len({s["meta"]["id"] for s in rows}) for split, rows in samples.items()},
        "kinds": dict(Counter(s["meta"]["kind"] for rows in samples.values() for s in rows)),
        "fractions": fractions,
        "seed": seed,
        "seconds": round(time.monotonic() - start, 2),
    }
    write_json(out_dir / "stats.json", stats)
    return stats
