"""Each model scored as an agent (modeling/agent.py) beside its single-turn figure, on the same questions.

Mode `tools`: the agent answers every test question by calling the training tools on the question's
database (the tool conversations' prompt: no schema, the tools show it). Mode `incremental`: it writes
one pipe operator a turn from the pipe step prompt (modeling/agent_incremental.py), each query so far
run in the sandbox. Greedy, within the turn and wall-time limits. Its final query is judged like a single-turn one (the test suite when there is one). Reported
per model: agent execution accuracy, status counts, turns and tool calls per question, where the time
went (generating vs running tools), repairs (a first execute_sql query judged wrong, a final query
judged right) and the paired comparison agent vs single-turn (evaluation/metrics.paired_comparison).
Every conversation goes to conversations.jsonl.

report.json "agent": {"settings", <model>: {"execution_accuracy", "single_turn_execution_accuracy",
    "statuses", "turns_per_question", "tool_calls_per_question", "generate_s", "tools_s", "tools_share",
    "first_query_wrong", "repairs", "repair_share", "questions_per_second", "vs_single_turn": {...}}}
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from t2s_pipeline.evaluation.metrics import paired_comparison, rate
from t2s_pipeline.modeling.agent import AgentLimits, AgentQuestion, run_agent, summary
from t2s_pipeline.records import read_json, write_jsonl
from t2s_pipeline.sql.judge_many import judge_many

MODES = ("tools", "incremental")


@dataclass
class AgentSettings:
    mode: str = "tools"
    max_turns: int = 8
    wall_s: float = 120.0
    tool_timeout_s: float = 2.0
    max_new_tokens: int = 256
    batch_size: int = 16
    show_rows: bool = False  # incremental mode: show what the query so far returned in the next prompt
    # Its queries under the hand rules, the rest of a tool call free (modeling/agent_constraint.py): set by the
    # evaluation unless its constraint is none (the grammar's matcher is not wired into tool conversations).
    rules: bool = False
    # explore or check (samples/tools.TOOL_STYLES): the style of the tool conversations the model was trained on,
    # set by the evaluation from trajectories (check: the schema in the prompt, as single-turn).
    tool_style: str = "explore"

    def __post_init__(self):
        if self.mode not in MODES:
            raise ValueError(f"agent mode must be one of {MODES}, got {self.mode!r}")
        AgentLimits(self.max_turns, self.wall_s, self.tool_timeout_s)  # refuses bad limits


def trained_tool_style(trajectories_dir) -> str:
    """The style of the tool conversations trajectories made (its stats.json), explore when it says none."""
    stats = Path(trajectories_dir) / "stats.json"
    return read_json(stats).get("tool_style", "explore") if stats.is_file() else "explore"


def agent_questions(samples: list[dict], raw_dir: str | Path, tool_style: str = "explore") -> list[AgentQuestion]:
    """One agent question per test sample: its question and evidence, its database and that database's schema
    (and, for style check, the sample's prompt schema)."""
    schemas = read_json(Path(raw_dir) / "schemas.json")
    out = []
    for s in samples:
        meta = s["meta"]
        prompt, _, text = [m for m in s["messages"] if m["role"] == "user"][-1]["content"].rpartition("Question: ")
        question, _, evidence = text.partition("\n\nEvidence: ")
        schema_text = prompt.removeprefix("Database schema:\n").rstrip("\n") if tool_style == "check" else ""
        out.append(AgentQuestion(meta["id"], question, str(Path(raw_dir) / "databases" / f"{meta['db_id']}.sqlite"),
                                 schemas[meta["db_id"]], evidence, schema_text))
    return out


def evaluate_agents(base_model_dir, models: list[tuple[str, object]], samples: list[dict], raw_dir,
                    databases: list, single_turn: dict[str, tuple[list[bool], list[str]]], out_dir,
                    settings: AgentSettings, protocol: str, timeout_s: float, workers: int | None = None,
                    log=print, constraint: str = "none", trajectories_dir=None) -> dict:
    """Run and judge the agent for each (name, adapter) model; write conversations.jsonl; return report["agent"].
    databases: the judge's databases per sample (original first, then suite variants); single_turn: per model,
    (verdicts, queries) of its single-turn answers in sample order. constraint: the single-turn one (the agent's
    queries go under the hand rules unless it is none); trajectories_dir: where the tool style is read from."""
    settings = replace(settings, rules=constraint != "none",
                       tool_style=trained_tool_style(trajectories_dir) if trajectories_dir else settings.tool_style)
    from t2s_pipeline.modeling.agent_backends import LocalBackend
    from t2s_pipeline.modeling.generate import load_model

    questions = agent_questions(samples, raw_dir, settings.tool_style)
    limits = AgentLimits(settings.max_turns, settings.wall_s, settings.tool_timeout_s)
    report: dict = {"settings": asdict(settings)}
    rows = []
    for name, adapter in models:
        start = time.monotonic()
        model, tokenizer = load_model(str(base_model_dir), str(adapter) if adapter else None)
        backend = LocalBackend(model, tokenizer, settings.batch_size, settings.max_new_tokens,
                               rules=settings.rules and settings.mode == "tools")
        if settings.mode == "incremental":
            from t2s_pipeline.modeling.agent_incremental import run_incremental

            runs = run_incremental([q.id for q in questions],
                                   [[m for m in s["messages"] if m["role"] != "assistant"] for s in samples],
                                   [(q.db_path, q.schema) for q in questions], backend, limits, settings.show_rows)
        else:
            runs = run_agent(questions, backend, limits)
        del model
        seconds = time.monotonic() - start
        gold = [s["meta"]["gold_sql"] for s in samples]
        finals = judge_many([(databases[k], gold[k], r.sql) for k, r in enumerate(runs)], timeout_s=timeout_s,
                            protocol=protocol, workers=workers)
        firsts = judge_many([(databases[k], gold[k], r.first_sql or "") for k, r in enumerate(runs)],
                            timeout_s=timeout_s, protocol=protocol, workers=workers)
        correct = [bool(v["correct"]) for v in finals]
        first_wrong = [r.first_sql is not None and not f["correct"] for r, f in zip(runs, firsts)]
        repairs = sum(w and c for w, c in zip(first_wrong, correct))
        verdicts, queries = single_turn[name]
        report[name] = {
            "execution_accuracy": rate(correct),
            "single_turn_execution_accuracy": rate(verdicts),
            **summary(runs),
            "first_query_wrong": sum(first_wrong),
            "repairs": repairs,
            "repair_share": rate([w and c for w, c in zip(first_wrong, correct)]),
            "seconds": round(seconds, 2),
            "questions_per_second": round(len(runs) / seconds, 3) if seconds else None,
            "vs_single_turn": paired_comparison(verdicts, correct, queries, [r.sql for r in runs]),
        }
        c = report[name]
        log(f"{name} as an agent: EX {c['execution_accuracy']:.3f} (single-turn {c['single_turn_execution_accuracy']:.3f}"
            f"; {c['vs_single_turn']['fixed']} fixed, {c['vs_single_turn']['broken']} broken, p = "
            f"{c['vs_single_turn']['p_value']}), statuses {c['statuses']}, {c['turns_per_question']} turns and "
            f"{c['tool_calls_per_question']} tool calls a question, {repairs} repairs, {seconds:.1f} s")
        for k, r in enumerate(runs):
            rows.append({"model": name, **r.to_json(), "ex": correct[k], "reason": finals[k]["reason"],
                         "first_ex": None if r.first_sql is None else bool(firsts[k]["correct"]),
                         "single_turn_sql": queries[k], "single_turn_ex": bool(verdicts[k])})
    write_jsonl(Path(out_dir) / "conversations.jsonl", rows)
    return report


def agent_markdown(agent: dict) -> str:
    """The report.md section: one row per model."""
    names = [k for k in agent if k != "settings"]
    s = agent["settings"]
    lines = ["", "## As an agent", "",
             f"Mode {s['mode']}, at most {s['max_turns']} turns and {s['wall_s']:g} s a question, tools time out "
             f"after {s['tool_timeout_s']:g} s; conversations in conversations.jsonl.", "",
             "| model | agent EX | single-turn EX | fixed | broken | p | success | no prediction | error | timeout "
             "| turns / q | tool calls / q | repairs | tools share of time |",
             "|" + "---|" * 14]
    for name in names:
        a = agent[name]
        st, vs = a["statuses"], a["vs_single_turn"]
        lines.append(f"| {name} | {a['execution_accuracy']:.3f} | {a['single_turn_execution_accuracy']:.3f} | "
                     f"{vs['fixed']} | {vs['broken']} | {vs['p_value']} | {st['success']} | {st['no_prediction']} | "
                     f"{st['error']} | {st['timeout']} | {a['turns_per_question']} | {a['tool_calls_per_question']} | "
                     f"{a['repairs']} | {a['tools_share']:.3f} |")
    return "\n".join(lines) + "\n"
