"""Tokenization for an encoder-decoder model: the prompt to the encoder, SQL and EOS to the decoder."""

from __future__ import annotations

import json

from t2s_pipeline.records import read_jsonl, write_jsonl
from t2s_pipeline.samples.prompts import encoder_prompt
from t2s_pipeline.modeling.tokenize import tokenize_splits


def test_encoder_reads_the_prompt_and_the_decoder_learns_sql_and_eos(t5_tokenized_dir, trajectories_dir,
                                                                      tiny_t5_dir):
    from datasets import load_from_disk
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_t5_dir)
    data = load_from_disk(str(t5_tokenized_dir))
    samples = {s["meta"]["id"]: s for s in read_jsonl(trajectories_dir / "train.jsonl")}
    assert len(data["train"]) == len(samples)
    for row in data["train"]:
        sample = samples[row["id"]]
        assert row["input_ids"][-1] == row["labels"][-1] == tokenizer.eos_token_id
        assert tokenizer.decode(row["input_ids"][:-1]) == encoder_prompt(sample["messages"])
        assert tokenizer.decode(row["labels"][:-1]) == sample["messages"][-1]["content"]
        prompt = tokenizer.decode(row["input_ids"])
        assert "Database schema:" in prompt and "Question:" in prompt and "CREATE TABLE singer" in prompt
    stats = json.loads((t5_tokenized_dir / "stats.json").read_text())
    assert stats["architecture"] == "encoder-decoder"
    assert stats["splits"]["train"]["supervised_tokens"] == sum(len(r) for r in data["train"]["labels"])


def test_over_length_and_multi_turn_samples_are_counted(trajectories_dir, tiny_t5_dir, tmp_path):
    traj = tmp_path / "traj"
    traj.mkdir()
    train = list(read_jsonl(trajectories_dir / "train.jsonl"))
    long = json.loads(json.dumps(train[0]))
    long["meta"]["id"] = "long"
    long["messages"][1]["content"] += " word" * 400
    tool = json.loads(json.dumps(train[1]))
    tool["meta"]["id"] = "tool"
    tool["messages"][2:2] = [{"role": "assistant", "content": "", "tool_calls": [
        {"type": "function", "function": {"name": "run_sql", "arguments": "{}"}}]},
        {"role": "tool", "content": "[]"}]
    write_jsonl(traj / "train.jsonl", [*train, long, tool])
    for split in ("dev", "test"):
        write_jsonl(traj / f"{split}.jsonl", list(read_jsonl(trajectories_dir / f"{split}.jsonl")))
    stats = tokenize_splits(traj, tiny_t5_dir, tmp_path / "out", max_length=300, log=lambda m: None)
    train_stats = stats["splits"]["train"]
    assert train_stats["samples"] == len(train)
    assert train_stats["dropped_over_length"] == 1 and train_stats["skipped_multi_turn"] == 1
