"""The agent loop with a scripted backend: turns, tool results from the sandbox, statuses, limits."""

from __future__ import annotations

import hashlib
import json

import pytest

from t2s_pipeline.modeling.agent import (ERROR, NO_PREDICTION, SUCCESS, TIMEOUT, AgentLimits, AgentQuestion,
                                         renderable, run_agent, summary)
from t2s_pipeline.samples.tools import TOOL_SYSTEM_PROMPT, TOOLS
from t2s_pipeline.sql.schema import read_sqlite_schema
from t2s_pipeline_tests.sql.test_pipe import make_music_db


def call(name: str, arguments) -> dict:
    return {"function": {"name": name, "arguments": arguments}}


class Scripted:
    """Replies from a script per question (by the question text), recording the conversations it was shown."""

    def __init__(self, scripts: dict[str, list[dict]], batch_size: int = 4, pause_s: float = 0.0):
        self.scripts, self.batch_size, self.pause_s = scripts, batch_size, pause_s
        self.batches: list[int] = []

    def reply(self, conversations, tools, questions=None):
        import time

        assert tools == TOOLS
        self.batches.append(len(conversations))
        time.sleep(self.pause_s)
        out = []
        for conversation in conversations:
            question = conversation[1]["content"].removeprefix("Question: ")
            turn = sum(m["role"] == "assistant" for m in conversation)
            script = self.scripts[question]
            out.append(script[min(turn, len(script) - 1)])
        return out


@pytest.fixture()
def db(tmp_path):
    return make_music_db(tmp_path / "music.sqlite")


def question(db, text: str) -> AgentQuestion:
    return AgentQuestion(id=text, question=text, db_path=str(db), schema=read_sqlite_schema(db, "music"))


def test_a_conversation_like_the_training_samples_ending_in_the_answer(db):
    script = [{"tool_calls": [call("list_tables", {})]},
              {"tool_calls": [call("describe_table", '{"table": "singer"}')]},
              {"tool_calls": [call("execute_sql", {"sql": "SELECT name FROM singer WHERE singer_id = 1"})]},
              {"content": "SELECT name FROM singer WHERE singer_id = 1"}]
    [run] = run_agent([question(db, "Who is singer 1?")], Scripted({"Who is singer 1?": script}))
    assert run.status == SUCCESS and run.sql == "SELECT name FROM singer WHERE singer_id = 1"
    assert (run.turns, run.tool_calls) == (4, 3) and run.first_sql == run.sql
    assert run.messages[0] == {"role": "system", "content": TOOL_SYSTEM_PROMPT}
    assert [m["role"] for m in run.messages] == ["system", "user", "assistant", "tool", "assistant", "tool",
                                                 "assistant", "tool", "assistant"]
    assert json.loads(run.messages[3]["content"]) == ["stadium", "singer", "concert", "performs"]
    assert run.messages[4]["tool_calls"][0]["function"] == {"name": "describe_table", "arguments": '{"table": "singer"}'}
    assert run.messages[5]["content"].startswith("CREATE TABLE singer")
    assert json.loads(run.messages[7]["content"]) == {"columns": ["name"], "rows": [["Ann"]], "truncated": False}


def test_hostile_calls_are_refused_in_the_conversation_and_the_database_is_unchanged(db):
    before = hashlib.sha256(db.read_bytes()).hexdigest()
    hostile = [call("execute_sql", {"sql": "DROP TABLE singer"}), call("execute_sql", '{"sql": "SELECT 1'),
               call("execute_sql", {"sql": "ATTACH DATABASE 'x.db' AS x"}), call("format_disk", {}),
               call("execute_sql", {"sql": "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n) "
                                           "SELECT count(*) FROM n"})]
    script = [{"tool_calls": hostile}, {"content": "SELECT count(*) FROM singer"}]
    [run] = run_agent([question(db, "q")], Scripted({"q": script}), AgentLimits(tool_timeout_s=0.5))
    results = [m["content"] for m in run.messages if m["role"] == "tool"]
    assert len(results) == 5 and all(json.loads(r).get("error") for r in results)
    assert ["denied", "not JSON", "denied", "unknown tool", "timeout"] == [
        next(w for w in ("denied", "not JSON", "unknown tool", "timeout") if w in r) for r in results]
    assert run.first_sql == "DROP TABLE singer" and run.status == SUCCESS and run.tool_calls == 5
    assert hashlib.sha256(db.read_bytes()).hexdigest() == before
    assert renderable(run.messages)[2]["tool_calls"][1]["function"]["arguments"] == {}  # not JSON: shown with none


def test_statuses_and_limits(db):
    scripts = {"answers": [{"content": "```sql\nSELECT 1\n```"}],
               "says nothing": [{"content": "  "}],
               "loops": [{"tool_calls": [call("list_tables", {})]}],
               "fails": [{"content": "", "error": "tool call could not be read"}]}
    backend = Scripted(scripts, batch_size=4)
    runs = run_agent([question(db, q) for q in scripts], backend, AgentLimits(max_turns=3))
    by_id = {r.id: r for r in runs}
    assert (by_id["answers"].status, by_id["answers"].sql) == (SUCCESS, "SELECT 1")
    assert by_id["says nothing"].status == NO_PREDICTION and by_id["says nothing"].turns == 1
    assert by_id["loops"].status == NO_PREDICTION and (by_id["loops"].turns, by_id["loops"].tool_calls) == (3, 3)
    assert by_id["fails"].status == ERROR and "could not be read" in by_id["fails"].error
    assert backend.batches == [4, 1, 1]  # the questions still going take their turns together
    counts = summary(runs)
    assert counts["statuses"] == {"success": 1, "no_prediction": 2, "error": 1, "timeout": 0}
    assert counts["turns_per_question"] == pytest.approx(6 / 4) and counts["tool_calls_per_question"] == 0.75


def test_the_wall_time_per_question_ends_a_slow_question(db):
    backend = Scripted({"slow": [{"tool_calls": [call("list_tables", {})]}]}, pause_s=0.2)
    [run] = run_agent([question(db, "slow")], backend, AgentLimits(max_turns=50, wall_s=0.5))
    assert run.status == TIMEOUT and 2 <= run.turns <= 4 and run.seconds < 1.5


def test_a_failing_backend_ends_its_questions_with_an_error(db):
    class Broken:
        batch_size = 2

        def reply(self, conversations, tools, questions=None):
            raise ConnectionError("server went away")

    runs = run_agent([question(db, "a"), question(db, "b")], Broken())
    assert [(r.status, r.error) for r in runs] == [(ERROR, "ConnectionError: server went away")] * 2


def test_limits_must_be_positive():
    with pytest.raises(ValueError, match="max_turns"):
        AgentLimits(max_turns=0)


def test_check_style_runs_each_query_accepts_rows_and_asks_again_after_nothing(db):
    from t2s_pipeline.samples.prompts import SYSTEM_PROMPT, user_prompt

    schema = read_sqlite_schema(db, "music")
    ask = lambda text: AgentQuestion(id=text, question=text, db_path=str(db), schema=schema, schema_text="CREATE ...")
    nothing, right = "SELECT name FROM singer WHERE singer_id = 99", "SELECT name FROM singer WHERE singer_id = 1"
    scripts = {user_prompt("CREATE ...", "Who is singer 1?"): [{"content": nothing + '<tool_call>\n{"na'},
                                                               {"content": right}],
               user_prompt("CREATE ...", "Who is singer one?"): [{"content": right}],
               user_prompt("CREATE ...", "Who is singer 99?"): [{"content": nothing}, {"content": nothing}]}

    class Check(Scripted):
        def reply(self, conversations, tools, questions=None):
            assert tools is None  # the single-turn prompt, no tools block
            return [self.scripts[c[1]["content"]][sum(m["role"] == "assistant" for m in c)] for c in conversations]

    repaired, at_once, never = run_agent([ask("Who is singer 1?"), ask("Who is singer one?"), ask("Who is singer 99?")],
                                         Check(scripts), AgentLimits(max_turns=2))
    assert repaired.messages[:2] == [{"role": "system", "content": SYSTEM_PROMPT},
                                     {"role": "user", "content": user_prompt("CREATE ...", "Who is singer 1?")}]
    assert [m["role"] for m in repaired.messages] == ["system", "user", "assistant", "tool", "assistant", "tool"]
    assert repaired.messages[2]["content"] == nothing  # the call the model went on to write is not kept
    assert json.loads(repaired.messages[2]["tool_calls"][0]["function"]["arguments"]) == {"sql": nothing}
    assert json.loads(repaired.messages[3]["content"])["rows"] == []
    assert (repaired.status, repaired.first_sql, repaired.sql, repaired.turns) == (SUCCESS, nothing, right, 2)
    assert (at_once.status, at_once.sql, at_once.turns, at_once.tool_calls) == (SUCCESS, right, 1, 1)
    # Turns ran out without rows: the last query written is the answer.
    assert (never.status, never.sql, never.turns) == (SUCCESS, nothing, 2)
