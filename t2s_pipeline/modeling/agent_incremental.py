"""The incremental pipe mode of the agent: one pipe operator a turn, as the `pipe_step` samples teach.

Each turn shows the model the step prompt of training (samples/steps.py, modeling/generate.step_conversation:
the schema, the question and "Query so far:") and takes its reply as the next operator (`FROM ...` first,
then `|> ...`); the loop appends it and runs the query so far in the read-only sandbox (ToolBox.run, as the
`execute_sql` tool: its first rows or its error), recorded in the conversation (first_sql stays None: a
prefix is no attempt at the answer). With show_rows the next
prompt also shows that result (training never did: off by default). The query ends when the reply ends with
`;`, or is empty, or is not a pipe operator, or repeats the last one (as generate_incremental decides), or
after max_turns operators: status success with the query so far, no_prediction when there is none. The
same backends as the tool mode, batched across questions; wall time per question as there.
"""

from __future__ import annotations

import time

from t2s_pipeline.modeling.agent import (ERROR, NO_PREDICTION, SUCCESS, TIMEOUT, AgentLimits, AgentRun,
                                         Backend)
from t2s_pipeline.modeling.generate import PIPE, extract_sql, step_conversation
from t2s_pipeline.samples.tools import ToolBox


def run_incremental(ids: list[str], conversations: list[list[dict]], databases: list[tuple[str, dict]],
                    backend: Backend, limits: AgentLimits | None = None, show_rows: bool = False) -> list[AgentRun]:
    """One run per question: conversations are the whole-query prompts (system + user: schema, question);
    databases the (db_path, schema) of each."""
    limits = limits or AgentLimits()
    size = max(1, int(getattr(backend, "batch_size", 1)))
    runs: list[AgentRun] = []
    for i in range(0, len(ids), size):
        runs += _chunk(ids[i:i + size], conversations[i:i + size], databases[i:i + size], backend, limits, show_rows)
    return runs


def _chunk(ids, conversations, databases, backend, limits, show_rows) -> list[AgentRun]:
    runs = [AgentRun(i, messages=step_conversation(c, "")) for i, c in zip(ids, conversations)]
    toolboxes = [ToolBox(path, schema, limits.tool_timeout_s) for path, schema in databases]
    queries, last, shown = [""] * len(ids), [""] * len(ids), [""] * len(ids)
    start = time.monotonic()
    active = list(range(len(ids)))
    while active:
        prompts = [_prompt(conversations[k], queries[k], shown[k] if show_rows else "") for k in active]
        began = time.monotonic()
        try:
            replies = backend.reply(prompts, None)
        except Exception as e:  # noqa: BLE001 - a failing backend ends these questions, not the evaluation
            replies = [{"error": f"{type(e).__name__}: {e}"}] * len(active)
        share = (time.monotonic() - began) / len(active)
        still = []
        for k, reply in zip(active, replies):
            run = runs[k]
            run.generate_s += share
            run.turns += 1
            content = reply.get("content") or ""
            run.messages.append({"role": "assistant", "content": content})
            if reply.get("error"):
                run.status, run.error = ERROR, reply["error"]
                continue
            op = extract_sql(content)
            ended = content.strip().strip("`").strip().endswith(";")
            if op and (run.turns == 1 or (op.startswith(PIPE) and op != last[k])):
                queries[k] = f"{queries[k]}\n{op}" if queries[k] else op
                last[k] = op
                began = time.monotonic()
                shown[k] = toolboxes[k].run("execute_sql", {"sql": queries[k]})
                run.tools_s += time.monotonic() - began
                run.tool_calls += 1
                run.messages.append({"role": "tool", "name": "execute_sql", "content": shown[k]})
            else:
                ended = True  # the model ended the query, or wrote something that is not the next operator
            run.seconds = time.monotonic() - start
            if ended or run.turns >= limits.max_turns:
                run.sql = queries[k]
                run.status = SUCCESS if run.sql else NO_PREDICTION
                if not ended:
                    run.error = f"stopped after {limits.max_turns} operators"
            elif run.seconds > limits.wall_s:
                run.status, run.error = TIMEOUT, f"no answer within {limits.wall_s:g} s"
            else:
                still.append(k)
        active = still
    return runs


def _prompt(conversation: list[dict], query_so_far: str, shown: str) -> list[dict]:
    """The step prompt; with a result to show, the user turn ends with what the query so far returned."""
    messages = step_conversation(conversation, query_so_far)
    if shown:
        messages[-1] = {**messages[-1], "content": f"{messages[-1]['content']}\n\nIts result:\n{shown}"}
    return messages
