"""Tool-calling samples: OpenAI tools format, real results from the database, ending in the validated answer."""

from __future__ import annotations

import json

from t2s_pipeline.samples.tools import TOOLS, ToolBox, selected_for_tools, tables_used, tool_call_sample
from t2s_pipeline.sql.schema import read_sqlite_schema
from t2s_pipeline_tests.sql.test_pipe import make_music_db

PIPE = "FROM singer AS T1\n|> JOIN performs AS T2 ON T1.singer_id = T2.singer_id\n|> WHERE T2.concert_id = 3\n|> SELECT T1.name"
PAIR = {"id": "mini/dev/1", "benchmark": "mini", "db_id": "music", "question": "Who sang in concert 3?",
        "evidence": "", "difficulty": None, "pipe_sql": PIPE,
        "gold_sql": "SELECT T1.name FROM singer AS T1 JOIN performs AS T2 ON T1.singer_id = T2.singer_id "
                    "WHERE T2.concert_id = 3"}


def test_tools_are_openai_function_definitions():
    assert [t["function"]["name"] for t in TOOLS] == ["list_tables", "describe_table", "sample_rows", "execute_sql"]
    for tool in TOOLS:
        assert tool["type"] == "function" and tool["function"]["parameters"]["type"] == "object"
        assert set(tool["function"]["parameters"]["required"]) <= set(tool["function"]["parameters"]["properties"])


def test_a_conversation_with_real_results_ending_in_the_answer(tmp_path):
    db = make_music_db(tmp_path / "music.sqlite")
    schema = read_sqlite_schema(db, "music")
    sample = tool_call_sample(PAIR, ToolBox(db, schema), PIPE, "pipe")
    messages = sample["messages"]
    assert sample["tools"] == TOOLS and sample["meta"]["kind"] == "tool_call" and sample["meta"]["answer"] == "pipe"
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "tool", "assistant", "tool", "tool",
                                             "assistant", "tool", "assistant", "tool", "assistant"]
    assert messages[1]["content"] == "Question: Who sang in concert 3?"
    calls = [c for m in messages if m.get("tool_calls") for c in m["tool_calls"]]
    assert [c["function"]["name"] for c in calls] == ["list_tables", "describe_table", "describe_table",
                                                      "sample_rows", "execute_sql"]
    assert [json.loads(c["function"]["arguments"]) for c in calls[1:3]] == [{"table": "singer"}, {"table": "performs"}]
    results = {m["tool_call_id"]: m["content"] for m in messages if m["role"] == "tool"}
    assert set(results) == {c["id"] for c in calls}
    assert json.loads(results["call_1"]) == ["stadium", "singer", "concert", "performs"]
    assert results["call_2"].startswith("CREATE TABLE singer (singer_id INTEGER PRIMARY KEY")
    rows = json.loads(results["call_4"])
    assert rows["columns"][:2] == ["singer_id", "name"] and rows["rows"][0][:2] == [1, "Ann"] and len(rows["rows"]) == 3
    answer = json.loads(results["call_5"])
    assert answer == {"columns": ["name"], "rows": [["Bob"], ["Dee"]], "truncated": False}
    assert messages[-1] == {"role": "assistant", "content": PIPE}


def test_the_draw_is_stable_and_near_the_share():
    ids = [f"b/dev/{i}" for i in range(2000)]
    drawn = [i for i in ids if selected_for_tools(i, 0.25, seed=1)]
    assert drawn == [i for i in ids if selected_for_tools(i, 0.25, seed=1)]
    assert 400 < len(drawn) < 600
    assert not any(selected_for_tools(i, 0.0) for i in ids) and all(selected_for_tools(i, 1.0) for i in ids)


def test_tables_used_in_order_without_ctes(tmp_path):
    schema = read_sqlite_schema(make_music_db(tmp_path / "m.sqlite"), "music")
    assert tables_used(PAIR["gold_sql"], schema) == ["singer", "performs"]
    used = tables_used("WITH x AS (SELECT * FROM concert) SELECT * FROM x, STADIUM", schema)
    assert sorted(used) == ["concert", "stadium"]  # schema spelling, CTE name x left out
    assert tables_used("not sql at all (", schema) == []


def _sha256(path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


GENERATOR = "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < {}) "
# (what the call tries, tool, arguments, a word the refusal or result must hold)
HOSTILE = [
    ("a write", "execute_sql", {"sql": "INSERT INTO singer (singer_id, name) VALUES (99, 'X')"}, "denied"),
    ("an update", "execute_sql", {"sql": "UPDATE singer SET name = 'X'"}, "denied"),
    ("a drop", "execute_sql", {"sql": "DROP TABLE singer"}, "denied"),
    ("attach", "execute_sql", {"sql": "ATTACH DATABASE '/tmp/evil.sqlite' AS evil"}, "denied"),
    ("several statements", "execute_sql", {"sql": "SELECT 1; DELETE FROM singer"}, "2 statements"),
    ("a write hidden in pipe SQL", "execute_sql", {"sql": "FROM singer |> SELECT name; DROP TABLE singer"}, "error"),
    ("a runaway recursive CTE", "execute_sql",
     {"sql": "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n) SELECT count(*) FROM n"}, "timeout"),
    ("ten million rows sorted (a cross join of a generator)", "execute_sql",
     {"sql": GENERATOR.format(4000) + "SELECT a.x, b.x FROM n AS a, n AS b ORDER BY a.x + b.x DESC"}, "timeout"),
    ("a table that does not exist", "sample_rows", {"table": "no_such_table"}, "no such table"),
    ("a table that does not exist", "describe_table", {"table": "no_such_table"}, "no such table"),
    ("an injection through the table name", "sample_rows", {"table": "singer; DROP TABLE singer"}, "no such table"),
    ("a tool that does not exist", "drop_database", {}, "unknown tool"),
    ("a missing argument", "execute_sql", {}, "missing argument"),
    ("an argument of the wrong type", "sample_rows", {"table": "singer", "limit": "many"}, "error"),
    ("arguments that are not JSON", "execute_sql", '{"sql": "SELECT 1"', "not JSON"),
    ("arguments that are not an object", "execute_sql", '["SELECT 1"]', "JSON object"),
]


def test_hostile_calls_are_refused_or_cut_within_the_timeout_and_the_database_is_unchanged(tmp_path):
    import time

    db = make_music_db(tmp_path / "music.sqlite")
    before = _sha256(db)
    toolbox = ToolBox(db, read_sqlite_schema(db, "music"), timeout_s=1.0)
    for what, name, arguments, expected in HOSTILE:
        start = time.monotonic()
        text = toolbox.run(name, arguments)
        assert time.monotonic() - start < 3.0, what
        assert expected.lower() in text.lower(), (what, text)
        assert not text.startswith('{"columns"'), (what, text)
    assert _sha256(db) == before and [p.name for p in tmp_path.iterdir()] == ["music.sqlite"]  # no journal, no file


def test_ten_million_rows_are_cut_to_the_row_cap(tmp_path):
    import time

    db = make_music_db(tmp_path / "music.sqlite")
    toolbox = ToolBox(db, read_sqlite_schema(db, "music"), timeout_s=1.0)
    start = time.monotonic()
    result = json.loads(toolbox.run("execute_sql", {"sql": GENERATOR.format(10_000_000) + "SELECT x FROM n"}))
    assert time.monotonic() - start < 1.0
    assert result == {"columns": ["x"], "rows": [[i] for i in range(1, 11)], "truncated": True}


def test_a_valid_call_as_json_text_gives_the_same_text_as_a_dict(tmp_path):
    db = make_music_db(tmp_path / "music.sqlite")
    toolbox = ToolBox(db, read_sqlite_schema(db, "music"))
    as_dict = toolbox.run("sample_rows", {"table": "singer", "limit": 2})
    assert toolbox.run("sample_rows", '{"table": "singer", "limit": 2}') == as_dict
    assert len(json.loads(as_dict)["rows"]) == 2
    assert json.loads(toolbox.run("list_tables", "")) == ["stadium", "singer", "concert", "performs"]


def test_a_check_conversation_shows_the_schema_and_runs_the_query_at_once(tmp_path):
    from t2s_pipeline.samples.prompts import SYSTEM_PROMPT, user_prompt

    db = make_music_db(tmp_path / "music.sqlite")
    schema = read_sqlite_schema(db, "music")
    sample = tool_call_sample(PAIR, ToolBox(db, schema), PAIR["gold_sql"], "sql", schema_text="CREATE TABLE singer (...)")
    messages = sample["messages"]
    assert sample["meta"]["tool_style"] == "check" and sample["tools"] is None  # the single-turn prompt, no tools block
    assert messages[0]["content"] == SYSTEM_PROMPT  # the single-turn prompt: its first query is its single-turn answer
    assert messages[1]["content"] == user_prompt("CREATE TABLE singer (...)", PAIR["question"])
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "tool", "assistant"]
    assert json.loads(messages[2]["tool_calls"][0]["function"]["arguments"]) == {"sql": PAIR["gold_sql"]}
    assert messages[2]["content"] == PAIR["gold_sql"]  # written where a single-turn answer stands, then run
    assert json.loads(messages[3]["content"])["rows"] == [["Bob"], ["Dee"]]
    assert messages[-1] == {"role": "assistant", "content": PAIR["gold_sql"]}
    # A repair of style check: the near miss runs first (shown, not learned), then the gold.
    repair = tool_call_sample(PAIR, ToolBox(db, schema), PAIR["gold_sql"], "sql", near_miss="SELECT 1",
                              schema_text="CREATE TABLE singer (...)")["messages"]
    assert [m["role"] for m in repair] == ["system", "user", "assistant", "tool", "assistant", "tool", "assistant"]
    assert repair[2]["train"] is False and "train" not in repair[4] and repair[2]["content"] == "SELECT 1"
    assert tool_call_sample(PAIR, ToolBox(db, schema), PIPE, "pipe")["meta"]["tool_style"] == "explore"
