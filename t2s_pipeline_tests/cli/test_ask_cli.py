"""`t2s ask`: a model folder, a database and a question in; the SQL and its sandboxed result out."""

from __future__ import annotations

import hashlib
import sqlite3

import pytest

from t2s_pipeline.cli import ask as ask_cli
from t2s_pipeline.cli import main
from t2s_pipeline_tests.training import tiny


@pytest.fixture
def db(tmp_path):
    path = tmp_path / "music.sqlite"
    conn = sqlite3.connect(path)
    conn.execute(tiny.SCHEMA.rstrip(";"))
    conn.executemany("INSERT INTO singer VALUES (?, ?, ?, ?)",
                     [(1, "Ann", 30, "France"), (2, "Bob", 45, "Germany"), (3, "Cid", 27, "France")])
    conn.commit()
    conn.close()
    return path


def digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_ask_the_tiny_model(tiny_base_dir, db, capsys):
    before = digest(db)
    status = main(["ask", "--model", str(tiny_base_dir), "--db", str(db), "--max-new-tokens", "8",
                   "How many singers are there?"])
    printed = capsys.readouterr().out
    assert printed.startswith("SQL:\n")
    # An untrained tiny model writes noise: whatever it wrote ran in the sandbox and got a verdict.
    assert status in (0, 1)
    if status == 1:
        assert any(printed.rstrip().splitlines()[-1].startswith(v) for v in ("exec_error", "not_sql", "denied",
                                                                              "timeout"))
    assert digest(db) == before


def test_prompt_carries_the_schema_and_the_question(tiny_base_dir, db, monkeypatch, capsys):
    from t2s_pipeline.modeling import generate

    seen = {}

    def fake_generate_sql(model, tokenizer, conversations, **kwargs):
        seen["conversations"] = conversations
        return ["SELECT name, age FROM singer WHERE country = 'France' ORDER BY age"]

    monkeypatch.setattr(generate, "generate_sql", fake_generate_sql)
    assert main(["ask", "--model", str(tiny_base_dir), "--db", str(db), "Who sings from France?"]) == 0
    [conversation] = seen["conversations"]
    assert conversation[0]["role"] == "system"
    user = conversation[1]["content"]
    assert "CREATE TABLE singer" in user and "country TEXT" in user and user.endswith("Question: Who sings from France?")
    printed = capsys.readouterr().out
    assert "SELECT name, age FROM singer WHERE country = 'France' ORDER BY age" in printed
    lines = printed.splitlines()
    header = lines.index("name | age")
    assert lines[header + 2:header + 4] == ["Cid  | 27", "Ann  | 30"]
    assert "(2 rows," in printed


def test_hostile_sql_from_the_model_is_refused(tiny_base_dir, db, monkeypatch, capsys):
    from t2s_pipeline.modeling import generate

    monkeypatch.setattr(generate, "generate_sql", lambda *a, **k: ["DROP TABLE singer"])
    before = digest(db)
    assert main(["ask", "--model", str(tiny_base_dir), "--db", str(db), "Drop everything"]) == 1
    assert "denied:" in capsys.readouterr().out
    assert digest(db) == before


def test_adapter_option_loads_base_plus_adapter(tiny_base_dir, db, tmp_path, monkeypatch):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from t2s_pipeline.modeling import generate

    adapter = tmp_path / "adapter"
    get_peft_model(AutoModelForCausalLM.from_pretrained(tiny_base_dir),
                   LoraConfig(r=2, target_modules=["q_proj"], task_type="CAUSAL_LM")).save_pretrained(adapter)
    loaded = {}
    real = generate.load_model

    def spy(model_dir, adapter_dir=None):
        loaded["args"] = (model_dir, adapter_dir)
        return real(model_dir, adapter_dir)

    monkeypatch.setattr(generate, "load_model", spy)
    monkeypatch.setattr(generate, "generate_sql", lambda *a, **k: ["SELECT count(*) FROM singer"])
    assert main(["ask", "--model", str(tiny_base_dir), "--adapter", str(adapter), "--db", str(db), "How many?"]) == 0
    assert loaded["args"] == (str(tiny_base_dir), str(adapter))


def test_bad_arguments(tmp_path, db, capsys):
    assert main(["ask", "--model", str(tmp_path / "none"), "--db", str(db), "q"]) == 2
    assert main(["ask", "--model", str(tmp_path), "--db", str(tmp_path / "none.sqlite"), "q"]) == 2
    assert "not found" in capsys.readouterr().err


def test_format_table():
    text = ask_cli.format_table(["a", "b"], [(1, None), (22, "x" * 50), (3, "c")], max_rows=2, width=10)
    lines = text.splitlines()
    assert lines[0] == "a  | b"
    assert lines[2] == "1  | NULL"
    assert lines[3] == "22 | xxxxxxxxx…"
    assert lines[-1] == "... 1 more rows"


def test_ask_with_samples_votes_over_that_many_queries(tiny_base_dir, db, capsys):
    before = digest(db)
    status = main(["ask", "--model", str(tiny_base_dir), "--db", str(db), "--max-new-tokens", "8",
                   "--samples", "3", "How many singers are there?"])
    printed = capsys.readouterr().out
    assert status in (0, 1)
    assert "self-consistency:" in printed and "of 3 queries agree" in printed
    assert digest(db) == before


def test_samples_below_one_is_refused(tiny_base_dir, db, capsys):
    assert main(["ask", "--model", str(tiny_base_dir), "--db", str(db), "--samples", "0", "q"]) == 2
    assert "--samples" in capsys.readouterr().err


def test_ask_a_t5_sends_the_prompt_to_the_encoder_with_five_beams(tiny_t5_dir, db, monkeypatch, capsys):
    from t2s_pipeline.modeling import generate

    seen = {}
    real = generate._complete_seq2seq

    def spy(model, tokenizer, conversations, batch_size, max_new_tokens, num_beams, contexts=None):
        seen["num_beams"], seen["contexts"] = num_beams, contexts
        seen["replies"] = real(model, tokenizer, conversations, batch_size, max_new_tokens, num_beams, contexts)
        return seen["replies"]

    monkeypatch.setattr(generate, "_complete_seq2seq", spy)
    before = digest(db)
    status = main(["ask", "--model", str(tiny_t5_dir), "--db", str(db), "--max-new-tokens", "8",
                   "How many singers are there?"])
    assert seen["num_beams"] == 5 and len(seen["replies"]) == 1
    assert len(seen["contexts"]) == 1 and "singer" in seen["contexts"][0].tables  # the T5 decodes constrained too
    assert status in (0, 1) and capsys.readouterr().out.startswith("SQL:\n")
    assert digest(db) == before


def test_ask_constrains_decoding_to_the_question_and_database_unless_told_not_to(tiny_base_dir, db, monkeypatch,
                                                                                 capsys):
    from t2s_pipeline.modeling import generate

    seen = []
    monkeypatch.setattr(generate, "generate_sql",
                        lambda model, tokenizer, conversations, **kwargs: seen.append(kwargs["contexts"]) or
                        ["SELECT COUNT(*) FROM singer"])
    assert main(["ask", "--model", str(tiny_base_dir), "--db", str(db), "Who sings from France?"]) == 0
    assert main(["ask", "--model", str(tiny_base_dir), "--db", str(db), "--constraint", "none", "Who?"]) == 0
    assert main(["ask", "--model", str(tiny_base_dir), "--db", str(db), "--constraint", "grammar",
                 "Who sings from France?"]) == 0
    [context], unconstrained, [grammar] = seen
    assert context.question == "Who sings from France?" and "singer" in context.tables
    assert "France" in context.values  # value linking reads the database's text values
    assert unconstrained is None


def test_ask_decodes_a_hub_model_unconstrained_unless_told_to_constrain(stand_in, db, monkeypatch):
    from t2s_pipeline.modeling import generate

    seen = []
    monkeypatch.setattr(generate, "generate_sql",
                        lambda model, tokenizer, conversations, **kwargs: seen.append(kwargs["contexts"]) or
                        ["SELECT COUNT(*) FROM singer"])
    folder = str(stand_in("qwen2.5-coder-7b"))
    assert main(["ask", "--model", folder, "--db", str(db), "Who sings from France?"]) == 0
    assert main(["ask", "--model", folder, "--db", str(db), "--constraint", "rules", "Who sings from France?"]) == 0
    assert seen[0] is None and seen[1][0].question == "Who sings from France?"


def test_ask_refuses_an_unknown_constraint_naming_the_allowed(tiny_base_dir, db, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["ask", "--model", str(tiny_base_dir), "--db", str(db), "--constraint", "strict", "Who?"])
    assert exit_.value.code == 2
    assert "'default', 'grammar', 'rules', 'grammar+rules', 'none'" in capsys.readouterr().err


def test_ask_as_an_agent_prints_the_conversation(tool_model, capsys):
    model_dir, db, _ = tool_model
    before = digest(db)
    status = main(["ask", "--agent", "--model", str(model_dir), "--db", str(db), "--max-new-tokens", "64",
                   "How many singers are there?"])  # a question the tool model was trained on
    printed = capsys.readouterr().out
    lines = printed.splitlines()
    assert status == 0 and lines[0].startswith("[system] You answer questions about a SQLite database")
    assert lines[1] == "[user] Question: How many singers are there?"
    assert lines[2] == "[assistant] calls list_tables({})" and lines[3] == '[tool list_tables] ["singer"]'
    assert "[assistant] calls execute_sql(" in printed and "(status success; 5 turns, 4 tool calls" in printed
    assert "SQL:\nSELECT count(*) FROM singer\n" in printed and printed.rstrip().endswith("4")
    assert digest(db) == before
