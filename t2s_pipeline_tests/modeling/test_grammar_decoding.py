"""Decoding under the grammar in HF generate (modeling/grammar_decoding.py), on the tiny model."""

from __future__ import annotations

import sqlite3

import pytest
import torch

from t2s_pipeline.modeling.generate import load_model, stop_token_ids
from t2s_pipeline.modeling.grammar_decoding import (GrammarConstraint, GrammarContext, alias_scope, engine_tokenizer,
                                                    grammar_contexts, new_matcher)
from t2s_pipeline.modeling.sql_grammar import grammar_text

TABLES = {"singer": ["singer_id", "name", "country", "age"], "concert": ["concert_id", "year"]}


@pytest.fixture(scope="module")
def model_and_tokenizer(tiny_base_dir):
    return load_model(str(tiny_base_dir))


def _generate(model, tokenizer, contexts, n: int, **options):
    prompt = tokenizer.apply_chat_template([{"role": "user", "content": "How many singers?"}], tokenize=False,
                                           add_generation_prompt=True)
    batch = tokenizer([prompt], return_tensors="pt", add_special_tokens=False)
    stops = stop_token_ids(tokenizer)
    constraint = GrammarConstraint(tokenizer, contexts, batch["input_ids"].shape[1], n, stop_ids=stops)
    torch.manual_seed(0)
    out = model.generate(**batch, max_new_tokens=24, num_return_sequences=n, logits_processor=[constraint],
                         eos_token_id=stops, pad_token_id=tokenizer.pad_token_id, **options)
    return out[:, batch["input_ids"].shape[1]:].tolist(), stops


@pytest.mark.parametrize("options", [dict(do_sample=False), dict(do_sample=True, top_k=0, temperature=1.5),
                                     dict(num_beams=3, do_sample=False)])
def test_every_generated_row_is_a_prefix_the_grammar_takes_and_a_whole_query_where_it_ended(model_and_tokenizer,
                                                                                              options):
    model, tokenizer = model_and_tokenizer
    grammar = grammar_text(TABLES)
    n = 3 if options.get("num_beams") or options.get("do_sample") else 1
    rows, stops = _generate(model, tokenizer, [GrammarContext(grammar)], n, **options)
    engine = engine_tokenizer(tokenizer, stops)
    for row in rows:
        written = [t for t in row if t != tokenizer.pad_token_id]
        ended = bool(written) and written[-1] in stops
        matcher = new_matcher(engine, grammar)
        assert matcher.consume_tokens(written[:-1] if ended else written), tokenizer.decode(written)
        if ended:
            assert matcher.is_accepting(), tokenizer.decode(written)


def test_without_the_grammar_the_tiny_model_writes_what_the_grammar_refuses(model_and_tokenizer):
    """The check above can fail: free decoding of the same prompt leaves the grammar (the baseline)."""
    model, tokenizer = model_and_tokenizer
    prompt = tokenizer.apply_chat_template([{"role": "user", "content": "How many singers?"}], tokenize=False,
                                           add_generation_prompt=True)
    batch = tokenizer([prompt], return_tensors="pt", add_special_tokens=False)
    torch.manual_seed(0)
    out = model.generate(**batch, max_new_tokens=24, do_sample=True, top_k=0, temperature=1.5, num_return_sequences=3,
                         pad_token_id=tokenizer.pad_token_id)
    matcher_ok = [new_matcher(engine_tokenizer(tokenizer), grammar_text(TABLES)).consume_tokens(
        [t for t in row if t != tokenizer.pad_token_id]) for row in out[:, batch["input_ids"].shape[1]:].tolist()]
    assert not all(matcher_ok)


def test_a_row_whose_grammar_allows_nothing_is_left_alone(model_and_tokenizer):
    model, tokenizer = model_and_tokenizer
    constraint = GrammarConstraint(tokenizer, [GrammarContext(grammar_text(TABLES))], 0)
    bad = tokenizer.encode("))))", add_special_tokens=False)  # no query starts so: the matcher is in error
    scores = torch.zeros(1, model.config.vocab_size)
    assert torch.equal(constraint(torch.tensor([bad]), scores.clone()), scores)
    fresh = constraint(torch.tensor([[]], dtype=torch.long), scores.clone())
    assert torch.isinf(fresh).any() and torch.isfinite(fresh).any()


def test_contexts_link_each_question_to_its_database_values(tmp_path):
    db = tmp_path / "d.sqlite"
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE singer (name TEXT, country TEXT)")
    conn.execute("INSERT INTO singer VALUES ('Rose', 'France')")
    conn.commit()
    conn.close()
    linked, free = grammar_contexts(["Singers from France?", "How many singers?"], [db, db])
    assert "'France'" in linked.grammar and "'France'" not in free.grammar


def test_alias_scope_reads_the_table_an_alias_is_bound_to_so_far():
    tables = tuple((t, tuple(c)) for t, c in TABLES.items())
    assert alias_scope("SELECT T1.name FROM singer AS T1 JOIN concert AS T2 ON T2.co", tables) == (
        "co", ("concert_id", "year"))
    assert alias_scope("SELECT singer.na", tables) == ("na", tuple(TABLES["singer"]))  # a table's own name
    assert alias_scope("SELECT T1.", tables) is None  # not bound yet: the grammar's any column
    assert alias_scope("SELECT * FROM singer AS T1 WHERE name = 'T1.", tables) is None  # inside a string


def _allowed_texts(tokenizer, constraint, text: str) -> set[str]:
    written = tokenizer.encode(text, add_special_tokens=False)
    scores = constraint(torch.tensor([written]), torch.zeros(1, len(tokenizer)))
    return {tokenizer.decode([t]) for t in torch.isfinite(scores[0]).nonzero().flatten().tolist()}


def test_after_a_bound_alias_only_its_tables_columns_go_on_and_without_scoping_any_column(model_and_tokenizer):
    _, tokenizer = model_and_tokenizer
    tables = tuple((t, tuple(c)) for t, c in TABLES.items())
    context = GrammarContext(grammar_text(TABLES), tables)
    text = "SELECT T1.name FROM singer AS T1 JOIN concert AS T2 ON T2."
    scoped = _allowed_texts(tokenizer, GrammarConstraint(tokenizer, [context], 0, keep_numbers=False), text)
    free = _allowed_texts(tokenizer, GrammarConstraint(tokenizer, [context], 0, scope_aliases=False,
                                                       keep_numbers=False), text)
    bare = {t for t in scoped if t[:1] not in '"`['}  # quoted names are left to the grammar
    assert bare and all(any(c.startswith(t.lower()) for c in TABLES["concert"]) for t in bare), scoped
    assert any(t.lower().startswith("n") for t in free - scoped)  # `name` (singer's) only without scoping


def test_where_the_model_means_a_number_it_keeps_to_numbers_the_grammar_allows(model_and_tokenizer):
    _, tokenizer = model_and_tokenizer
    context = GrammarContext(grammar_text(TABLES), ())
    written = tokenizer.encode("SELECT name FROM singer WHERE age >", add_special_tokens=False)
    digit = next(t for t in range(len(tokenizer)) if tokenizer.decode([t]).strip()[:1].isdigit())
    scores = torch.zeros(1, len(tokenizer))
    scores[0, digit] = 5.0  # the model's first choice starts a number
    kept = GrammarConstraint(tokenizer, [context], 0)(torch.tensor([written]), scores.clone())
    texts = [tokenizer.decode([t]) for t in torch.isfinite(kept[0]).nonzero().flatten().tolist()]
    assert texts and all(t.strip()[:1].isdigit() for t in texts), texts
    unkept = GrammarConstraint(tokenizer, [context], 0, keep_numbers=False)(torch.tensor([written]), scores.clone())
    assert any(not tokenizer.decode([t]).strip()[:1].isdigit() for t in torch.isfinite(unkept[0]).nonzero().flatten()
               .tolist())  # a name, a subquery... where the model did not mean a number
