"""The incremental pipe mode: one operator a turn, each query so far run in the sandbox, as generate_incremental."""

from __future__ import annotations

import json

from t2s_pipeline.modeling.agent import AgentLimits
from t2s_pipeline.modeling.agent_incremental import run_incremental
from t2s_pipeline.samples.prompts import prompt_messages
from t2s_pipeline.samples.steps import STEP_SYSTEM_PROMPT
from t2s_pipeline.sql.schema import read_sqlite_schema
from t2s_pipeline_tests.sql.test_pipe import make_music_db


class Steps:
    """Replies with the next operator of a script, by how many operators the query so far has."""

    batch_size = 4

    def __init__(self, script: list[str]):
        self.script, self.prompts = script, []

    def reply(self, conversations, tools, questions=None):
        assert tools is None
        self.prompts += conversations
        out = []
        for c in conversations:
            so_far = c[-1]["content"].split("Query so far:\n", 1)[1].split("\n\nIts result:")[0]
            done = 0 if so_far == "(empty)" else len(so_far.splitlines())
            out.append({"content": self.script[min(done, len(self.script) - 1)]})
        return out


def test_operators_are_appended_and_each_query_so_far_is_run(tmp_path):
    db = make_music_db(tmp_path / "music.sqlite")
    schema = read_sqlite_schema(db, "music")
    backend = Steps(["FROM singer", "|> WHERE singer_id = 1", "|> SELECT name;"])
    [run] = run_incremental(["q"], [prompt_messages("CREATE TABLE singer (...)", "Who is singer 1?")],
                            [(str(db), schema)], backend)
    assert run.status == "success" and run.sql == "FROM singer\n|> WHERE singer_id = 1\n|> SELECT name"
    assert (run.turns, run.tool_calls, run.first_sql) == (3, 3, None)
    assert run.messages[0] == {"role": "system", "content": STEP_SYSTEM_PROMPT}
    assert json.loads(run.messages[-1]["content"]) == {"columns": ["name"], "rows": [["Ann"]], "truncated": False}
    assert backend.prompts[1][-1]["content"].endswith("Query so far:\nFROM singer")
    assert "Its result" not in backend.prompts[1][-1]["content"]  # training never showed rows


def test_show_rows_limits_and_a_non_operator_ending(tmp_path):
    db = make_music_db(tmp_path / "music.sqlite")
    target = (str(db), read_sqlite_schema(db, "music"))
    prompt = prompt_messages("CREATE TABLE singer (...)", "q")
    backend = Steps(["FROM singer", "|> WHERE age > 30", "|> WHERE age > 31", "|> WHERE age > 32", "|> x"])
    [capped] = run_incremental(["q"], [prompt], [target], backend, AgentLimits(max_turns=2), show_rows=True)
    assert capped.status == "success" and capped.sql == "FROM singer\n|> WHERE age > 30"
    assert capped.error == "stopped after 2 operators"
    shown = [m["content"] for m in capped.messages if m["role"] == "tool"]
    assert backend.prompts[1][-1]["content"].split("Its result:\n", 1)[1] == shown[0]  # what the sandbox said
    assert json.loads(shown[1])["columns"][:2] == ["singer_id", "name"]
    [ended] = run_incremental(["q"], [prompt], [target], Steps(["FROM singer", "SELECT 1"]))
    assert (ended.status, ended.sql, ended.turns) == ("success", "FROM singer", 2)
    [empty] = run_incremental(["q"], [prompt], [target], Steps([""]))
    assert (empty.status, empty.sql) == ("no_prediction", "")


def test_same_queries_as_generate_incremental_on_the_tiny_model(tiny_base_dir, tmp_path):
    from t2s_pipeline.modeling.agent_backends import LocalBackend
    from t2s_pipeline.modeling.generate import generate_incremental, load_model

    db = make_music_db(tmp_path / "music.sqlite")
    target = (str(db), read_sqlite_schema(db, "music"))
    prompts = [prompt_messages("CREATE TABLE singer (id INTEGER, name TEXT);", q) for q in ("How many?", "Who?")]
    model, tokenizer = load_model(str(tiny_base_dir))
    expected = generate_incremental(model, tokenizer, prompts, batch_size=2, max_new_tokens=8, max_steps=3)
    runs = run_incremental(["a", "b"], prompts, [target, target], LocalBackend(model, tokenizer, 2, 8),
                           AgentLimits(max_turns=3))
    assert [r.sql for r in runs] == expected
