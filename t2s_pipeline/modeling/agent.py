"""An agent that answers a question by calling the training tools, then replying with its query.

The loop is the conversation the `tool_call` training samples teach (samples/tools.py): their system
prompt and the question, then assistant turns that call list_tables, describe_table, sample_rows and
execute_sql, each run in the read-only sandbox through ToolBox.run (one statement, a timeout, a row
cap, the samples' result text), until the model replies with text: its query. The same loop drives
every backend (agent_backends.py): a model loaded in this process, or any OpenAI-compatible server
through the `openai` client. Questions go in chunks of the backend's batch size; in a chunk every
question still going takes its next turn together (one batched generate in-process).

Limits: max_turns assistant turns and wall_s seconds per question (a chunk's questions share their
clock). Statuses:
- success: the model replied with a query;
- no_prediction: it replied with no query, or ran out of turns still calling tools;
- error: the backend failed for the question, or the model's tool call could not be read;
- timeout: the question's wall time ran out.
Each run keeps its whole conversation, its turns and tool calls, the first query it ran with
execute_sql (a repair: a wrong first query, a right final one) and where its time went.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from typing import Protocol

from t2s_pipeline.samples.tools import TOOLS, ToolBox, tool_prompt_messages

SUCCESS, NO_PREDICTION, ERROR, TIMEOUT = "success", "no_prediction", "error", "timeout"
STATUSES = (SUCCESS, NO_PREDICTION, ERROR, TIMEOUT)


@dataclass
class AgentLimits:
    max_turns: int = 8  # assistant turns: the training conversations take 5
    wall_s: float = 120.0  # per question
    tool_timeout_s: float = 2.0  # per tool call (SQLite's deadline)

    def __post_init__(self):
        if self.max_turns < 1 or self.wall_s <= 0 or self.tool_timeout_s <= 0:
            raise ValueError(f"agent limits must be positive (max_turns >= 1), got {self}")


@dataclass
class AgentQuestion:
    id: str
    question: str
    db_path: str
    schema: dict  # read_sqlite_schema's dict: what list_tables and describe_table show
    evidence: str = ""
    schema_text: str = ""  # shown in the prompt for conversations of style check (samples/tools.TOOL_STYLES)


@dataclass
class AgentRun:
    id: str
    status: str = ""
    sql: str = ""  # the final query ("" unless success)
    messages: list = field(default_factory=list)
    turns: int = 0  # assistant turns
    tool_calls: int = 0
    first_sql: str | None = None  # the first query it ran with execute_sql
    seconds: float = 0.0
    generate_s: float = 0.0  # its share of the batched generation time
    tools_s: float = 0.0
    error: str = ""

    def to_json(self) -> dict:
        return asdict(self)


class Backend(Protocol):
    batch_size: int

    def reply(self, conversations: list[list[dict]], tools: list[dict], questions: list | None = None) -> list[dict]:
        """One assistant turn per conversation: {"content", "tool_calls"?: [{"function": {"name", "arguments"}}],
        "error"?: why there is no usable turn}."""


def run_agent(questions: list[AgentQuestion], backend: Backend, limits: AgentLimits | None = None,
              log=None) -> list[AgentRun]:
    """Every question's run, in order. A question with schema_text runs in style check: the single-turn prompt;
    each reply's query is run (as the execute_sql call the check conversations teach) and accepted when it
    returns rows; when it errors or returns nothing the model sees that and writes another, up to max_turns
    (execution-guided, as Wang et al. 2018 decode; the last query written is the answer)."""
    limits = limits or AgentLimits()
    runs: list[AgentRun] = []
    size = max(1, int(getattr(backend, "batch_size", 1)))
    for i in range(0, len(questions), size):
        runs += _run_chunk(questions[i:i + size], backend, limits)
        if log:
            log(f"agent: {len(runs)}/{len(questions)} questions")
    return runs


def _run_chunk(questions: list[AgentQuestion], backend: Backend, limits: AgentLimits) -> list[AgentRun]:
    runs = [AgentRun(q.id, messages=tool_prompt_messages(q.question, q.evidence, q.schema_text)) for q in questions]
    toolboxes = [ToolBox(q.db_path, q.schema, limits.tool_timeout_s) for q in questions]
    start = time.monotonic()
    active = list(range(len(questions)))
    while active:
        began = time.monotonic()
        try:
            tools = None if questions[active[0]].schema_text else TOOLS  # check conversations carry no tools block
            replies = backend.reply([runs[i].messages for i in active], tools, [questions[i] for i in active])
        except Exception as e:  # noqa: BLE001 - a failing backend ends these questions, not the evaluation
            replies = [{"error": f"{type(e).__name__}: {e}"}] * len(active)
        share = (time.monotonic() - began) / len(active)
        still = []
        for i, reply in zip(active, replies):
            run = runs[i]
            run.generate_s += share
            run.turns += 1
            (_take_check_turn if questions[i].schema_text else _take_turn)(run, reply, toolboxes[i])
            run.seconds = time.monotonic() - start
            if run.status:
                continue
            if run.seconds > limits.wall_s:
                run.status, run.error = TIMEOUT, f"no answer within {limits.wall_s:g} s"
            elif run.turns >= limits.max_turns and questions[i].schema_text:
                run.status = SUCCESS  # check: no query of max_turns returned rows; the last one is the answer
            elif run.turns >= limits.max_turns:
                run.status, run.error = NO_PREDICTION, f"still calling tools after {limits.max_turns} turns"
            else:
                still.append(i)
        active = still
    return runs


def _take_turn(run: AgentRun, reply: dict, toolbox: ToolBox) -> None:
    """Append the model's turn (and its tools' results) to the run; set its status when it answered or failed."""
    if reply.get("error"):
        run.messages.append({"role": "assistant", "content": reply.get("content") or ""})
        run.status, run.error = ERROR, reply["error"]
        return
    calls = reply.get("tool_calls") or []
    if not calls:
        from t2s_pipeline.modeling.generate import extract_sql

        content = reply.get("content") or ""
        run.messages.append({"role": "assistant", "content": content})
        run.sql = extract_sql(content)
        run.status = SUCCESS if run.sql else NO_PREDICTION
        run.error = "" if run.sql else "the final reply holds no query"
        return
    turn = []
    for call in calls:
        run.tool_calls += 1
        function = call.get("function") or {}
        arguments = function.get("arguments", {})
        turn.append({"id": f"call_{run.tool_calls}", "type": "function", "function": {
            "name": str(function.get("name", "")),
            "arguments": arguments if isinstance(arguments, str) else json.dumps(arguments, ensure_ascii=False)}})
    run.messages.append({"role": "assistant", "content": reply.get("content") or "", "tool_calls": turn})
    for call in turn:
        name, arguments = call["function"]["name"], call["function"]["arguments"]
        began = time.monotonic()
        content = toolbox.run(name, arguments)
        run.tools_s += time.monotonic() - began
        run.messages.append({"role": "tool", "tool_call_id": call["id"], "name": name, "content": content})
        if name == "execute_sql" and run.first_sql is None:
            run.first_sql = _argument(arguments, "sql")


def _take_check_turn(run: AgentRun, reply: dict, toolbox: ToolBox) -> None:
    """Style check: the reply's text is a query; run it as the turn's execute_sql call (whatever call the model
    went on to write) and accept it when it returns rows."""
    from t2s_pipeline.modeling.agent_constraint import TOOL_CALL_OPENER
    from t2s_pipeline.modeling.generate import extract_sql

    text = (reply.get("content") or "").split(TOOL_CALL_OPENER)[0]
    sql = extract_sql(text)
    if not sql:
        run.messages.append({"role": "assistant", "content": text})
        run.status, run.error = (ERROR, reply["error"]) if reply.get("error") else (NO_PREDICTION, "no query")
        return
    run.tool_calls += 1
    call = {"id": f"call_{run.tool_calls}", "type": "function",
            "function": {"name": "execute_sql", "arguments": json.dumps({"sql": sql}, ensure_ascii=False)}}
    run.messages.append({"role": "assistant", "content": sql, "tool_calls": [call]})
    began = time.monotonic()
    content = toolbox.run("execute_sql", {"sql": sql})
    run.tools_s += time.monotonic() - began
    run.messages.append({"role": "tool", "tool_call_id": call["id"], "name": "execute_sql", "content": content})
    run.first_sql = sql if run.first_sql is None else run.first_sql
    run.sql = sql
    result = json.loads(content) if content.startswith("{") else {}
    if result.get("rows"):
        run.status = SUCCESS


def _argument(arguments: str, key: str) -> str | None:
    try:
        value = json.loads(arguments).get(key)
    except (json.JSONDecodeError, AttributeError):
        return None
    return value if isinstance(value, str) else None


def renderable(messages: list[dict]) -> list[dict]:
    """The conversation as a chat template or a server reads it: tool-call arguments as dicts, and a call
    whose arguments were not a JSON object shown with none (its tool turn says what was wrong)."""
    out = []
    for message in messages:
        if message.get("tool_calls"):
            calls = []
            for call in message["tool_calls"]:
                try:
                    arguments = json.loads(call["function"]["arguments"] or "{}")
                except json.JSONDecodeError:
                    arguments = {}
                calls.append({**call, "function": {**call["function"],
                                                   "arguments": arguments if isinstance(arguments, dict) else {}}})
            message = {**message, "tool_calls": calls}
        out.append(message)
    return out


def summary(runs: list[AgentRun]) -> dict:
    """Status counts, turns and tool calls per question, and where the time went."""
    n = len(runs) or 1
    generate_s, tools_s = sum(r.generate_s for r in runs), sum(r.tools_s for r in runs)
    return {
        "questions": len(runs),
        "statuses": {s: sum(r.status == s for r in runs) for s in STATUSES},
        "turns_per_question": round(sum(r.turns for r in runs) / n, 3),
        "tool_calls_per_question": round(sum(r.tool_calls for r in runs) / n, 3),
        "generate_s": round(generate_s, 3),
        "tools_s": round(tools_s, 4),
        "tools_share": round(tools_s / (generate_s + tools_s), 4) if generate_s + tools_s else 0.0,
    }
