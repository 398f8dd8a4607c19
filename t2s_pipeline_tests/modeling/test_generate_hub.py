"""Generation as the hub models need it: a <think> block is stripped before the SQL is read (eval, the RL reward
and `t2s ask` all read through extract_sql), and greedy decoding is greedy although the hub's
generation_config.json asks for a repetition penalty."""

from __future__ import annotations

import pytest

from t2s_pipeline.modeling.generate import extract_sql, strip_thinking


@pytest.mark.parametrize("reply,sql", [
    ("<think>\n\n</think>\n\nSELECT 1", "SELECT 1"),  # Qwen3 with thinking off: the empty block
    ("<think>\nThe table is t; a ```sql\nSELECT 2\n``` would not do.\n</think>\n\n```sql\nSELECT 1;\n```", "SELECT 1"),
    ("the prompt opened the block, the model closes it</think>SELECT 1", "SELECT 1"),
    ("<think>\ncut off by the length limit while still reasoning SELECT 2", ""),
    ("SELECT '<think>' FROM t", "SELECT '"),  # a literal that looks like a tag is read as one
    ("SELECT 1", "SELECT 1"),
])
def test_extract_sql_reads_what_follows_the_think_block(reply, sql):
    assert extract_sql(reply) == sql


def test_strip_thinking_keeps_a_reply_without_a_block_as_it_is():
    assert strip_thinking("  SELECT 1 \n") == "  SELECT 1 \n"


def test_greedy_decoding_is_the_argmax_despite_the_hubs_repetition_penalty(stand_in):
    import json

    import torch

    from t2s_pipeline.modeling.generate import _complete, load_model

    folder = stand_in("qwen2.5-coder-7b")
    assert json.loads((folder / "generation_config.json").read_text())["repetition_penalty"] == 1.1
    model, tokenizer = load_model(str(folder))
    model.generation_config.repetition_penalty = 50.0  # louder than the hub's 1.1, so that any effect shows
    conversation = [{"role": "user", "content": "Question: how many singers?"}]
    [reply] = _complete(model, tokenizer, [conversation], batch_size=1, max_new_tokens=12)
    prompt = tokenizer.apply_chat_template(conversation, tokenize=False, add_generation_prompt=True,
                                           enable_thinking=False)
    ids = tokenizer(prompt, add_special_tokens=False, return_tensors="pt")["input_ids"]
    stops = {tokenizer.convert_tokens_to_ids(t) for t in ("<|im_end|>", "<|endoftext|>")}
    with torch.no_grad():
        for _ in range(12):  # the argmax continuation, one forward pass a token
            token = int(model(input_ids=ids).logits[0, -1].argmax())
            if token in stops:
                break
            ids = torch.cat([ids, torch.tensor([[token]])], dim=1)
    expected = tokenizer.decode(ids[0, len(tokenizer(prompt, add_special_tokens=False)["input_ids"]):],
                                skip_special_tokens=True)
    assert reply == expected
