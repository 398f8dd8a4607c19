"""Tokenize samples for an encoder-decoder model (T5): the encoder reads the prompt, the decoder learns the answer.

input_ids: the user turns (schema with columns, question, evidence; samples/prompts.encoder_prompt) and
EOS; labels: the last assistant turn (the SQL) and EOS, which the model must learn to write to stop.
A conversation with more than one assistant turn (a tool-calling sample) has no single answer for a
decoder to learn: it is skipped and counted. A sample whose input or labels are longer than max_length
is dropped and counted, as for decoder-only models. Same Arrow layout and stats.json as tokenize.py,
with labels of their own length.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from t2s_pipeline.records import write_json
from t2s_pipeline.samples.prompts import encoder_prompt

BATCH_SIZE = 512


def source_and_target(sample: dict) -> tuple[str, str] | None:
    """(encoder text, decoder text) of a sample, or None when it has several assistant turns."""
    answers = [m for m in sample["messages"] if m["role"] == "assistant"]
    if len(answers) != 1 or answers[0].get("tool_calls") or sample["messages"][-1]["role"] != "assistant":
        return None
    return encoder_prompt(sample["messages"]), answers[0]["content"]


def encode_pairs(tokenizer, pairs: list[tuple[str, str]]) -> list[tuple[list[int], list[int]]]:
    """(input_ids, labels) per pair, each ended by EOS (added here, so a T5 tokenizer and ours behave alike)."""
    eos = tokenizer.eos_token_id
    sources = tokenizer([s for s, _ in pairs], add_special_tokens=False)["input_ids"]
    targets = tokenizer([t for _, t in pairs], add_special_tokens=False)["input_ids"]
    return [(list(s) + [eos], list(t) + [eos]) for s, t in zip(sources, targets)]


def _tokenize_split(path: Path, tokenizer, max_length: int) -> tuple[dict, dict]:
    rows = {"input_ids": [], "attention_mask": [], "labels": [], "id": []}
    counts = {"dropped": 0, "skipped_multi_turn": 0}
    lines = [line for line in path.read_text().splitlines() if line.strip()] if path.is_file() else []
    for k in range(0, len(lines), BATCH_SIZE):
        samples = [json.loads(line) for line in lines[k:k + BATCH_SIZE]]
        kept = [(s, pair) for s in samples if (pair := source_and_target(s)) is not None]
        counts["skipped_multi_turn"] += len(samples) - len(kept)
        for (sample, _), (ids, labels) in zip(kept, encode_pairs(tokenizer, [p for _, p in kept])):
            if len(ids) > max_length or len(labels) > max_length:
                counts["dropped"] += 1
                continue
            rows["input_ids"].append(ids)
            rows["attention_mask"].append([1] * len(ids))
            rows["labels"].append(labels)
            rows["id"].append(sample["meta"]["id"])
    return rows, counts


def tokenize_seq2seq_splits(trajectories_dir: str | Path, model_dir: str | Path, out_dir: str | Path,
                            max_length: int = 1024, log=print) -> dict:
    """Tokenize train/dev/test JSONL for an encoder-decoder model into a DatasetDict saved with save_to_disk."""
    from datasets import Dataset, DatasetDict, Features, Sequence, Value
    from transformers import AutoTokenizer

    start = time.monotonic()
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    if tokenizer.eos_token_id is None:
        raise ValueError(f"{model_dir}: the tokenizer has no EOS token for the decoder to learn to stop")
    features = Features({"input_ids": Sequence(Value("int32")), "attention_mask": Sequence(Value("int8")),
                         "labels": Sequence(Value("int32")), "id": Value("string")})
    splits, stats = {}, {"max_length": max_length, "architecture": "encoder-decoder", "splits": {}}
    for split in ("train", "dev", "test"):
        rows, counts = _tokenize_split(Path(trajectories_dir) / f"{split}.jsonl", tokenizer, max_length)
        splits[split] = Dataset.from_dict(rows, features=features)
        source_tokens = sum(len(r) for r in rows["input_ids"])
        target_tokens = sum(len(r) for r in rows["labels"])
        lengths = [len(r) for r in rows["input_ids"]]
        stats["splits"][split] = {
            "samples": len(lengths),
            "dropped_over_length": counts["dropped"],
            "skipped_multi_turn": counts["skipped_multi_turn"],
            "tokens": source_tokens + target_tokens,
            "supervised_tokens": target_tokens,
            "max_tokens": max(lengths, default=0),
            "mean_tokens": round(source_tokens / len(lengths), 1) if lengths else 0,
        }
        log(f"tokenized {split} for an encoder-decoder model: {len(lengths)} samples kept, {counts['dropped']} "
            f"over {max_length} tokens dropped, {counts['skipped_multi_turn']} multi-turn samples skipped")
    DatasetDict(splits).save_to_disk(str(out_dir), num_shards={name: 1 for name in splits})
    stats["seconds"] = round(time.monotonic() - start, 2)
    write_json(Path(out_dir) / "stats.json", stats)
    return stats
