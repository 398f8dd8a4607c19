"""Split questions into train/dev/test, stratified by database, deterministic for a seed, without leakage.

Questions of one database that share a normalized question or a normalized SQL query (sql/normalize.py)
form one group (transitively), and a group goes whole to one split: no test (or dev) question has its
(db_id, question) or its (db_id, SQL) in train. Paraphrases of one query thus stay together, so every
held-out question asks for SQL the model never saw in training. Without shared texts every question is its
own group, and the split is the plain split by question id.
"""

from __future__ import annotations

import hashlib
import random
import re
from collections import Counter, defaultdict

from t2s_pipeline.sql.normalize import query_fingerprint

SPLITS = ("train", "dev", "test")
_TRAILING_PUNCTUATION = re.compile(r"[\s.?!;:,]+$")


def normalized_question(question: str) -> str:
    """Lower case, whitespace collapsed, trailing punctuation stripped."""
    return _TRAILING_PUNCTUATION.sub("", " ".join(question.lower().split()))


def text_keys(db_id: str, question: str, sql: str) -> tuple[int, int]:
    """64-bit digests of (db_id, normalized question) and (db_id, normalized SQL): small to hold per pair."""
    return _digest("q", db_id, normalized_question(question)), _digest("s", db_id, query_fingerprint(sql))


def split_by_question(records: list[dict], fractions: dict[str, float], seed: int = 0) -> dict[str, str]:
    """Map each record id to a split. Every id goes to exactly one split; each database is cut alike.

    records: {id, db_id} and, to keep shared texts together, `keys` (text_keys of the question and SQL).
    A group goes to test while the middle of it falls within the database's test share (then dev, then
    train), so the split sizes are the fractions to within half a group.
    """
    if abs(sum(fractions.values()) - 1.0) > 1e-6 or set(fractions) - set(SPLITS) or min(fractions.values()) < 0:
        raise ValueError(f"split fractions must be over {SPLITS}, non-negative and sum to 1, got {fractions}")
    by_db: dict[str, dict[str, tuple]] = defaultdict(dict)
    for record in records:
        by_db[record["db_id"]][record["id"]] = tuple(record.get("keys") or ())
    assignment: dict[str, str] = {}
    for db_id in sorted(by_db):
        groups = _groups(by_db[db_id])
        random.Random(f"{seed}:{db_id}").shuffle(groups)
        n = len(by_db[db_id])
        n_test = round(n * fractions.get("test", 0.0))
        n_dev = round(n * fractions.get("dev", 0.0))
        placed = 0
        for group in groups:
            middle = placed + len(group) / 2
            split = "test" if middle < n_test else "dev" if middle < n_test + n_dev else "train"
            for record_id in group:
                assignment[record_id] = split
            placed += len(group)
    return assignment


def leakage(records: list[dict], assignment: dict[str, str]) -> dict[str, dict[str, int]]:
    """Per held-out split, its questions whose (db, question) or (db, SQL) key is also a train question's."""
    train_keys = {key for r in records if assignment[r["id"]] == "train" for key in r.get("keys") or ()}
    counts = {split: Counter() for split in SPLITS if split != "train"}
    for r in records:
        split = assignment[r["id"]]
        if split == "train" or not r.get("keys"):
            continue
        question_key, sql_key = r["keys"]
        counts[split]["question"] += question_key in train_keys
        counts[split]["sql"] += sql_key in train_keys
        counts[split]["either"] += question_key in train_keys or sql_key in train_keys
    return {split: {k: c[k] for k in ("question", "sql", "either")} for split, c in counts.items()}


def _groups(keys_by_id: dict[str, tuple]) -> list[list[str]]:
    """Ids joined by any shared key (union-find), each group sorted, the groups ordered by their first id."""
    parent = {record_id: record_id for record_id in keys_by_id}

    def root(x: str) -> str:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    first_with: dict[int, str] = {}
    for record_id in sorted(keys_by_id):
        for key in keys_by_id[record_id]:
            other = first_with.setdefault(key, record_id)
            a, b = root(record_id), root(other)
            if a != b:
                parent[max(a, b)] = min(a, b)
    members: dict[str, list[str]] = defaultdict(list)
    for record_id in sorted(keys_by_id):
        members[root(record_id)].append(record_id)
    return sorted(members.values(), key=lambda ids: ids[0])


def _digest(kind: str, db_id: str, text: str) -> int:
    data = f"{kind}\x1f{db_id}\x1f{text}".encode("utf-8")
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "little")
