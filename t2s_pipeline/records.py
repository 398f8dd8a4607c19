"""The records passed between stages, and JSON-lines helpers.

A benchmark example: id (`<benchmark>/<split>/<n>`), benchmark, split, db_id, question,
evidence, gold_sql, difficulty, cot. A reject: id, stage, reason (a short code), detail.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path

EXAMPLE_FIELDS = ("id", "benchmark", "split", "db_id", "question", "evidence", "gold_sql", "difficulty", "cot")


def example_id(benchmark: str, split: str, n: int) -> str:
    return f"{benchmark}/{split}/{n}"


def make_example(
    benchmark: str,
    split: str,
    n: int,
    db_id: str,
    question: str,
    gold_sql: str,
    evidence: str = "",
    difficulty: str | None = None,
    cot: str | None = None,
) -> dict:
    return {
        "id": example_id(benchmark, split, n),
        "benchmark": benchmark,
        "split": split,
        "db_id": db_id,
        "question": question.strip(),
        "evidence": evidence or "",
        "gold_sql": gold_sql.strip(),
        "difficulty": difficulty,
        "cot": cot,
    }


def make_reject(record_id: str, stage: str, reason: str, detail: str = "") -> dict:
    return {"id": record_id, "stage": stage, "reason": reason, "detail": detail[:500]}


def write_jsonl(path: str | os.PathLike, records: Iterable[dict]) -> int:
    """Write records one JSON object per line; returns how many were written."""
    n = 0
    with open(path, "w", encoding="utf-8") as f:
        for record in records:
            f.write(json.dumps(record, ensure_ascii=False) + "\n")
            n += 1
    return n


def read_jsonl(path: str | os.PathLike) -> Iterator[dict]:
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                yield json.loads(line)


def write_json(path: str | os.PathLike, obj) -> None:
    Path(path).write_text(json.dumps(obj, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def read_json(path: str | os.PathLike):
    return json.loads(Path(path).read_text(encoding="utf-8"))
