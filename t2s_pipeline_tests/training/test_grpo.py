"""Pieces of the GRPO entry point (training/grpo.py) tested alone: constrained sampling of completions, the
verdicts mixed_only keeps prompts by."""

from __future__ import annotations

import sqlite3

import torch

from t2s_pipeline.modeling.constrained import SqlConstraint
from t2s_pipeline.modeling.sql_context import SqlContext
from t2s_pipeline.modeling.generate import load_model
from t2s_pipeline.training.grpo import constrained_generate, context_reader, sampled_verdicts
from t2s_pipeline.training.reward import ExecutionReward
from t2s_pipeline.training.rl_config import RLConfig

TABLES = {"singer": ["singer_id", "name", "age", "country"]}
QUESTION = "How many singers from France are older than 30?"


def test_within_constrained_generate_the_model_samples_under_the_sql_constraint(tiny_base_dir):
    from transformers import LogitsProcessorList

    model, tokenizer = load_model(str(tiny_base_dir))
    prompt = tokenizer(["SELECT name FROM singer WHERE"], return_tensors="pt")
    width = prompt["input_ids"].shape[1]
    contexts = [SqlContext(QUESTION, TABLES)] * 6

    def sample(**options) -> list[str]:
        torch.manual_seed(0)
        out = model.generate(**prompt, do_sample=True, top_k=0, max_new_tokens=12, num_return_sequences=6,
                             pad_token_id=tokenizer.pad_token_id or tokenizer.eos_token_id, **options)
        return tokenizer.batch_decode(out[:, width:], skip_special_tokens=True)

    free = sample()
    explicit = sample(logits_processor=LogitsProcessorList([SqlConstraint(tokenizer, contexts, width)]))
    with constrained_generate(model, tokenizer, contexts, width):
        within = sample()
    assert within == explicit != free
    assert "generate" not in vars(model) and sample() == free  # the block leaves the model as it was


def test_within_constrained_generate_the_model_can_sample_under_the_grammar(tiny_base_dir):
    from transformers import LogitsProcessorList

    from t2s_pipeline.modeling.generate import stop_token_ids
    from t2s_pipeline.modeling.grammar_decoding import GrammarConstraint, GrammarContext
    from t2s_pipeline.modeling.sql_grammar import grammar_text

    model, tokenizer = load_model(str(tiny_base_dir))
    prompt = tokenizer(["How many singers?"], return_tensors="pt")
    width = prompt["input_ids"].shape[1]
    contexts = [GrammarContext(grammar_text(TABLES))] * 4

    def sample(**options) -> list[str]:
        torch.manual_seed(0)
        out = model.generate(**prompt, do_sample=True, top_k=0, max_new_tokens=10, num_return_sequences=4,
                             pad_token_id=tokenizer.pad_token_id or tokenizer.eos_token_id, **options)
        return tokenizer.batch_decode(out[:, width:], skip_special_tokens=True)

    free = sample()
    explicit = sample(logits_processor=LogitsProcessorList([GrammarConstraint(
        tokenizer, contexts, width, stop_ids=stop_token_ids(tokenizer))]))
    with constrained_generate(model, tokenizer, contexts, width):
        within = sample()
    assert within == explicit != free
    assert all(text.lstrip()[:1].upper() in ("S", "W", "") for text in within)  # SELECT or WITH starts a query


def test_contexts_are_built_once_per_prompt_with_the_database_names_and_values(tmp_path):
    db = tmp_path / "music.sqlite"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE singer (singer_id INTEGER, name TEXT, age INTEGER, country TEXT)")
        conn.execute("INSERT INTO singer VALUES (1, 'Ann', 30, 'France')")
    rows = [{"id": "q1", "question": QUESTION, "databases": [str(db), "/suite/variant.sqlite"]},
            {"id": "q2", "question": "Who?", "databases": [str(db)]}]
    contexts = context_reader()
    first = contexts([rows[0], rows[0], rows[1]])
    assert [c.question for c in first] == [QUESTION, QUESTION, "Who?"]
    assert first[0] is first[1] and first[0].tables == TABLES and first[0].values == {"Ann", "France"}
    assert contexts([rows[1]])[0] is first[2]  # built once, reused by later batches


def test_pipe_prompts_get_the_pipe_grammar_and_sql_prompts_the_sql_one(tmp_path):
    db = tmp_path / "music.sqlite"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE singer (singer_id INTEGER, name TEXT, age INTEGER, country TEXT)")
    rows = [{"id": "p", "question": "Who?", "databases": [str(db)], "answer_format": "pipe"},
            {"id": "s", "question": "Who?", "databases": [str(db)], "answer_format": "sql"}]
    pipe, sql = context_reader("grammar")(rows)
    assert '"|>"' in pipe.grammar and '"|>"' not in sql.grammar


def test_sampled_verdicts_judge_each_prompts_group_as_training_samples_it(tmp_path, monkeypatch):
    import t2s_pipeline.modeling.generate as generate

    db = tmp_path / "music.sqlite"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE singer (singer_id INTEGER, name TEXT, age INTEGER, country TEXT)")
        conn.executemany("INSERT INTO singer VALUES (?, ?, ?, ?)", [(1, "Ann", 30, "France"), (2, "Bo", 41, "Peru")])
    rows = [{"id": "count", "prompt": [{"role": "user", "content": "How many singers?"}], "format": "chat",
             "gold_sql": "SELECT count(*) FROM singer", "databases": [str(db)], "answer_format": "sql"},
            {"id": "names", "prompt": [{"role": "user", "content": "Names of singers?"}], "format": "chat",
             "gold_sql": "SELECT name FROM singer", "databases": [str(db)], "answer_format": "sql"}]
    replies = [["SELECT count(*) FROM singer", "SELECT 5", "SELECT count(name) FROM singer"],
               ["SELECT name FROM singer", "SELECT name FROM singer", "DROP TABLE singer"]]
    asked = {}

    def fake_sample_replies(model, tokenizer, conversations, n, *args):
        asked.update(conversations=conversations, n=n, args=args)
        return replies

    monkeypatch.setattr(generate, "sample_replies", fake_sample_replies)
    cfg = RLConfig(num_generations=3, per_device_train_batch_size=6, max_completion_length=40, temperature=0.7,
                   top_p=0.9)
    verdicts = sampled_verdicts(None, None, rows, cfg, ExecutionReward())
    assert verdicts == [[True, False, True], [True, True, False]]
    assert asked["conversations"] == [r["prompt"] for r in rows] and asked["n"] == 3
    assert asked["args"] == (6, 40, 0.7, 0.9, None, None)  # batch, length, temperature, top_p: training's
