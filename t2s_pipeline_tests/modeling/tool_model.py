"""A tiny model trained on tool-calling conversations (the `tool_call` samples) about the music database, built
once per session (the root conftest's `tool_model` fixture)."""

from __future__ import annotations

import sqlite3

from t2s_pipeline_tests.training import tiny

TRAIN_QUESTIONS = 4  # questions 0-3 trained on; the rest are held out
TOOL_MODEL_STEPS = 120  # the trained questions come out right, most held-out ones call tools and answer
_CACHE: dict = {}


def tool_model(tmp_path_factory):
    """(model folder, music database, its schema): a 0.2 M-parameter Llama whose tokenizer is trained on the
    rendered conversations, fully fine-tuned on 4 of them (about 25 s on one thread)."""
    if "model" not in _CACHE:
        _CACHE["model"] = _build(tmp_path_factory.mktemp("tool_model"))
    return _CACHE["model"]


def _build(root):
    import torch

    from transformers.utils.chat_template_utils import render_jinja_template

    from t2s_pipeline.modeling.tokenize import hf_messages, tokenize_sample
    from t2s_pipeline.samples.tools import TOOLS, ToolBox, tool_call_sample
    from t2s_pipeline.sql.schema import read_sqlite_schema
    from t2s_pipeline.training.tiny_model import CHAT_TEMPLATE, TinyModelConfig, build_model, train_tokenizer

    db = root / "music.sqlite"
    with sqlite3.connect(db) as conn:
        conn.execute(tiny.SCHEMA.rstrip(";"))
        conn.executemany("INSERT INTO singer VALUES (?, ?, ?, ?)", tiny.SINGERS)
    conn.close()
    schema = read_sqlite_schema(db, "music")
    toolbox = ToolBox(db, schema)
    samples = [tool_call_sample({"id": str(i), "db_id": "music", "benchmark": "mini", "question": q, "gold_sql": sql},
                                toolbox, sql, "sql") for i, (q, sql) in enumerate(tiny.QUESTIONS)]
    texts = [render_jinja_template([hf_messages(s["messages"])], chat_template=CHAT_TEMPLATE, tools=TOOLS)[0][0]
             for s in samples]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # five times faster than two threads on a loaded 2-core machine
    try:
        torch.manual_seed(0)
        tokenizer = train_tokenizer(texts, 1500)
        model = build_model(tokenizer, TinyModelConfig(vocab_size=1500, hidden_size=64, num_layers=2, num_heads=2,
                                                       intermediate_size=128, max_position_embeddings=2048))
        rows = [tokenize_sample(tokenizer, s["messages"], TOOLS) for s in samples[:TRAIN_QUESTIONS]]
        width = max(len(r["input_ids"]) for r in rows)
        pad = lambda key, value: torch.tensor([r[key] + [value] * (width - len(r[key])) for r in rows])
        batch = dict(input_ids=pad("input_ids", tokenizer.pad_token_id), attention_mask=pad("attention_mask", 0),
                     labels=pad("labels", -100))
        optimizer = torch.optim.AdamW(model.parameters(), lr=5e-3)
        model.train()
        for _ in range(TOOL_MODEL_STEPS):
            model(**batch).loss.backward()
            optimizer.step()
            optimizer.zero_grad()
        model.eval()
    finally:
        torch.set_num_threads(threads)
    model.save_pretrained(root / "model")
    tokenizer.save_pretrained(root / "model")
    return root / "model", db, schema
