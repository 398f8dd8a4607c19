"""Tokenization with prompt masking, and the tokenized_splits DatasetDict."""

from __future__ import annotations

import copy
import json

import pytest

from t2s_pipeline.records import read_json, read_jsonl, write_jsonl
from t2s_pipeline.training.tiny_model import CHAT_TEMPLATE, IM_END
from t2s_pipeline.modeling.tokenize import (
    IGNORE_INDEX, has_generation_markers, hf_messages, tokenize_batch, tokenize_sample, tokenize_splits,
)
from t2s_pipeline_tests.training import tiny


def supervised(row):
    return [i for i, label in zip(row["input_ids"], row["labels"]) if label != IGNORE_INDEX]


def test_only_the_assistant_content_and_its_end_token_are_learned(tokenizer):
    messages = tiny.sample(2, "train")["messages"]
    row = tokenize_sample(tokenizer, messages)
    ids, labels = row["input_ids"], row["labels"]
    assert len(ids) == len(labels) == len(row["attention_mask"]) and set(row["attention_mask"]) == {1}
    prompt = tokenizer.apply_chat_template(messages[:-1], tokenize=True, return_dict=True,
                                           add_generation_prompt=True)["input_ids"]
    # Every system and user token (and the assistant header) is masked.
    assert ids[: len(prompt)] == list(prompt)
    assert all(label == IGNORE_INDEX for label in labels[: len(prompt)])
    # Learned tokens equal the inputs, and are exactly the SQL followed by <|im_end|>.
    learned = [(i, t, label) for i, (t, label) in enumerate(zip(ids, labels)) if label != IGNORE_INDEX]
    assert all(t == label for _, t, label in learned)
    positions = [i for i, _, _ in learned]
    assert positions == list(range(positions[0], positions[-1] + 1))  # one contiguous span
    assert tokenizer.decode(supervised(row)) == messages[-1]["content"] + IM_END
    assert supervised(row)[-1] == tokenizer.convert_tokens_to_ids(IM_END)
    assert supervised(row) == tokenizer(messages[-1]["content"] + IM_END, add_special_tokens=False)["input_ids"]


def test_prefix_fallback_without_generation_markers_masks_the_prompt(tokenizer):
    plain = copy.deepcopy(tokenizer)
    plain.chat_template = CHAT_TEMPLATE.replace("{% generation %}", "").replace("{% endgeneration %}", "")
    assert not has_generation_markers(plain)
    messages = tiny.sample(5, "train")["messages"]
    row = tokenize_sample(plain, messages)
    prompt = plain.apply_chat_template(messages[:-1], tokenize=True, return_dict=True,
                                       add_generation_prompt=True)["input_ids"]
    assert row["input_ids"][: len(prompt)] == list(prompt)
    assert row["labels"][: len(prompt)] == [IGNORE_INDEX] * len(prompt)
    assert row["labels"][len(prompt):] == row["input_ids"][len(prompt):]
    # Same supervised answer as the marker path, plus the newline after the end token.
    assert plain.decode(supervised(row)).rstrip("\n") == messages[-1]["content"] + IM_END
    with_markers = tokenize_sample(tokenizer, messages)
    assert with_markers["input_ids"] == row["input_ids"]
    assert supervised(row)[: len(supervised(with_markers))] == supervised(with_markers)


def test_tokenize_splits_drops_over_length_samples_and_counts_them(trajectories_dir, tiny_base_dir, tmp_path):
    from datasets import DatasetDict, load_from_disk

    traj = tiny.write_trajectories(tmp_path / "traj")
    long = tiny.sample(0, "train")
    long["meta"]["id"] = "mini/train/long"
    long["messages"][1]["content"] += " padding words" * 200
    train = list(read_jsonl(traj / "train.jsonl")) + [long]
    write_jsonl(traj / "train.jsonl", train)
    out = tmp_path / "tok"
    stats = tokenize_splits(traj, tiny_base_dir, out, max_length=256, log=lambda m: None)

    assert stats["splits"]["train"]["dropped_over_length"] == 1
    for split in ("train", "dev", "test"):
        n_in = sum(1 for _ in read_jsonl(traj / f"{split}.jsonl"))
        s = stats["splits"][split]
        assert s["samples"] + s["dropped_over_length"] == n_in
        assert s["max_tokens"] <= 256
    assert read_json(out / "stats.json")["splits"] == stats["splits"]

    data = load_from_disk(str(out))
    assert isinstance(data, DatasetDict) and set(data) == {"train", "dev", "test"}
    assert len(data["train"]) == len(train) - 1
    assert "mini/train/long" not in data["train"]["id"]
    assert set(data["train"].column_names) == {"input_ids", "attention_mask", "labels", "id"}
    row = data["dev"][0]
    assert len(row["input_ids"]) == len(row["labels"])
    assert stats["splits"]["train"]["supervised_tokens"] == sum(
        sum(label != IGNORE_INDEX for label in r) for r in data["train"]["labels"])
    assert stats["splits"]["train"]["tokens"] == sum(len(r) for r in data["train"]["input_ids"])


def test_max_length_is_inclusive(tiny_base_dir, tokenizer, tmp_path):
    traj = tiny.write_trajectories(tmp_path / "traj")
    lengths = [len(tokenize_sample(tokenizer, s["messages"])["input_ids"]) for s in tiny.split_samples()["test"]]
    assert len(set(lengths)) == 2
    limit = min(lengths)
    stats = tokenize_splits(traj, tiny_base_dir, tmp_path / "tok", max_length=limit, log=lambda m: None)
    assert stats["splits"]["test"]["samples"] == 1
    assert stats["splits"]["test"]["dropped_over_length"] == 1
    assert stats["splits"]["test"]["max_tokens"] == limit


def test_an_empty_split_is_saved_loadable(tiny_base_dir, tmp_path):
    from datasets import load_from_disk

    traj = tiny.write_trajectories(tmp_path / "traj")
    write_jsonl(traj / "dev.jsonl", [])  # a run with dev_fraction=0
    stats = tokenize_splits(traj, tiny_base_dir, tmp_path / "tok", log=lambda m: None)
    assert stats["splits"]["dev"]["samples"] == 0
    data = load_from_disk(str(tmp_path / "tok"))
    assert len(data["dev"]) == 0
    assert set(data["dev"].column_names) == set(data["train"].column_names)


def test_a_sample_without_assistant_tokens_is_an_error(tiny_base_dir, tmp_path):
    traj = tiny.write_trajectories(tmp_path / "traj")
    bad = tiny.sample(0, "train")
    bad["meta"]["id"] = "mini/train/no_answer"
    bad["messages"] = bad["messages"][:2]
    write_jsonl(traj / "train.jsonl", [bad])
    with pytest.raises(ValueError, match="mini/train/no_answer"):
        tokenize_splits(traj, tiny_base_dir, tmp_path / "tok", log=lambda m: None)


def tool_call_messages() -> list[dict]:
    """An agent conversation in the OpenAI format our tool samples use: arguments as JSON text."""
    call = {"id": "call_1", "type": "function",
            "function": {"name": "describe_table", "arguments": json.dumps({"table": "singer"})}}
    return [
        {"role": "system", "content": "Answer with one query."},
        {"role": "user", "content": "Question: How many singers are there?"},
        {"role": "assistant", "content": "", "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "call_1", "name": "describe_table", "content": tiny.SCHEMA},
        {"role": "assistant", "content": "SELECT count(*) FROM singer"},
    ]


TOOLS = [{"type": "function", "function": {"name": "describe_table", "description": "A table's columns.",
                                           "parameters": {"type": "object", "required": ["table"], "properties": {
                                               "table": {"type": "string"}}}}}]


def test_hf_messages_turns_tool_call_arguments_into_dicts_without_touching_the_sample():
    messages = tool_call_messages()
    converted = hf_messages(messages)
    assert converted[2]["tool_calls"][0]["function"]["arguments"] == {"table": "singer"}
    assert isinstance(messages[2]["tool_calls"][0]["function"]["arguments"], str)  # the input is unchanged
    assert converted[4] == messages[4]


@pytest.mark.parametrize("markers", [True, False])
def test_every_assistant_turn_of_a_tool_call_sample_is_learned(tokenizer, markers):
    if not markers:
        tokenizer = copy.deepcopy(tokenizer)
        tokenizer.chat_template = CHAT_TEMPLATE.replace("{% generation %}", "").replace("{% endgeneration %}", "")
    row = tokenize_sample(tokenizer, tool_call_messages(), TOOLS)
    text = tokenizer.decode(row["input_ids"])
    learned = tokenizer.decode(supervised(row))
    # The arguments are rendered as a JSON object, not as a string holding JSON.
    assert '"arguments": {"table": "singer"}' in learned
    assert learned.replace("\n", "").endswith("SELECT count(*) FROM singer" + IM_END)
    assert learned.count(IM_END) == 2  # both assistant turns end, and nothing else is learned
    # The tools, the question and the tool's result are in the input but not learned.
    for prompt_only in ('"name": "describe_table", "description"', "How many singers", "CREATE TABLE singer"):
        assert prompt_only in text and prompt_only not in learned


def test_a_large_split_tokenized_by_worker_processes_equals_one_process(tiny_base_dir, tmp_path, monkeypatch):
    from datasets import load_from_disk

    from t2s_pipeline.modeling import tokenize

    traj = tiny.write_trajectories(tmp_path / "traj")
    write_jsonl(traj / "train.jsonl", list(read_jsonl(traj / "train.jsonl")) * 3)
    monkeypatch.setattr(tokenize, "PARALLEL_MIN_SAMPLES", 10)  # the 24 train samples go to 2 workers
    parallel = tokenize_splits(traj, tiny_base_dir, tmp_path / "parallel", log=lambda m: None, workers=2)
    single = tokenize_splits(traj, tiny_base_dir, tmp_path / "single", log=lambda m: None, workers=1)
    assert parallel["splits"] == single["splits"]
    a, b = load_from_disk(str(tmp_path / "parallel")), load_from_disk(str(tmp_path / "single"))
    for split in ("train", "dev", "test"):
        assert a[split].to_dict() == b[split].to_dict()


def test_an_alpaca_sample_learns_its_response_and_the_eos_token(tokenizer):
    sample = {**tiny.sample(2, "train"), "format": "alpaca"}
    row = tokenize_batch(tokenizer, [sample])[0]
    text = tokenizer.decode(row["input_ids"])
    assert text.startswith("Below is an instruction") and "### Input:\n" in text and "### Response:\n" in text
    assert tokenizer.decode(supervised(row)) == sample["messages"][-1]["content"] + tokenizer.eos_token
    assert "<|im_start|>" not in text  # not the chat template


def test_a_tokenizer_left_padded_by_generation_tokenizes_as_a_fresh_one(tiny_base_dir):
    from transformers import AutoTokenizer

    fresh, used = AutoTokenizer.from_pretrained(tiny_base_dir), AutoTokenizer.from_pretrained(tiny_base_dir)
    used.padding_side = "left"
    used(["a", "a much longer text than the first one"], padding=True)  # as generation does: padding stays on
    samples = [tiny.sample(i, "test") for i in (10, 11)]
    assert tokenize_batch(used, samples) == tokenize_batch(fresh, samples)
