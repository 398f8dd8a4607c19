"""`t2s ask`: ask a model a question about a SQLite database; print its SQL and the result.

    t2s ask --model DIR [--adapter DIR] --db FILE [--samples N] "How many singers are there?"

The model folder is a merged model or a base model (with --adapter, a LoRA adapter on top), decoder-only
or encoder-decoder (T5: the schema and question go to the encoder, with beam search by default). The
prompt is the one the model was trained on: the database's schema (read from the file) and the
question. The SQL runs in the read-only sandbox (timeout, row cap); pipe SQL is read back first.
With --samples N (self-consistency) the model writes N queries (the greedy one, then N - 1 sampled) and
the answer is the query whose result most of them agree on. Decoding is under the model folder's default
constraint unless --constraint says otherwise (grammar, rules, grammar+rules, none): the hand rules for the
tiny model, free for hub models.
With --agent the model answers as an agent (modeling/agent.py): it calls the training tools (list_tables,
describe_table, sample_rows, execute_sql, in the read-only sandbox) until it replies with its query; the
whole conversation is printed. --server URL asks an OpenAI-compatible server (`t2s serve`) instead of
loading the model; --model is then the folder the server loads (its name there, and its tokenizer).
Exit status: 0 when the query ran, 1 when it did not (the verdict is printed), 2 on bad arguments.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from t2s_pipeline.samples.tools import TOOL_STYLES
from t2s_pipeline.modeling.constraint import CHOICES, DEFAULT


def format_table(columns: list[str], rows: list[tuple], max_rows: int = 20, width: int = 40) -> str:
    """A plain-text table of the first max_rows rows, cells cut to `width` characters."""
    def cell(value) -> str:
        text = "NULL" if value is None else str(value)
        text = text.replace("\n", " ")
        return text if len(text) <= width else text[: width - 1] + "…"

    shown = [[cell(v) for v in row] for row in rows[:max_rows]]
    header = [cell(c) for c in columns] or [f"col{i + 1}" for i in range(len(rows[0]) if rows else 0)]
    widths = [max([len(header[i])] + [len(r[i]) for r in shown]) for i in range(len(header))]
    line = lambda values: " | ".join(v.ljust(w) for v, w in zip(values, widths)).rstrip()
    lines = [line(header), "-+-".join("-" * w for w in widths)] + [line(r) for r in shown]
    if len(rows) > max_rows:
        lines.append(f"... {len(rows) - max_rows} more rows")
    return "\n".join(lines)


def ask(model_dir: str, db_path: str, question: str, adapter_dir: str | None = None, evidence: str = "",
        max_new_tokens: int = 256, num_beams: int = 0, timeout_s: float = 5.0, max_rows: int = 1000,
        samples: int = 1, temperature: float = 1.0, votes: dict | None = None,
        constraint: str = "default"):
    """(sql, ExecResult): the model's SQL for the question and its sandboxed result. num_beams 0 picks by model
    family (5 for an encoder-decoder model such as T5, else greedy). samples > 1 votes over that many queries
    by execution result; `votes`, when given, receives the vote's figures. constraint: grammar, rules,
    grammar+rules or none (modeling/constraint.py), as eval_report decodes; default: the model folder's
    (modeling/decoding.py: the tiny model under the hand rules, hub models free)."""
    from t2s_pipeline.modeling.constraint import constraint_contexts
    from t2s_pipeline.modeling.decoding import resolve_constraint
    from t2s_pipeline.modeling.generate import default_num_beams, generate_sql, load_model
    from t2s_pipeline.sql.judge import prepare_sql
    from t2s_pipeline.samples.prompts import prompt_messages
    from t2s_pipeline.sql.execute import execute_sql
    from t2s_pipeline.sql.schema import read_sqlite_schema, schema_text

    schema = schema_text(read_sqlite_schema(db_path))
    model, tokenizer = load_model(model_dir, adapter_dir)
    conversation = prompt_messages(schema, question, evidence)
    contexts = constraint_contexts(resolve_constraint(constraint, model_dir),
                                   [f"{question}\n\n{evidence}".strip()], [db_path])
    [sql] = generate_sql(model, tokenizer, [conversation], batch_size=1, max_new_tokens=max_new_tokens,
                         num_beams=num_beams or default_num_beams(model), contexts=contexts)
    if samples > 1:
        from t2s_pipeline.evaluation.self_consistency import self_consistent_sql

        [chosen] = self_consistent_sql(model, tokenizer, [conversation], [db_path], samples, batch_size=samples,
                                       max_new_tokens=max_new_tokens, temperature=temperature, timeout_s=timeout_s,
                                       greedy=[sql], contexts=contexts)
        sql = chosen["sql"]
        if votes is not None:
            votes.update(chosen)
    return sql, execute_sql(db_path, prepare_sql(sql), timeout_s=timeout_s, max_rows=max_rows)


def ask_agent(model_dir: str, db_path: str, question: str, adapter_dir: str | None = None, evidence: str = "",
              max_new_tokens: int = 256, server: str | None = None, max_turns: int = 8, timeout_s: float = 5.0,
              tool_style: str = "explore", constraint: str = "default"):
    """The agent's run (modeling/agent.AgentRun) on the question: in-process, or through the server's URL.
    tool_style: the style the model's tool conversations were trained in (samples/tools.TOOL_STYLES); in-process,
    its queries go under the hand rules unless the constraint resolves to none (as eval_report's agent)."""
    from t2s_pipeline.modeling.agent import AgentLimits, AgentQuestion, run_agent
    from t2s_pipeline.modeling.agent_backends import LocalBackend, OpenAIBackend, response_template_for
    from t2s_pipeline.modeling.decoding import resolve_constraint
    from t2s_pipeline.modeling.generate import load_model
    from t2s_pipeline.sql.schema import read_sqlite_schema, schema_text

    if server:
        from transformers import AutoTokenizer

        template = response_template_for(AutoTokenizer.from_pretrained(adapter_dir or model_dir))
        backend = OpenAIBackend(server, str(model_dir), max_new_tokens, template)
    else:
        model, tokenizer = load_model(model_dir, adapter_dir)
        backend = LocalBackend(model, tokenizer, batch_size=1, max_new_tokens=max_new_tokens,
                               rules=resolve_constraint(constraint, model_dir) != "none")
    schema = read_sqlite_schema(db_path)
    questions = [AgentQuestion("ask", question, db_path, schema, evidence,
                               schema_text(schema) if tool_style == "check" else "")]
    [run] = run_agent(questions, backend, AgentLimits(max_turns=max_turns, tool_timeout_s=timeout_s))
    return run


def format_conversation(messages: list[dict], width: int = 400) -> str:
    """One paragraph per turn: the role, then the text, each tool call as name(arguments), results cut to width."""
    cut = lambda text: text if len(text) <= width else text[:width - 1] + "…"
    lines = []
    for m in messages:
        if m.get("tool_calls"):
            calls = ", ".join(f"{c['function']['name']}({c['function']['arguments']})" for c in m["tool_calls"])
            lines.append(f"[assistant] calls {calls}")
        elif m["role"] == "tool":
            lines.append(f"[tool {m.get('name', '')}] {cut(m['content'])}")
        else:
            lines.append(f"[{m['role']}] {cut(m['content'] or '')}")
    return "\n".join(lines)


def run_ask(args: argparse.Namespace) -> int:
    for flag, path in (("--model", args.model), ("--adapter", args.adapter)):
        if path and not Path(path).is_dir():
            print(f"t2s ask: {flag} folder not found: {path}", file=sys.stderr)
            return 2
    if not Path(args.db).is_file():
        print(f"t2s ask: database not found: {args.db}", file=sys.stderr)
        return 2
    if args.samples < 1 or (args.samples > 1 and args.num_beams > 1):
        print("t2s ask: --samples must be at least 1, and beam search (--num-beams) votes on nothing", file=sys.stderr)
        return 2
    if args.agent or args.server:
        return _run_agent(args)
    votes: dict = {}
    sql, result = ask(args.model, args.db, args.question, args.adapter, args.evidence, args.max_new_tokens,
                      args.num_beams, args.timeout, max(args.rows, 1000), args.samples, args.temperature, votes,
                      args.constraint)
    print("SQL:")
    print(sql or "(empty)")
    if votes:
        print(f"(self-consistency: {votes['votes']} of {votes['candidates']} queries agree on this result; "
              f"{votes['ran']} ran)")
    print()
    if not result.ok:
        print(f"{result.status}: {result.error}")
        return 1
    print(format_table(result.columns, result.rows, args.rows))
    more = " or more (row cap reached)" if result.truncated else ""
    print(f"({len(result.rows)}{more} rows, {result.seconds * 1000:.0f} ms)")
    return 0


def _run_agent(args: argparse.Namespace) -> int:
    from t2s_pipeline.sql.judge import prepare_sql
    from t2s_pipeline.sql.execute import execute_sql

    run = ask_agent(args.model, args.db, args.question, args.adapter, args.evidence, args.max_new_tokens,
                    args.server, args.max_turns, args.timeout, args.tool_style, args.constraint)
    print(format_conversation(run.messages))
    print(f"\n(status {run.status}{': ' + run.error if run.error else ''}; {run.turns} turns, "
          f"{run.tool_calls} tool calls, {run.seconds:.1f} s)")
    print("\nSQL:")
    print(run.sql or "(none)")
    if not run.sql:
        return 1
    result = execute_sql(args.db, prepare_sql(run.sql), timeout_s=args.timeout, max_rows=max(args.rows, 1000))
    print()
    if not result.ok:
        print(f"{result.status}: {result.error}")
        return 1
    print(format_table(result.columns, result.rows, args.rows))
    return 0


def add_parser(sub) -> None:
    p = sub.add_parser("ask", help="ask a model a question about a SQLite database",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("question", help="the question, in words")
    p.add_argument("--model", required=True, help="a Hugging Face model folder (merged model or base model)")
    p.add_argument("--adapter", help="a LoRA adapter folder to apply on top of --model")
    p.add_argument("--db", required=True, help="the SQLite database file")
    p.add_argument("--evidence", default="", help="external knowledge for the question (BIRD-style)")
    p.add_argument("--max-new-tokens", type=int, default=256, help="generation length limit")
    p.add_argument("--num-beams", type=int, default=0,
                   help="beam search width (1: greedy; 0, the default: 5 for encoder-decoder models like T5, else 1)")
    p.add_argument("--samples", type=int, default=1, help="self-consistency: queries to write and vote on by "
                                                           "their results (1: greedy only)")
    p.add_argument("--temperature", type=float, default=1.0, help="sampling temperature for --samples")
    p.add_argument("--timeout", type=float, default=5.0, help="seconds the query may run")
    p.add_argument("--rows", type=int, default=20, help="rows to print")
    p.add_argument("--constraint", choices=CHOICES, default=DEFAULT, help="decode under the database's SQL "
                   "grammar, the hand rules (the question's literals, the database's names), both, or none; "
                   "default: the model folder's (the hand rules for the tiny model, none for hub models)")
    p.add_argument("--agent", action="store_true", help="answer as an agent that calls the database tools; "
                                                         "prints the conversation")
    p.add_argument("--server", help="with --agent: an OpenAI-compatible base URL (t2s serve), e.g. "
                                    "http://127.0.0.1:8000/v1; --model is the folder it serves")
    p.add_argument("--max-turns", type=int, default=8, help="with --agent: assistant turns before giving up")
    p.add_argument("--tool-style", choices=TOOL_STYLES, default="explore", help="with --agent: the style of the "
                   "model's tool conversations (trajectories tool_style; the demo's model: check)")
    p.set_defaults(func=run_ask)
