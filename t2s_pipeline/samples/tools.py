"""Tool-calling samples in the OpenAI tools format, with real results from the database.

The model gets four tools: `list_tables`, `describe_table`, `sample_rows` and `execute_sql`. A
sample is the conversation an agent would have: the user asks the question (and the evidence),
the assistant lists the tables, describes the tables the validated answer uses, looks at a few
rows of the first one, runs its answer with execute_sql, and replies with that answer. Every tool
result is what the tool returns on the benchmark database (read-only, through execute_sql).

Format (OpenAI): assistant turns that call tools have "tool_calls": [{"id", "type": "function",
"function": {"name", "arguments": <JSON text>}}] and empty content; each result is a
{"role": "tool", "tool_call_id", "name", "content": <JSON text>} turn; the sample carries "tools"
(the JSON-schema definitions). Hugging Face chat templates want `arguments` as a dict: json.loads it.
meta.kind is `tool_call`.

ToolBox.run is the one way a call becomes a tool turn's text, for the training samples and for the agent
(modeling/agent.py) alike: a call a model makes up (an unknown tool, arguments that are not JSON or miss
one, a write, a runaway query) comes back as {"error": ...} text, never as an exception.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path

from sqlglot import exp

from t2s_pipeline.sql.execute import execute_sql
from t2s_pipeline.sql.pipe import parse_sql, read_pipe
from t2s_pipeline.sql.schema import quote_identifier, schema_text

TOOL_SYSTEM_PROMPT = ("You answer questions about a SQLite database with one query. Use the tools to look at the "
                      "database and to check your query, then reply with the query only.")
MAX_RESULT_ROWS = 10
SAMPLE_ROWS = 3


def _function(name: str, description: str, properties: dict, required: list[str]) -> dict:
    return {"type": "function", "function": {"name": name, "description": description, "parameters": {
        "type": "object", "properties": properties, "required": required}}}


TOOLS = [
    _function("list_tables", "List the tables of the database.", {}, []),
    _function("describe_table", "The CREATE TABLE statement of a table: its columns, types, primary and foreign keys.",
              {"table": {"type": "string", "description": "the table name"}}, ["table"]),
    _function("sample_rows", "The first rows of a table.",
              {"table": {"type": "string", "description": "the table name"},
               "limit": {"type": "integer", "description": f"how many rows (default {SAMPLE_ROWS}, at most 10)"}},
              ["table"]),
    _function("execute_sql", f"Run one read-only SQLite query (pipe syntax FROM ... |> ... allowed) and return its "
                             f"columns and up to {MAX_RESULT_ROWS} rows.",
              {"sql": {"type": "string", "description": "the query"}}, ["sql"]),
]


def selected_for_tools(pair_id: str, share: float, seed: int = 0) -> bool:
    """Whether a pair gets a tool-calling sample: a stable draw from its id, so share of pairs do."""
    if share <= 0:
        return False
    digest = hashlib.sha256(f"{seed}:{pair_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < share


def tables_used(sql: str, schema: dict) -> list[str]:
    """The schema's tables the query reads (CTE names left out), main query first: FROM, then joins."""
    names = {t["name"].lower(): t["name"] for t in schema["tables"]}
    try:
        tree = parse_sql(sql)
    except Exception:  # noqa: BLE001 - sqlglot raises several error types; the schema order is the fallback
        return []
    ctes = {c.alias_or_name.lower() for c in tree.find_all(exp.CTE)}
    used = []
    for table in tree.find_all(exp.Table, bfs=False):
        name = names.get(table.name.lower())
        if name and name.lower() not in ctes and name not in used:
            used.append(name)
    return used


class ToolBox:
    """The four tools over one database: what a tool-calling agent would see."""

    def __init__(self, db_path: str | Path, schema: dict, timeout_s: float = 10.0,
                 conn: sqlite3.Connection | None = None):
        self.db_path, self.schema, self.timeout_s, self.conn = db_path, schema, timeout_s, conn

    def list_tables(self) -> list[str]:
        return [t["name"] for t in self.schema["tables"]]

    def describe_table(self, table: str) -> str:
        matches = [t for t in self.schema["tables"] if t["name"].lower() == table.lower()]
        return schema_text({"tables": matches}) if matches else f"no such table: {table}"

    def sample_rows(self, table: str, limit: int = SAMPLE_ROWS) -> dict:
        limit = max(1, min(int(limit), 10))
        return self.execute_sql(f"SELECT * FROM {quote_identifier(table)} LIMIT {limit}")

    def execute_sql(self, sql: str) -> dict:
        if not isinstance(sql, str):
            return {"error": f"sql must be a string, got {type(sql).__name__}"}
        try:
            text = read_pipe(sql)[0] if "|>" in sql else sql
        except Exception as e:  # noqa: BLE001 - sqlglot raises several error types for pipe SQL it cannot read
            return {"error": f"not_sql: pipe SQL does not parse: {str(e)[:200]}"}
        result = execute_sql(self.db_path, text, timeout_s=self.timeout_s, max_rows=MAX_RESULT_ROWS,
                             conn=self.conn)
        if not result.ok:
            return {"error": f"{result.status}: {result.error}"}
        return {"columns": result.columns, "rows": [list(r) for r in result.rows], "truncated": result.truncated}

    def call(self, name: str, arguments: dict):
        return getattr(self, name)(**arguments)

    def run(self, name: str, arguments: dict | str) -> str:
        """The text of the tool turn answering a call (arguments as a dict or as JSON text); never raises."""
        if isinstance(arguments, str):
            try:
                arguments = json.loads(arguments) if arguments.strip() else {}
            except json.JSONDecodeError as e:
                return result_text({"error": f"arguments are not JSON: {e}"})
        problem = call_problem(name, arguments)
        if problem:
            return result_text({"error": problem})
        try:
            return result_text(self.call(name, arguments))
        except (TypeError, ValueError, AttributeError, OverflowError) as e:  # sample_rows(limit="many"), table=3
            return result_text({"error": f"{name}: {e}"})


TOOL_PARAMETERS = {t["function"]["name"]: t["function"]["parameters"] for t in TOOLS}


def call_problem(name: str, arguments) -> str:
    """What is wrong with a call (an unknown tool, arguments that are not an object, missing or unknown); "" if nothing."""
    if name not in TOOL_PARAMETERS:
        return f"unknown tool {name!r}: the tools are {', '.join(TOOL_PARAMETERS)}"
    if not isinstance(arguments, dict):
        return f"{name}: arguments must be a JSON object, got {type(arguments).__name__}"
    parameters = TOOL_PARAMETERS[name]
    missing = [k for k in parameters["required"] if k not in arguments]
    unknown = [k for k in arguments if k not in parameters["properties"]]
    if missing or unknown:
        return f"{name}: " + "; ".join(
            part for part in (missing and f"missing argument(s) {', '.join(missing)}",
                              unknown and f"unknown argument(s) {', '.join(unknown)}") if part)
    return ""


def result_text(result) -> str:
    """A tool result as a tool turn carries it: text as is, anything else as JSON."""
    return result if isinstance(result, str) else json.dumps(result, ensure_ascii=False, default=str)


# How a tool conversation goes. explore: the question alone; the model lists the tables, describes the ones it
# needs, samples rows, runs its query and answers (a model that reads a whole conversation well). check: the
# single-turn prompt, without a tools block (execute_sql is the one tool); the model writes its query as the
# turn's text, runs it in the same turn, then answers or repairs it. A small model writes its query best right
# after the question, and with the single-turn prompt its first query is its single-turn answer.
TOOL_STYLES = ("explore", "check")


def tool_prompt_messages(question: str, evidence: str = "", schema_text: str = "") -> list[dict]:
    """The system and user turns a tool conversation starts with: the question alone (style explore), or with
    schema_text (style check) the single-turn prompt itself, so that the model's first query is its single-turn
    answer (with the tool system prompt instead, 24 of 182 demo answers came out otherwise, and the agent lost)."""
    from t2s_pipeline.samples.prompts import prompt_messages

    if schema_text:
        return prompt_messages(schema_text, question, evidence)
    user = f"Question: {question}" + (f"\n\nEvidence: {evidence}" if evidence else "")
    return [{"role": "system", "content": TOOL_SYSTEM_PROMPT}, {"role": "user", "content": user}]


def tool_call_sample(pair: dict, toolbox: ToolBox, answer: str, answer_kind: str,
                     near_miss: str | None = None, schema_text: str = "") -> dict:
    """The agent conversation for one pair, ending in `answer` (its validated SQL or pipe SQL). With near_miss
    (a repair, samples/repairs.py), the first query run is that one, its turn marked "train": false (shown,
    not learned), and then the answer is run. With schema_text, the conversation is of style check (the schema
    in the prompt, no looking around), else explore."""
    messages = tool_prompt_messages(pair["question"], pair.get("evidence", ""), schema_text)
    counter = iter(range(1, 100))

    def turn(calls: list[tuple[str, dict]], learned: bool = True, content: str = "") -> None:
        ids = [f"call_{next(counter)}" for _ in calls]
        messages.append({"role": "assistant", "content": content, "tool_calls": [
            {"id": i, "type": "function", "function": {"name": name, "arguments": json.dumps(args)}}
            for i, (name, args) in zip(ids, calls)], **({} if learned else {"train": False})})
        for i, (name, args) in zip(ids, calls):
            messages.append({"role": "tool", "tool_call_id": i, "name": name, "content": toolbox.run(name, args)})

    if not schema_text:
        tables = tables_used(pair["gold_sql"], toolbox.schema) or toolbox.list_tables()[:1]
        turn([("list_tables", {})])
        turn([("describe_table", {"table": t}) for t in tables])
        turn([("sample_rows", {"table": tables[0], "limit": SAMPLE_ROWS})])
    # Style check writes its query as the turn's text first (where a single-turn answer stands), then runs it.
    if near_miss is not None:
        turn([("execute_sql", {"sql": near_miss})], learned=False, content=near_miss if schema_text else "")
    turn([("execute_sql", {"sql": answer})], content=answer if schema_text else "")
    messages.append({"role": "assistant", "content": answer})
    return {
        "messages": messages,
        "tools": None if schema_text else TOOLS,  # check: no tools block, the prompt stays the single-turn one
        "meta": {
            "id": pair["id"], "db_id": pair["db_id"], "benchmark": pair["benchmark"],
            "difficulty": pair.get("difficulty"), "gold_sql": pair["gold_sql"], "pipe_sql": pair.get("pipe_sql"),
            "kind": "tool_call" if near_miss is None else "repair", "answer": answer_kind, "step": 1, "steps": 1,
            "tool_style": "check" if schema_text else "explore",
        },
    }
