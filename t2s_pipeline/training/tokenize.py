"""Tokenize chat samples with prompt masking: labels are -100 everywhere but the assistant turns.

With a chat template that has {% generation %} markers the tokenizer reports the assistant tokens
itself (end-of-turn token included, so the model learns to stop). Templates without markers fall
back to masking the prompt prefix, which is right for samples whose last turn is the only answer.
"""

from __future__ import annotations

import time
from pathlib import Path

from t2s_pipeline.records import read_jsonl, write_json

IGNORE_INDEX = -100


def has_generation_markers(tokenizer) -> bool:
    return "{% generation %}" in (tokenizer.chat_template or "")


def tokenize_sample(tokenizer, messages: list[dict], tools: list | None = None) -> dict:
    """input_ids, attention_mask and labels for one conversation."""
    kwargs = {"tools": tools} if tools else {}
    if has_generation_markers(tokenizer):
        out = tokenizer.apply_chat_template(
            messages, tokenize=True, return_dict=True, return_assistant_tokens_mask=True, **kwargs
        )
        ids = list(out["input_ids"])
        labels = [t if m else IGNORE_INDEX for t, m in zip(ids, out["assistant_masks"])]
    else:
        ids = list(tokenizer.apply_chat_template(messages, tokenize=True, return_dict=True, **kwargs)["input_ids"])
        prompt = tokenizer.apply_chat_template(
            messages[:-1], tokenize=True, return_dict=True, add_generation_prompt=True, **kwargs
        )["input_ids"]
        labels = [IGNORE_INDEX] * len(prompt) + ids[len(prompt):]
    return {"input_ids": ids, "attention_mask": [1] * len(ids), "labels": labels}


def tokenize_splits(trajectories_dir: str | Path, model_dir: str | Path, out_dir: str | Path, max_length: int = 1024, log=print) -> dict:
    """Tokenize train/dev/test JSONL into a DatasetDict saved with save_to_disk. Over-length samples are dropped and counted."""
    from datasets import Dataset, DatasetDict, Features, Sequence, Value
    from transformers import AutoTokenizer

    features = Features({"input_ids": Sequence(Value("int32")), "attention_mask": Sequence(Value("int8")),
                         "labels": Sequence(Value("int32")), "id": Value("string")})
    start = time.monotonic()
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    splits, stats = {}, {"max_length": max_length, "splits": {}}
    for split in ("train", "dev", "test"):
        path = Path(trajectories_dir) / f"{split}.jsonl"
        rows, dropped, lengths, supervised = [], 0, [], 0
        for sample in read_jsonl(path):
            row = tokenize_sample(tokenizer, sample["messages"], sample.get("tools"))
            if len(row["input_ids"]) > max_length:
                dropped += 1
                continue
            if all(label == IGNORE_INDEX for label in row["labels"]):
                raise ValueError(f"sample {sample['meta'].get('id')} has no assistant tokens to learn")
            row["id"] = sample["meta"]["id"]
            rows.append(row)
            lengths.append(len(row["input_ids"]))
            supervised += sum(label != IGNORE_INDEX for label in row["labels"])
        columns = {name: [row[name] for row in rows] for name in features}
        splits[split] = Dataset.from_dict(columns, features=features)
        stats["splits"][split] = {
            "samples": len(rows),
            "dropped_over_length": dropped,
            "tokens": sum(lengths),
            "supervised_tokens": int(supervised),
            "max_tokens": max(lengths, default=0),
            "mean_tokens": round(sum(lengths) / len(lengths), 1) if lengths else 0,
        }
        log(f"tokenized {split}: {len(rows)} samples kept, {dropped} over {max_length} tokens dropped")
    # One shard per split: an empty split saved with zero shards cannot be loaded back.
    DatasetDict(splits).save_to_disk(str(out_dir), num_shards={name: 1 for name in splits})
    stats["seconds"] = round(time.monotonic() - start, 2)
    write_json(Path(out_dir) / "stats.json", stats)
    return stats
