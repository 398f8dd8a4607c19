"""generate_sql on the tiny model: one string per conversation, batches of at most batch_size."""

from __future__ import annotations

import re

import pytest

from t2s_pipeline.modeling import generate
from t2s_pipeline.modeling.generate import generate_sql, load_model, masked_loss, masked_losses
from t2s_pipeline_tests.training import tiny


@pytest.fixture(scope="module")
def model_and_tokenizer(tiny_base_dir):
    return load_model(str(tiny_base_dir))


def conversations(n: int) -> list[list[dict]]:
    samples = tiny.split_samples()["train"][:n]
    return [[m for m in s["messages"] if m["role"] != "assistant"] for s in samples]


def test_one_string_per_conversation_in_batches_of_batch_size(model_and_tokenizer):
    model, tokenizer = model_and_tokenizer
    calls = []
    original = model.generate

    def spy(**kwargs):
        calls.append(tuple(kwargs["input_ids"].shape))
        return original(**kwargs)

    model.generate = spy
    try:
        out = generate_sql(model, tokenizer, conversations(3), batch_size=2, max_new_tokens=3)
    finally:
        del model.generate
    assert [rows for rows, _ in calls] == [2, 1]
    assert len(out) == 3 and all(isinstance(s, str) for s in out)
    # Prompts are left padded so every row's new tokens start at the same column.
    assert tokenizer.padding_side == "left"


def test_batching_does_not_change_the_predictions(model_and_tokenizer):
    model, tokenizer = model_and_tokenizer
    convs = conversations(3)
    one_by_one = generate_sql(model, tokenizer, convs, batch_size=1, max_new_tokens=4)
    batched = generate_sql(model, tokenizer, convs, batch_size=3, max_new_tokens=4)
    assert batched == one_by_one


def test_no_conversations_no_predictions(model_and_tokenizer):
    model, tokenizer = model_and_tokenizer
    assert generate_sql(model, tokenizer, [], batch_size=2) == []


def test_masked_loss_is_finite_and_close_to_uniform_for_an_untrained_model(model_and_tokenizer):
    import math

    model, tokenizer = model_and_tokenizer
    loss = masked_loss(model, tokenizer, tiny.split_samples()["dev"], batch_size=1)
    assert loss is not None and math.isfinite(loss)
    # Two pretraining steps barely move a random model: the loss is near log(vocab).
    assert abs(loss - math.log(len(tokenizer))) < 1.5
    # Batching with padding does not change the figure.
    assert masked_loss(model, tokenizer, tiny.split_samples()["dev"], batch_size=2) == pytest.approx(loss, rel=1e-5)


def test_generation_stops_at_the_end_of_turn_token(model_and_tokenizer):
    from t2s_pipeline.modeling.generate import stop_token_ids

    model, tokenizer = model_and_tokenizer
    stops = stop_token_ids(tokenizer)
    assert tokenizer.convert_tokens_to_ids("<|im_end|>") in stops
    calls = []
    original = model.generate

    def spy(**kwargs):
        calls.append(kwargs)
        return original(**kwargs)

    model.generate = spy
    try:
        generate_sql(model, tokenizer, conversations(1), batch_size=1, max_new_tokens=2)
    finally:
        del model.generate
    assert calls[0]["eos_token_id"] == stops and calls[0]["do_sample"] is False


def test_beam_search_is_an_option(model_and_tokenizer):
    model, tokenizer = model_and_tokenizer
    out = generate_sql(model, tokenizer, conversations(2), batch_size=2, max_new_tokens=3, num_beams=2)
    assert len(out) == 2 and all(isinstance(s, str) for s in out)


def test_incremental_mode_asks_one_operator_at_a_time(monkeypatch):
    from t2s_pipeline.modeling import generate
    from t2s_pipeline.samples.steps import STEP_SYSTEM_PROMPT

    script = {0: "FROM singer", 1: "|> WHERE age > 30", 2: "|> SELECT name;"}
    seen = []

    def fake_complete(model, tokenizer, convs, batch_size, max_new_tokens, num_beams=1):
        replies = []
        for conv in convs:
            seen.append(conv)
            so_far = conv[-1]["content"].split("Query so far:\n", 1)[1]
            replies.append(script[0 if so_far == "(empty)" else len(so_far.splitlines())])
        return replies

    monkeypatch.setattr(generate, "_complete", fake_complete)
    convs = conversations(2)
    out = generate.generate_incremental(None, None, convs, batch_size=4)
    assert out == ["FROM singer\n|> WHERE age > 30\n|> SELECT name"] * 2  # ';' ended the query
    assert len(seen) == 2 * 3
    # The prompt is the pipe_step training format: step system prompt, the question, the query so far.
    first, last = seen[0], seen[-1]
    assert first[0] == {"role": "system", "content": STEP_SYSTEM_PROMPT}
    assert first[-1]["content"] == convs[0][-1]["content"] + "\n\nQuery so far:\n(empty)"
    assert last[-1]["content"].endswith("Query so far:\nFROM singer\n|> WHERE age > 30")
    # Without ';' the query also ends on an empty reply, a reply that is not an operator, or max_steps.
    script.update({2: "|> SELECT name", 3: ""})
    assert generate.generate_incremental(None, None, convs[:1]) == ["FROM singer\n|> WHERE age > 30\n|> SELECT name"]
    script.update({2: "SELECT oops"})
    assert generate.generate_incremental(None, None, convs[:1]) == ["FROM singer\n|> WHERE age > 30"]
    assert generate.generate_incremental(None, None, convs[:1], max_steps=1) == ["FROM singer"]


def test_incremental_mode_runs_on_the_tiny_model(model_and_tokenizer):
    from t2s_pipeline.modeling.generate import generate_incremental

    model, tokenizer = model_and_tokenizer
    out = generate_incremental(model, tokenizer, conversations(2), batch_size=2, max_new_tokens=3, max_steps=2)
    assert len(out) == 2 and all(isinstance(s, str) for s in out)


def test_per_sample_losses_add_up_to_the_mean(model_and_tokenizer):
    from t2s_pipeline.modeling.generate import masked_losses

    model, tokenizer = model_and_tokenizer
    samples = tiny.split_samples()["dev"]
    per_sample = masked_losses(model, tokenizer, samples, batch_size=2)
    assert len(per_sample) == len(samples) and all(n > 0 for _, n in per_sample)
    total = sum(s for s, _ in per_sample) / sum(n for _, n in per_sample)
    assert total == pytest.approx(masked_loss(model, tokenizer, samples, batch_size=1), rel=1e-5)


def test_seq2seq_loss_is_the_models_own_loss_over_the_sql_and_eos(tiny_t5_dir, trajectories_dir):
    import torch

    from t2s_pipeline.records import read_jsonl
    from t2s_pipeline.modeling.tokenize_seq2seq import encode_pairs, source_and_target

    model, tokenizer = load_model(str(tiny_t5_dir))
    samples = list(read_jsonl(trajectories_dir / "test.jsonl"))
    losses = masked_losses(model, tokenizer, samples, batch_size=2)
    for sample, (total, count) in zip(samples, losses):
        [(ids, labels)] = encode_pairs(tokenizer, [source_and_target(sample)])
        assert count == len(labels) and labels[-1] == tokenizer.eos_token_id
        with torch.no_grad():
            own = model(input_ids=torch.tensor([ids]), labels=torch.tensor([labels])).loss.item()
        assert total / count == pytest.approx(own, rel=1e-4)


def test_seq2seq_generation_returns_one_reply_per_prompt(tiny_t5_dir):
    model, tokenizer = load_model(str(tiny_t5_dir))
    assert generate.is_seq2seq(model) and generate.default_num_beams(model) == 5
    out = generate_sql(model, tokenizer, conversations(3), batch_size=2, max_new_tokens=4, num_beams=2)
    assert len(out) == 3 and all(isinstance(s, str) for s in out)


def test_sampling_an_encoder_decoder_model_is_refused_not_misgrouped(tiny_t5_dir):
    from t2s_pipeline.modeling.generate import sample_sql

    model, tokenizer = load_model(str(tiny_t5_dir))
    with pytest.raises(ValueError, match="decoder-only models; this model is an encoder-decoder one"):
        sample_sql(model, tokenizer, [[{"role": "user", "content": "How many singers?"}]] * 2, 3)


T5_TABLES = {"department": ["department_id", "name", "founded_year"],
             "student": ["student_id", "name", "age", "department_id"]}
T5_QUESTIONS = ["How many students older than 20 are in the department named Physics?",
                "List the names of departments founded before 1900.",
                "What is the name of the oldest student?"]


def _breaches(sql: str, context) -> list[str]:
    """The literals and names of sql that the constraint rules out: strings that are not a span of the question,
    numbers it does not state (0 and 1 aside), words that are neither SQL, an alias, nor a name of the tables."""
    from t2s_pipeline.modeling.sql_context import SQL_WORDS

    names = {n.lower() for t, cols in context.tables.items() for n in (t, *cols)}
    aliases = {a.lower() for a in re.findall(r"\bAS\s+(\w+)", sql, re.I)}
    found = [f"'{s}'" for s in re.findall(r"'([^']*)'", sql) if s.strip("%") not in context.question]
    rest = re.sub(r"'[^']*'?", " ", sql)
    found += [n for n in re.findall(r"(?<![\w.])\d+(?:\.\d+)?(?![\w.])", rest)
              if n not in ("0", "1") and n not in context.question]
    found += [w for w in re.findall(r"\b[A-Za-z_]\w*\b", rest) if w.upper() not in SQL_WORDS and
              w.lower() not in names | aliases and not re.fullmatch(r"T\d+", w, re.I)]
    return found


@pytest.mark.parametrize("num_beams", [1, 3])
def test_seq2seq_generation_obeys_the_sql_constraint(tiny_t5_dir, num_beams):
    """The constraint reads the decoder's tokens (the prompt is in the encoder), beam by beam. The tiny T5's
    head is steered to a name the schema lacks (' singer'), then a number no question states ('6'), then
    ' count': free, it writes the name; constrained, only what the question and the schema allow."""
    import torch

    from t2s_pipeline.modeling.sql_context import SqlContext

    model, tokenizer = load_model(str(tiny_t5_dir))
    bias = torch.zeros(model.config.vocab_size)
    for piece, boost in ((" singer", 30.0), ("6", 20.0), (" count", 10.0)):
        bias[tokenizer.convert_tokens_to_ids(tokenizer.tokenize(piece))[0]] += boost
    model.lm_head.register_forward_hook(lambda module, inputs, logits: logits + bias)
    schema = "\n".join(f"CREATE TABLE {t} ({', '.join(cols)});" for t, cols in T5_TABLES.items())
    prompts = [[{"role": "system", "content": "Write SQL."}, {"role": "user", "content": f"{schema}\n\nQuestion: {q}"}]
               for q in T5_QUESTIONS]
    contexts = [SqlContext(q, T5_TABLES) for q in T5_QUESTIONS]
    free = generate_sql(model, tokenizer, prompts, batch_size=2, max_new_tokens=8, num_beams=num_beams)
    constrained = generate_sql(model, tokenizer, prompts, batch_size=2, max_new_tokens=8, num_beams=num_beams,
                               contexts=contexts)
    assert all("singer" in _breaches(sql, c) for sql, c in zip(free, contexts)), free
    assert [_breaches(sql, c) for sql, c in zip(constrained, contexts)] == [[]] * 3, constrained
    assert all(re.search(r"\bcount\b", sql) for sql in constrained), constrained
