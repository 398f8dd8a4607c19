"""Shared builders for the training and evaluation tests: a few chat samples and a tiny base model.

Built once per session (memoised here, so the training and evaluation conftests share one folder).
"""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from t2s_pipeline.records import write_jsonl
from t2s_pipeline.samples.prompts import prompt_messages

SCHEMA = "CREATE TABLE singer (id INTEGER PRIMARY KEY, name TEXT, age INTEGER, country TEXT);"
QUESTIONS = [
    ("How many singers are there?", "SELECT count(*) FROM singer"),
    ("List the names of all singers.", "SELECT name FROM singer"),
    ("Which singers are older than 30?", "SELECT name FROM singer WHERE age > 30"),
    ("What is the average age of singers?", "SELECT avg(age) FROM singer"),
    ("Show the countries of singers.", "SELECT DISTINCT country FROM singer"),
    ("Who is the oldest singer?", "SELECT name FROM singer ORDER BY age DESC LIMIT 1"),
    ("How many singers come from France?", "SELECT count(*) FROM singer WHERE country = 'France'"),
    ("List singers ordered by name.", "SELECT name FROM singer ORDER BY name"),
    ("What is the maximum age?", "SELECT max(age) FROM singer"),
    ("How many countries are there?", "SELECT count(DISTINCT country) FROM singer"),
    ("Name the youngest singer.", "SELECT name FROM singer ORDER BY age LIMIT 1"),
    ("Count singers per country.", "SELECT country, count(*) FROM singer GROUP BY country"),
]
TINY_KW = dict(vocab_size=300, hidden_size=32, num_layers=1, num_heads=2, intermediate_size=64, pretrain_steps=2,
               literal_variants=0)

_CACHE: dict[str, Path] = {}
# What lora_adapter reads, as stand-ins for tests that materialize it alone.
LORA_ADAPTER_UPSTREAM = [dg.AssetSpec(key) for key in ("tokenized_splits", "base_model", "trajectories",
                                                        "raw_benchmarks")]


def publish_lora_adapter_upstream(root: Path, tiny_base: Path, tokenized: Path, trajectories: Path,
                                  scratch: Path) -> Path:
    """What lora_adapter reads, published as version v0 under the storage root (raw_benchmarks: no database)."""
    from t2s_pipeline.resources.storage import publish_directory

    publish_directory(root, ["base_model"], tiny_base, "v0")
    publish_directory(root, ["tokenized_splits"], tokenized, "v0")
    publish_directory(root, ["trajectories"], trajectories, "v0")
    (scratch / "raw" / "databases").mkdir(parents=True)
    publish_directory(root, ["raw_benchmarks"], scratch / "raw", "v0")
    return root


def sample(i: int, split: str) -> dict:
    question, sql = QUESTIONS[i]
    messages = prompt_messages(SCHEMA, question)
    messages.append({"role": "assistant", "content": sql})
    return {"messages": messages, "meta": {"id": f"mini/{split}/{i}", "db_id": "music", "benchmark": "mini",
                                           "difficulty": "easy", "gold_sql": sql, "kind": "whole_query",
                                           "step": 1, "steps": 1}}


def split_samples() -> dict[str, list[dict]]:
    return {"train": [sample(i, "train") for i in range(8)],
            "dev": [sample(i, "dev") for i in (8, 9)],
            "test": [sample(i, "test") for i in (10, 11)]}


def documents() -> list[str]:
    docs = []
    for rows in split_samples().values():
        for s in rows:
            docs.append(s["messages"][1]["content"] + "\nSQL: " + s["messages"][2]["content"])
    return docs


def tiny_config():
    from t2s_pipeline.training.tiny_model import TinyModelConfig

    return TinyModelConfig(**TINY_KW)


def write_trajectories(out_dir: Path) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    for split, rows in split_samples().items():
        write_jsonl(out_dir / f"{split}.jsonl", rows)
    return out_dir


def trajectories_dir(tmp_path_factory) -> Path:
    if "traj" not in _CACHE:
        _CACHE["traj"] = write_trajectories(tmp_path_factory.mktemp("trajectories"))
    return _CACHE["traj"]


def tiny_base_dir(tmp_path_factory) -> Path:
    if "base" not in _CACHE:
        from t2s_pipeline.training.tiny_model import build_tiny_base

        out = tmp_path_factory.mktemp("tiny_base")
        build_tiny_base(documents(), out, tiny_config(), log=lambda msg: None)
        _CACHE["base"] = out
    return _CACHE["base"]


def tokenized_dir(tmp_path_factory) -> Path:
    if "tok" not in _CACHE:
        from t2s_pipeline.modeling.tokenize import tokenize_splits

        out = tmp_path_factory.mktemp("tokenized")
        tokenize_splits(trajectories_dir(tmp_path_factory), tiny_base_dir(tmp_path_factory), out,
                        max_length=512, log=lambda msg: None)
        _CACHE["tok"] = out
    return _CACHE["tok"]


TINY_T5_KW = dict(vocab_size=300, d_model=32, d_kv=16, d_ff=64, num_layers=1, num_heads=2, pretrain_steps=2,
                  pretrain_batch_size=4)


def tiny_t5_dir(tmp_path_factory) -> Path:
    """A tiny encoder-decoder (T5) base built on the same documents as the tiny Llama."""
    if "t5" not in _CACHE:
        from t2s_pipeline.training.tiny_t5 import TinyT5Config, build_tiny_t5

        out = tmp_path_factory.mktemp("tiny_t5")
        build_tiny_t5(documents(), out, TinyT5Config(**TINY_T5_KW), log=lambda msg: None)
        _CACHE["t5"] = out
    return _CACHE["t5"]


def t5_tokenized_dir(tmp_path_factory) -> Path:
    if "t5tok" not in _CACHE:
        from t2s_pipeline.modeling.tokenize import tokenize_splits

        out = tmp_path_factory.mktemp("t5_tokenized")
        tokenize_splits(trajectories_dir(tmp_path_factory), tiny_t5_dir(tmp_path_factory), out,
                        max_length=512, log=lambda msg: None)
        _CACHE["t5tok"] = out
    return _CACHE["t5tok"]


SINGERS = [(1, "Ana", 25, "France"), (2, "Bo", 41, "Spain"), (3, "Cy", 33, "France"), (4, "Di", 19, "Peru")]


def music_databases(tmp_path_factory) -> Path:
    """databases/music.sqlite with the singer table the tiny samples ask about (for the judge)."""
    if "dbs" not in _CACHE:
        import sqlite3

        out = tmp_path_factory.mktemp("raw") / "databases"
        out.mkdir()
        with sqlite3.connect(out / "music.sqlite") as db:
            db.execute(SCHEMA.rstrip(";"))
            db.executemany("INSERT INTO singer VALUES (?, ?, ?, ?)", SINGERS)
        _CACHE["dbs"] = out
    return _CACHE["dbs"]
