"""The tiny base: a tokenizer that survives a save/reload and a chat template that marks assistant turns."""

from __future__ import annotations

import itertools
import json
import random

import pytest

from t2s_pipeline.training.tiny_model import IM_END, IM_START, PAD, packed_rows, train_tokenizer
from t2s_pipeline.modeling.tokenize import has_generation_markers
from t2s_pipeline_tests.training import tiny

TEXTS = [
    "SELECT  count(*) FROM singer WHERE country = 'France'",
    "Database schema:\nCREATE TABLE t (a INTEGER PRIMARY KEY);\n\nQuestion: How many?",
    "  leading spaces, trailing tabs\t\t and unicode: héllo wörld – 東京 🎵",
    "x\n\n\ny  z",
]
MESSAGES = [
    {"role": "system", "content": "sys"},
    {"role": "user", "content": "How many singers?"},
    {"role": "assistant", "content": "SELECT count(*) FROM singer"},
]


def test_tokenizer_reloaded_with_autotokenizer_tokenizes_identically(tmp_path):
    from transformers import AutoTokenizer

    trained = train_tokenizer(tiny.documents(), vocab_size=300)
    trained.save_pretrained(tmp_path)
    reloaded = AutoTokenizer.from_pretrained(tmp_path)
    assert len(reloaded) == len(trained)
    for text in TEXTS:
        ids = trained(text)["input_ids"]
        assert reloaded(text)["input_ids"] == ids, text
        assert reloaded.decode(ids) == text
    rendered = trained.apply_chat_template(MESSAGES, tokenize=False)
    assert reloaded(rendered, add_special_tokens=False)["input_ids"] == trained(rendered, add_special_tokens=False)["input_ids"]


def test_base_folder_tokenizer_matches_a_freshly_trained_one(tiny_base_dir, tokenizer):
    fresh = train_tokenizer(tiny.documents(), vocab_size=tiny.TINY_KW["vocab_size"])
    for text in TEXTS:
        assert tokenizer(text)["input_ids"] == fresh(text)["input_ids"]
    assert json.loads((tiny_base_dir / "config.json").read_text())["model_type"] == "llama"


def test_special_tokens(tokenizer):
    assert tokenizer.pad_token == PAD
    assert tokenizer.eos_token == IM_END
    # Each chat marker is one token, never split into bytes.
    for token in (PAD, IM_START, IM_END):
        assert len(tokenizer(token, add_special_tokens=False)["input_ids"]) == 1
    assert tokenizer.pad_token_id != tokenizer.eos_token_id


def test_chat_template_renders_chatml(tokenizer):
    text = tokenizer.apply_chat_template(MESSAGES, tokenize=False)
    assert text == (
        "<|im_start|>system\nsys<|im_end|>\n"
        "<|im_start|>user\nHow many singers?<|im_end|>\n"
        "<|im_start|>assistant\nSELECT count(*) FROM singer<|im_end|>\n"
    )
    prompt = tokenizer.apply_chat_template(MESSAGES[:2], tokenize=False, add_generation_prompt=True)
    assert prompt.endswith("<|im_start|>user\nHow many singers?<|im_end|>\n<|im_start|>assistant\n")


def test_chat_template_wraps_assistant_content_and_end_token_in_generation_markers(tokenizer):
    assert has_generation_markers(tokenizer)
    out = tokenizer.apply_chat_template(MESSAGES, tokenize=True, return_dict=True, return_assistant_tokens_mask=True)
    masked = [t for t, m in zip(out["input_ids"], out["assistant_masks"]) if m]
    assert tokenizer.decode(masked) == "SELECT count(*) FROM singer" + IM_END
    # The system and user turns are outside the markers.
    assert sum(out["assistant_masks"]) == len(masked) < len(out["input_ids"])


def test_tiny_model_loads_and_has_the_configured_shape(tiny_base_dir, tokenizer):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_base_dir)
    cfg = model.config
    assert cfg.hidden_size == 32 and cfg.num_hidden_layers == 1 and cfg.intermediate_size == 64
    assert cfg.vocab_size == len(tokenizer)
    assert cfg.pad_token_id == tokenizer.pad_token_id and cfg.eos_token_id == tokenizer.eos_token_id
    import torch

    ids = torch.tensor([tokenizer("SELECT name FROM singer")["input_ids"]])
    with torch.no_grad():
        logits = model(input_ids=ids).logits
    assert logits.shape == (1, ids.shape[1], len(tokenizer))
    assert torch.isfinite(logits).all()


def test_packed_rows_are_full_and_each_pass_holds_every_document_once():
    documents = [[i] * (i + 1) for i in range(10)]  # 55 tokens; document i is i+1 copies of i
    rows = list(itertools.islice(packed_rows(documents, 11, random.Random(0)), 10))  # two passes
    assert all(len(row) == 11 for row in rows)
    for one_pass in (rows[:5], rows[5:]):
        tokens = [t for row in one_pass for t in row]
        assert sorted(tokens) == sorted(t for doc in documents for t in doc)
    # Documents stay whole within a pass: the same token never reappears after another one.
    first = [t for row in rows[:5] for t in row]
    assert [t for t, _ in itertools.groupby(first)] == list(dict.fromkeys(first))


def test_packed_rows_of_empty_documents_is_an_error_not_a_hang():
    with pytest.raises(ValueError, match="empty"):
        next(packed_rows([[], []], 8, random.Random(0)))


def test_tool_conversations_train_the_tokenizer_and_a_few_join_pretraining(tmp_path, tmp_path_factory):
    from transformers import AutoTokenizer

    from t2s_pipeline.modeling.tokenize import render
    from t2s_pipeline.samples.tools import ToolBox, tool_call_sample
    from t2s_pipeline.sql.schema import read_sqlite_schema
    from t2s_pipeline.training.tiny_model import TinyModelConfig, build_tiny_base

    db = tiny.music_databases(tmp_path_factory) / "music.sqlite"
    toolbox = ToolBox(db, read_sqlite_schema(db, "music"))
    conversations = [tool_call_sample({"id": str(i), "db_id": "music", "benchmark": "mini", "question": q,
                                       "gold_sql": sql}, toolbox, sql, "sql") for i, (q, sql) in enumerate(tiny.QUESTIONS)]
    cfg = TinyModelConfig(vocab_size=600, hidden_size=32, num_layers=1, num_heads=2, intermediate_size=64,
                          pretrain_steps=0, pretrain_conversations=2)
    lengths = {}
    for name, extra in (("without", []), ("with", conversations)):
        stats = build_tiny_base(tiny.documents(), tmp_path / name, cfg, log=lambda *_: None, conversations=extra)
        assert stats["tokenizer_conversations"] == len(extra)
        assert stats["pretrain_documents"] == len(tiny.documents()) + min(2, len(extra))
        tok = AutoTokenizer.from_pretrained(tmp_path / name)
        lengths[name] = len(tok(render(tok, conversations[0]["messages"], conversations[0]["tools"])[0])["input_ids"])
    assert lengths["with"] < lengths["without"] * 0.75, lengths
