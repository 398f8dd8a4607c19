"""The agent's constraint: its queries (in execute_sql and as the final reply) under the hand rules, the rest of
a tool call freely, and at a turn's first token the model still chooses between answering and calling a tool."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from transformers import AutoTokenizer  # noqa: E402

from t2s_pipeline.modeling.agent import AgentQuestion, run_agent  # noqa: E402
from t2s_pipeline.modeling.agent_backends import LocalBackend  # noqa: E402
from t2s_pipeline.modeling.agent_constraint import (  # noqa: E402
    EXECUTE_SQL_OPENER, AgentReplyConstraint, opens_tool_call, tool_call_opener_ids)
from t2s_pipeline.modeling.generate import load_model  # noqa: E402
from t2s_pipeline.modeling.sql_context import sql_contexts  # noqa: E402
from t2s_pipeline_tests.modeling.tool_model import TRAIN_QUESTIONS  # noqa: E402
from t2s_pipeline_tests.training import tiny  # noqa: E402


def test_a_turn_opens_a_tool_call_when_it_is_a_prefix_of_the_opener_or_starts_with_it():
    assert opens_tool_call("<") and opens_tool_call("<tool_") and opens_tool_call('<tool_call>\n{"name"')
    assert not opens_tool_call("") and not opens_tool_call("SELECT") and not opens_tool_call("<tools>")


def test_queries_follow_the_rules_and_the_rest_of_a_tool_call_goes_free(tool_model):
    folder, db, _ = tool_model
    tok = AutoTokenizer.from_pretrained(folder)
    ids = lambda text: tok(text, add_special_tokens=False)["input_ids"]
    one = lambda text: ids(text)[0] if len(ids(text)) == 1 else pytest.fail(f"{text!r} is not one token")
    opener, select, describe, france, z = one("<"), one("SELECT"), one("describe"), one("France"), one("Z")
    prompt = ids("Which")
    processor = AgentReplyConstraint(tok, sql_contexts(["Which singers are from France?"], [db]), len(prompt),
                                     tool_call_opener_ids(tok), {})

    def step(written: str, top: dict[int, float]):
        scores = torch.full((1, len(tok)), -10.0)
        for token, score in top.items():
            scores[0, token] = score
        return scores, processor(torch.tensor([prompt + (ids(written) if written else [])]), scores.clone())

    # First token: opening a tool call stays a choice beside the query the rules allow; other words do not.
    _, out = step("", {opener: 5.0, select: 4.0, describe: 3.0})
    assert out[0, opener] == 5.0 and out[0, select] == 4.0 and out[0, describe] == float("-inf")
    # A tool call may also open where the turn's query may end, not inside a string.
    _, out = step("SELECT name FROM singer", {opener: 5.0, describe: 4.0})
    assert out[0, opener] == 5.0 and out[0, describe] == float("-inf")
    _, out = step("SELECT name FROM singer WHERE country = 'Fr", {opener: 5.0})
    assert out[0, opener] == float("-inf")
    _, out = step("SELECT name FROM singer<tool_", {one("call"): 5.0})  # and goes on once begun
    assert out[0, one("call")] == 5.0
    # A tool call's JSON is not checked.
    scores, out = step('<tool_call>\n{"name": "', {describe: 5.0, z: 4.0})
    assert torch.equal(out, scores)
    # A final reply, and the query of an execute_sql call: a string literal comes from the question (France).
    query = "SELECT name FROM singer WHERE country = '"
    for written in (query, EXECUTE_SQL_OPENER + query, "SELECT 1" + EXECUTE_SQL_OPENER + query):
        _, out = step(written, {z: 5.0, france: 4.0})
        assert out[0].argmax() == france and out[0, z] == float("-inf"), written
    # Once the call's query is closed, or in another tool's call, nothing is checked.
    for written in (EXECUTE_SQL_OPENER + query + "France'\"}", '<tool_call>\n{"name": "describe_table", "arguments": '
                    '{"table": "'):
        scores, out = step(written, {z: 5.0, france: 4.0})
        assert torch.equal(out, scores), written


def test_the_agent_under_the_rules_still_calls_its_tools_and_answers(tool_model):
    folder, db, schema = tool_model
    model, tokenizer = load_model(str(folder))
    questions = [AgentQuestion(str(i), q, str(db), schema) for i, (q, _) in enumerate(tiny.QUESTIONS[:TRAIN_QUESTIONS])]
    free = run_agent(questions, LocalBackend(model, tokenizer, max_new_tokens=96))
    ruled = run_agent(questions, LocalBackend(model, tokenizer, max_new_tokens=96, rules=True))
    assert all(r.tool_calls > 0 for r in ruled)
    # Trained questions come out right freely; the rules allow those same queries.
    assert [r.sql for r in ruled] == [r.sql for r in free] == [sql for _, sql in tiny.QUESTIONS[:TRAIN_QUESTIONS]]


def test_single_turn_rules_let_a_trained_tool_call_open_and_the_answer_is_the_text_before_it(tool_model):
    """A model trained on check conversations may go on from its answer to run it; single-turn decoding under the
    rules lets the call open (instead of cutting it into junk SQL) and the answer is the text before it."""
    from t2s_pipeline.modeling.generate import _constraint, extract_sql

    folder, db, _ = tool_model
    tok = AutoTokenizer.from_pretrained(folder)
    [processor] = _constraint(tok, sql_contexts(["Which singers?"], [db]), 1, 1, {})
    # After `... id <` the model goes on to `tool` (a call) rather than to `1`: the rules alone would refuse `tool`
    # (not a name of the database) and write `< 1`, junk SQL in place of the call.
    written = torch.tensor([tok("x SELECT name FROM singer WHERE id <", add_special_tokens=False)["input_ids"]])
    tool, one = (tok(t, add_special_tokens=False)["input_ids"][0] for t in ("tool", "1"))
    scores = torch.full((1, len(tok)), -10.0)
    scores[0, tool], scores[0, one] = 5.0, 4.0
    assert processor(written, scores.clone())[0].argmax() == tool
    from t2s_pipeline.modeling.constrained import SqlConstraint

    rules = SqlConstraint(tok, sql_contexts(["Which singers?"], [db]), 1)
    assert rules(written, scores.clone())[0].argmax() == one
    assert extract_sql('SELECT name FROM singer<tool_call>\n{"name": "execute_sql"') == "SELECT name FROM singer"
