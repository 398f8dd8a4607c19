"""Prompt masking on the real chat templates (Qwen2.5-Instruct's with tools, Qwen3's with <think>), as TRL ships
them, on the hub-shaped stand-ins' tokenizers; measured against TRL's training templates ({% generation %}
markers); and the prompt at inference equal to the training prompt up to the assistant turn."""

from __future__ import annotations

import json

import pytest

from t2s_pipeline.modeling.stand_ins import chat_template_text
from t2s_pipeline.modeling.tokenize import CHAT_TEMPLATE_KWARGS, IGNORE_INDEX, _render, hf_messages, tokenize_batch
from t2s_pipeline.samples.prompts import prompt_messages
from t2s_pipeline.samples.tools import TOOL_SYSTEM_PROMPT, TOOLS

SQL = "SELECT name FROM singer WHERE age > 30"
WHOLE_QUERY = {"messages": [*prompt_messages("CREATE TABLE singer (name TEXT, age INTEGER);", "Who is over 30?"),
                            {"role": "assistant", "content": SQL}]}


def _call(k: int, name: str, arguments: dict) -> dict:
    return {"role": "assistant", "content": "", "tool_calls": [{"id": f"call_{k}", "type": "function", "function": {
        "name": name, "arguments": json.dumps(arguments)}}]}


TOOL_CALLING = {"tools": TOOLS, "messages": [
    {"role": "system", "content": TOOL_SYSTEM_PROMPT}, {"role": "user", "content": "Question: Who is over 30?"},
    _call(1, "list_tables", {}), {"role": "tool", "tool_call_id": "call_1", "name": "list_tables",
                                  "content": '["singer"]'},
    _call(2, "execute_sql", {"sql": SQL}), {"role": "tool", "tool_call_id": "call_2", "name": "execute_sql",
                                            "content": '{"columns": ["name"], "rows": [["Ann"]]}'},
    {"role": "assistant", "content": SQL}]}


def labeled_texts(tokenizer, sample: dict) -> list[str]:
    """The learned stretches of the tokenized sample, decoded."""
    row = tokenize_batch(tokenizer, [sample])[0]
    runs, current = [], []
    for token, label in zip(row["input_ids"], row["labels"]):
        if label != IGNORE_INDEX:
            current.append(token)
        elif current:
            runs.append(current)
            current = []
    return [tokenizer.decode(r) for r in runs + ([current] if current else [])]


@pytest.fixture(scope="module")
def qwen25(stand_in):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(stand_in("qwen2.5-coder-7b"))


@pytest.fixture(scope="module")
def qwen3(stand_in):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(stand_in("qwen3-8b"))


def test_qwen25_learns_every_tool_call_turn_and_no_tool_result(qwen25):
    call = '<tool_call>\n{{"name": "{}", "arguments": {}}}\n</tool_call><|im_end|>\n'
    assert labeled_texts(qwen25, TOOL_CALLING) == [
        call.format("list_tables", "{}"), call.format("execute_sql", json.dumps({"sql": SQL})), f"{SQL}<|im_end|>\n"]


def test_qwen3_masks_the_empty_think_block_and_learns_the_sql(qwen3):
    assert labeled_texts(qwen3, WHOLE_QUERY) == [f"{SQL}<|im_end|>\n"]
    text, _ = _render(qwen3.chat_template, dict(qwen3.special_tokens_map), WHOLE_QUERY["messages"])
    assert f"<|im_start|>assistant\n<think>\n\n</think>\n\n{SQL}<|im_end|>" in text


def test_qwen3_tool_calling_learns_only_its_last_turn(qwen3):
    # Qwen3's published template drops the think block of earlier turns once a later one follows, so the
    # conversation is not a prefix of itself turn by turn: only the last turn can be masked consistently.
    assert labeled_texts(qwen3, TOOL_CALLING) == [f"{SQL}<|im_end|>\n"]


@pytest.mark.parametrize("family", ["qwen25", "qwen3"])
@pytest.mark.parametrize("sample", [WHOLE_QUERY, TOOL_CALLING], ids=["whole_query", "tool_calling"])
def test_the_inference_prompt_is_the_training_prompt_up_to_the_answer(family, sample, request):
    # Tool-call arguments go to the template as dicts (hf_messages), as in training: Qwen2.5's template writes a
    # JSON string argument as a quoted string ("{}"), a text the model never saw.
    tokenizer = request.getfixturevalue(family)
    row = tokenize_batch(tokenizer, [sample])[0]
    prompt = tokenizer.apply_chat_template(hf_messages(sample["messages"][:-1]), tools=sample.get("tools"),
                                           tokenize=False, add_generation_prompt=True, **CHAT_TEMPLATE_KWARGS)
    ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    assert row["input_ids"][:len(ids)] == ids
    answer = [t for t, label in zip(row["input_ids"][len(ids):], row["labels"][len(ids):]) if label != IGNORE_INDEX]
    assert tokenizer.decode(answer) == f"{SQL}<|im_end|>\n"  # the last answer follows the prompt at once


def trl_labeled_texts(tokenizer, training_template: str, sample: dict) -> list[str]:
    text, spans = _render(chat_template_text(training_template), dict(tokenizer.special_tokens_map),
                          sample["messages"], sample.get("tools"))
    return [text[a:b] for a, b in spans]


def test_trl_training_template_for_qwen25_labels_one_newline_more_per_turn(qwen25):
    # TRL's {% generation %} opens before the "\n" that ends "<|im_start|>assistant": a token the generation
    # prompt always supplies. Otherwise the labels are the same text, tool calls included.
    for sample in (WHOLE_QUERY, TOOL_CALLING):
        ours = labeled_texts(qwen25, sample)
        assert trl_labeled_texts(qwen25, "qwen2_5_training.jinja", sample) == ["\n" + t for t in ours]


def test_trl_training_template_for_qwen3_teaches_the_think_block_the_prompt_supplies(qwen3):
    theirs = trl_labeled_texts(qwen3, "qwen3_training.jinja", WHOLE_QUERY)
    assert theirs == [f"<think>\n\n</think>\n\n{SQL}<|im_end|>\n"]
    # With tools it learns every turn, each with an empty think block the published template never renders
    # for earlier turns: training text the model does not see again at inference.
    turns = trl_labeled_texts(qwen3, "qwen3_training.jinja", TOOL_CALLING)
    assert len(turns) == 3 and all(t.startswith("<think>\n\n</think>\n\n") for t in turns)
    published, _ = _render(qwen3.chat_template, dict(qwen3.special_tokens_map), TOOL_CALLING["messages"],
                           TOOLS)
    assert published.count("<think>") == 1
