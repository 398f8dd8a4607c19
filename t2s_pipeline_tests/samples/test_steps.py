"""pipe_step_samples: an N-operator pipe query gives N samples, each emitting exactly the next operator."""

from __future__ import annotations

from t2s_pipeline.samples.prompts import user_prompt
from t2s_pipeline.samples.steps import (
    EMPTY_QUERY, PIPE_SYSTEM_PROMPT, STEP_SYSTEM_PROMPT, assemble_steps, pipe_step_samples, pipe_whole_query_sample,
)

PIPE_SQL = ("FROM singer AS T1\n|> JOIN performs AS T2 ON T1.singer_id = T2.singer_id\n"
            "|> WHERE T1.name IN (FROM singer |> WHERE age > 3 |> SELECT name)\n"
            "|> AGGREGATE COUNT(*) AS count_all GROUP BY T1.name\n|> SELECT name")
PAIR = {"id": "mini/dev/7", "benchmark": "mini", "db_id": "music", "question": "Who sings?", "evidence": "often",
        "gold_sql": "SELECT ...", "difficulty": "hard", "pipe_sql": PIPE_SQL,
        "pipe_ops": ["FROM", "JOIN", "WHERE", "AGGREGATE", "SELECT"]}
SCHEMA = "CREATE TABLE singer (singer_id INTEGER PRIMARY KEY, name TEXT, age INTEGER);"


def test_one_sample_per_operator_with_the_query_so_far():
    samples = pipe_step_samples(PAIR, SCHEMA)
    steps = PIPE_SQL.split("\n")
    assert len(samples) == 5
    for k, sample in enumerate(samples, start=1):
        system, user, assistant = sample["messages"]
        assert system == {"role": "system", "content": STEP_SYSTEM_PROMPT}
        so_far = "\n".join(steps[:k - 1]) or EMPTY_QUERY
        assert user["content"] == f"{user_prompt(SCHEMA, 'Who sings?', 'often')}\n\nQuery so far:\n{so_far}"
        assert user["content"].index("CREATE TABLE") < user["content"].index("Question:") < \
            user["content"].index("Evidence:") < user["content"].index("Query so far:")
        last = k == len(steps)
        assert assistant == {"role": "assistant", "content": steps[k - 1] + (";" if last else "")}
        assert sample["meta"] == {"id": "mini/dev/7", "db_id": "music", "benchmark": "mini", "difficulty": "hard",
                                  "gold_sql": "SELECT ...", "pipe_sql": PIPE_SQL, "kind": "pipe_step", "step": k,
                                  "steps": 5, "op": PAIR["pipe_ops"][k - 1]}
    # Only the last step ends the query; decoding the replies in order gives the pipe query back.
    assert [s["messages"][2]["content"].endswith(";") for s in samples] == [False] * 4 + [True]
    assert assemble_steps([s["messages"][2]["content"] for s in samples]) == (PIPE_SQL, True)
    assert assemble_steps(["FROM t", "|> SELECT a"]) == ("FROM t\n|> SELECT a", False)


def test_the_whole_pipe_query_sample():
    sample = pipe_whole_query_sample(PAIR, SCHEMA)
    assert [m["role"] for m in sample["messages"]] == ["system", "user", "assistant"]
    assert sample["messages"][0]["content"] == PIPE_SYSTEM_PROMPT
    assert sample["messages"][1]["content"] == user_prompt(SCHEMA, "Who sings?", "often")
    assert sample["messages"][2]["content"] == PIPE_SQL
    assert sample["meta"]["kind"] == "pipe_whole_query" and (sample["meta"]["step"], sample["meta"]["steps"]) == (1, 1)
