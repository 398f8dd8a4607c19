"""Chat training samples from golden pairs, written as train/dev/test JSON lines.

Samples are chat messages; prompt_format `alpaca` marks them to be rendered in the Alpaca format, and
`cot` makes a whole-query answer the source's chain of thought then a ```sql block (prompts.py).
The target says which samples each pair gives:
- `sql` (the default): one whole-query sample: system prompt; user = schema text then the question
  (and evidence); assistant = the gold SQL. meta.kind `whole_query`: what eval_report scores.
- `pipe`: for a pair with a proven pipe rewrite, one sample per pipe operator (meta.kind
  `pipe_step`) plus one whole pipe query (`pipe_whole_query`); see steps.py. A pair without one
  gives no sample (counted in stats as pairs_without_pipe).
- `both`: the SQL sample and the pipe samples.
A share of the pairs (tool_share, default 0) also gives a tool-calling sample (`tool_call`, see
tools.py) ending in the pair's pipe query when the target includes pipe and it has one, else its SQL.
Another share (repair_share, default 0, drawn apart) gives a repair conversation (`repair`, repairs.py):
its first query is a near miss of the gold that the judge scores wrong, then the fix.

Splits are by question, stratified by database, and leak-free: questions sharing a normalized
question or SQL on one database go to one split together (splits.py), so no test or dev question's
(db_id, question) or (db_id, SQL) is in train; stats.json `leakage` says how many held-out questions a
plain split by question would have leaked (`removed`) and that none is left. Every sample of a pair
is in its pair's split.
The train questions can be mixed by source with weights, caps and difficulties (mixing.py); a
question the mix repeats has its samples written that many times. The pairs stream from the file:
only their ids, databases, sources and difficulties are held in memory.
"""

from __future__ import annotations

import json
import random
import time
from collections import Counter
from pathlib import Path

from t2s_pipeline.records import read_json, read_jsonl, write_json
from t2s_pipeline.samples.literal_swap import pair_keys, string_literals, swap_literals
from t2s_pipeline.samples.mixing import MixSource, mix_pairs
from t2s_pipeline.samples.prompts import FORMATS, cot_answer, prompt_messages
from t2s_pipeline.samples.splits import SPLITS, leakage, split_by_question, text_keys
from t2s_pipeline.samples.steps import pipe_step_samples, pipe_whole_query_sample
from t2s_pipeline.samples.tools import TOOL_STYLES
from t2s_pipeline.samples.schema_prompt import fit_schema
from t2s_pipeline.sql.schema import sample_values, schema_text

TARGETS = ("sql", "pipe", "both")
# Samples that answer a question with a whole query, standard SQL first: what pretraining reads
# and what eval_report scores (the pipe one when a split has no standard-SQL sample).
WHOLE_QUERY_KINDS = ("whole_query", "pipe_whole_query")


def whole_query_samples(trajectories_dir: str | Path, split: str) -> list[dict]:
    """The split's whole-query samples (step and tool-call samples repeat the same question and answer);
    none when the split file is absent."""
    path = Path(trajectories_dir) / f"{split}.jsonl"
    return [s for s in read_jsonl(path) if s["meta"]["kind"] in WHOLE_QUERY_KINDS] if path.is_file() else []


def held_out_pair_keys(trajectories_dir: str | Path) -> set[str]:
    """pair_keys of every dev and test question with its answer and its gold SQL: what a literal-swapped
    copy of a train pair must not match."""
    return {key for split in ("dev", "test") for s in whole_query_samples(trajectories_dir, split)
            for sql in (s["messages"][-1]["content"], s["meta"]["gold_sql"])
            for key in pair_keys(s["messages"][-2]["content"].rpartition("Question: ")[2], sql)}


def whole_query_sample(pair: dict, schema_prompt: str, cot: bool = False) -> dict:
    """The SQL answer; with cot and a pair that has a chain of thought, the reasoning then a ```sql block."""
    messages = prompt_messages(schema_prompt, pair["question"], pair.get("evidence", ""))
    with_cot = cot and bool(pair.get("cot"))
    answer = cot_answer(pair["cot"], pair["gold_sql"]) if with_cot else pair["gold_sql"]
    messages.append({"role": "assistant", "content": answer})
    sample = {
        "messages": messages,
        "meta": {
            "id": pair["id"],
            "db_id": pair["db_id"],
            "benchmark": pair["benchmark"],
            "difficulty": pair.get("difficulty"),
            "gold_sql": pair["gold_sql"],
            "kind": "whole_query",
            "step": 1,
            "steps": 1,
        },
    }
    if with_cot:
        sample["meta"]["answer"] = "cot"
    return sample


def pair_samples(pair: dict, schema_prompt: str, target: str = "sql", cot: bool = False) -> list[dict]:
    """The samples of one pair for a target (no tool-calling sample)."""
    samples = [whole_query_sample(pair, schema_prompt, cot)] if target in ("sql", "both") else []
    if target in ("pipe", "both") and pair.get("pipe_sql"):
        samples += pipe_step_samples(pair, schema_prompt)
        samples.append(pipe_whole_query_sample(pair, schema_prompt))
    return samples


def build_trajectories(
    pairs_dir: str | Path,
    raw_dir: str | Path,
    out_dir: str | Path,
    fractions: dict[str, float] | None = None,
    seed: int = 0,
    target: str = "sql",
    tool_share: float = 0.0,
    timeout_s: float = 10.0,
    repair_share: float = 0.0,
    mix: dict[str, MixSource] | None = None,
    schema_token_budget: int = 0,
    values_per_column: int = 0,
    prompt_format: str = "chat",
    cot: bool = False,
    literal_variants: int = 0,
    tool_style: str = "explore",
) -> dict:
    """Write train.jsonl, dev.jsonl, test.jsonl and stats.json; returns the stats.

    mix: benchmark name -> MixSource, the weighted mix of the train questions (see mixing.py).
    schema_token_budget: cut each prompt's schema to this many estimated tokens (0: whole schema),
    keeping the gold query's tables in train samples (see schema_prompt.py).
    values_per_column: example values shown per column in the schema (0: none).
    prompt_format: `chat` or `alpaca` (prompts.py); cot: answer with the chain of thought when a pair has one.
    literal_variants: literal-swapped copies of each train pair (literal_swap.py; standard-SQL target only),
    never one that writes a dev or test question or query.
    tool_style: how tool and repair conversations go (tools.TOOL_STYLES): explore or check.
    """
    if target not in TARGETS:
        raise ValueError(f"target must be one of {TARGETS}, got {target!r}")
    for name, share in (("tool_share", tool_share), ("repair_share", repair_share)):
        if not 0.0 <= share <= 1.0:
            raise ValueError(f"{name} must be within [0, 1], got {share}")
    if tool_style not in TOOL_STYLES:
        raise ValueError(f"tool_style must be one of {TOOL_STYLES}, got {tool_style!r}")
    if prompt_format not in FORMATS:
        raise ValueError(f"prompt_format must be one of {FORMATS}, got {prompt_format!r}")
    for name, share in (("tool_share", tool_share), ("repair_share", repair_share)):
        if prompt_format == "alpaca" and share:
            raise ValueError(f"{name} needs prompt_format 'chat': the Alpaca format has no tool calls")
    if literal_variants and (target != "sql" or cot):
        raise ValueError("literal_variants swaps literals in the standard SQL: it needs target 'sql' and no cot")
    start = time.monotonic()
    fractions = fractions or {"train": 0.8, "dev": 0.1, "test": 0.1}
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    pairs_path = Path(pairs_dir) / "pairs.jsonl"
    # What splitting and mixing need, kept in memory; the pairs themselves stream from the file twice.
    light = [{**{k: p.get(k) for k in ("id", "db_id", "benchmark", "difficulty")},
              "keys": text_keys(p["db_id"], p["question"], p["gold_sql"])} for p in read_jsonl(pairs_path)]
    schemas = read_json(Path(raw_dir) / "schemas.json")
    prompts = SchemaPrompts(Path(raw_dir), schemas, schema_token_budget, values_per_column)
    assignment = split_by_question(light, fractions, seed)
    leaks = split_leakage(light, assignment, fractions, seed)
    mixed, mix_stats = mix_pairs([p for p in light if assignment[p["id"]] == "train"], mix or {}, seed)
    times_in_train = Counter(p["id"] for p in mixed)
    tools = _ToolSamples(Path(raw_dir), schemas, target, tool_share, seed, timeout_s, repair_share, tool_style)
    swaps = _LiteralSwaps(pairs_path, light, assignment, literal_variants, seed)
    out = _SplitFiles(out_dir)
    try:
        for pair in read_jsonl(pairs_path):
            out.pairs_without_pipe += not pair.get("pipe_sql")
            split = assignment[pair["id"]]
            times = times_in_train[pair["id"]] if split == "train" else 1
            if not times:
                continue  # a train question the mix left out
            schema_prompt = prompts.text(pair, gold_tables=split == "train")
            samples = pair_samples(pair, schema_prompt, target, cot)
            for sample in samples:
                if prompt_format != "chat":
                    sample["format"] = prompt_format
            tool_samples = [s for s in (tools.sample(pair, schema_prompt), tools.repair(pair, schema_prompt)) if s]
            for _ in range(times):
                for sample in samples:
                    out.write(split, sample)
            for tool_sample in tool_samples:
                out.write(split, tool_sample)
            for swapped in swaps.pairs(pair) if split == "train" else ():
                for sample in pair_samples(swapped, prompts.text(swapped, gold_tables=True), target):
                    out.write(split, sample)
    finally:
        out.close()
        tools.close()
    stats = {
        "pairs": len(light),
        "samples": dict(out.samples),
        "questions": {split: len(ids) for split, ids in out.questions.items()},
        "kinds": dict(sum(out.kinds.values(), Counter())),
        "kinds_by_split": {split: dict(kinds) for split, kinds in out.kinds.items()},
        "operators": dict(out.operators.most_common()),  # of the pipe step samples (none for the sql target)
        "target": target,
        "prompt_format": prompt_format,
        "cot_answers": out.cot_answers,
        "tool_share": tool_share,
        "tool_style": tool_style,
        "tool_samples": tools.made,
        "repair_share": repair_share,
        "repairs": tools.repair_stats(),
        "pairs_without_pipe": out.pairs_without_pipe,
        "literal_swaps": {"variants_per_pair": literal_variants, "written": swaps.written,
                          "left_out_as_held_out": swaps.held_out_hits},
        "mix": mix_stats,
        "schema_prompts": prompts.stats(),
        "fractions": fractions,
        "leakage": leaks,
        "seed": seed,
        "seconds": round(time.monotonic() - start, 2),
    }
    write_json(out_dir / "stats.json", stats)
    return stats


class _LiteralSwaps:
    """Literal-swapped copies of train pairs, drawn with the seed; a copy whose question or SQL is a held-out
    one (a dev or test pair's normalized text on the same database) is left out and counted."""

    def __init__(self, pairs_path: Path, light: list[dict], assignment: dict[str, str], variants: int, seed: int):
        self.variants, self.written, self.held_out_hits = variants, 0, 0
        self.rng = random.Random(f"{seed}:literal_swaps")
        self.held_out = {key for p in light if assignment[p["id"]] != "train" for key in p["keys"]}
        self.strings = string_literals(
            [p["gold_sql"] for p in read_jsonl(pairs_path) if assignment[p["id"]] == "train"]) if variants else []

    def pairs(self, pair: dict) -> list[dict]:
        out = []
        for k in range(self.variants):
            swap = swap_literals(pair["question"], pair["gold_sql"], self.strings, self.rng)
            if swap is None:
                break
            if set(text_keys(pair["db_id"], *swap)) & self.held_out:
                self.held_out_hits += 1
                continue
            out.append({**pair, "id": f"{pair['id']}#swap{k}", "question": swap[0], "gold_sql": swap[1],
                        "pipe_sql": None})
        self.written += len(out)
        return out


def split_leakage(light: list[dict], assignment: dict[str, str], fractions: dict[str, float], seed: int) -> dict:
    """What the grouped split removed: the held-out questions a plain split by question id (the same
    seed) would have left sharing a normalized question or SQL with train; and what is left (none)."""
    plain = split_by_question([{"id": p["id"], "db_id": p["db_id"]} for p in light], fractions, seed)
    left = leakage(light, assignment)
    if any(c["either"] for c in left.values()):
        raise AssertionError(f"the split leaks held-out questions into train: {left}")
    return {"removed": leakage(light, plain), "left": left,
            "questions": dict(Counter(assignment.values())), "plain_split_questions": dict(Counter(plain.values()))}


class _SplitFiles:
    """train/dev/test.jsonl open for writing, with the counts of what went into each."""

    def __init__(self, out_dir: Path):
        self.files = {split: open(out_dir / f"{split}.jsonl", "w", encoding="utf-8") for split in SPLITS}
        self.samples = {split: 0 for split in SPLITS}
        self.questions: dict[str, set] = {split: set() for split in SPLITS}
        self.kinds: dict[str, Counter] = {split: Counter() for split in SPLITS}
        self.operators = Counter()
        self.cot_answers = self.pairs_without_pipe = 0

    def write(self, split: str, sample: dict) -> None:
        self.files[split].write(json.dumps(sample, ensure_ascii=False) + "\n")
        meta = sample["meta"]
        self.samples[split] += 1
        self.questions[split].add(meta["id"])
        self.kinds[split][meta["kind"]] += 1
        self.cot_answers += meta.get("answer") == "cot"
        if meta["kind"] == "pipe_step":
            self.operators[meta["op"]] += 1

    def close(self) -> None:
        for f in self.files.values():
            f.close()


class SchemaPrompts:
    """The schema text of each pair's prompt: one per database, or cut per question to a budget."""

    def __init__(self, raw_dir: Path, schemas: dict, budget: int, values_per_column: int):
        self.schemas, self.budget = schemas, budget
        self.values = _database_values(raw_dir, schemas, values_per_column) if values_per_column else {}
        self.whole = {db_id: schema_text(schema, self.values.get(db_id)) for db_id, schema in schemas.items()}
        self.cut = self.over_budget = self.prompts = 0

    def text(self, pair: dict, gold_tables: bool) -> str:
        self.prompts += 1
        if not self.budget:
            return self.whole[pair["db_id"]]
        from t2s_pipeline.samples.tools import tables_used

        schema = self.schemas[pair["db_id"]]
        required = tables_used(pair["gold_sql"], schema) if gold_tables else []
        fitted = fit_schema(schema, self.budget, pair["question"], required, self.values.get(pair["db_id"]))
        self.cut += fitted.tables < fitted.of or (bool(self.values) and not fitted.values)
        self.over_budget += fitted.over_budget
        return fitted.text

    def stats(self) -> dict:
        return {"token_budget": self.budget, "pairs": self.prompts, "cut": self.cut, "over_budget": self.over_budget}


def _database_values(raw_dir: Path, schemas: dict, per_column: int) -> dict:
    from t2s_pipeline.sql.execute import connect_readonly

    values = {}
    for db_id, schema in schemas.items():
        path = raw_dir / "databases" / f"{db_id}.sqlite"
        if path.is_file():
            conn = connect_readonly(path)
            try:
                values[db_id] = sample_values(conn, schema, per_column)
            finally:
                conn.close()
    return values


class _ToolSamples:
    """Tool-calling and repair samples for the pairs drawn (tools.selected_for_tools; repairs drawn with their own
    salt), one connection per database."""

    def __init__(self, raw_dir: Path, schemas: dict, target: str, share: float, seed: int, timeout_s: float,
                 repair_share: float = 0.0, style: str = "explore"):
        self.raw_dir, self.schemas, self.target, self.style = raw_dir, schemas, target, style
        self.share, self.seed, self.timeout_s, self.repair_share = share, seed, timeout_s, repair_share
        self.connections: dict = {}
        self.made = self.repairs_drawn = self.repairs_made = 0
        self.near_misses = None

    def sample(self, pair: dict, schema_text: str, near_miss: str | None = None) -> dict | None:
        """schema_text: the pair's prompt schema, which a conversation of style check shows."""
        from t2s_pipeline.samples.tools import selected_for_tools, tool_call_sample

        if near_miss is None and not selected_for_tools(pair["id"], self.share, self.seed):
            return None
        pipe = self.target in ("pipe", "both") and pair.get("pipe_sql")
        answer, kind = (pair["pipe_sql"], "pipe") if pipe else (pair["gold_sql"], "sql")
        self.made += near_miss is None
        return tool_call_sample(pair, self._toolbox(pair), answer, kind, near_miss,
                                schema_text if self.style == "check" else "")

    def repair(self, pair: dict, schema_text: str) -> dict | None:
        """A repair conversation when the pair is drawn and one of its gold's mutants is judged wrong."""
        from t2s_pipeline.samples.repairs import NearMisses
        from t2s_pipeline.samples.tools import selected_for_tools

        if not selected_for_tools(f"repair:{pair['id']}", self.repair_share, self.seed):
            return None
        self.repairs_drawn += 1
        self.near_misses = self.near_misses or NearMisses(self.seed, self.timeout_s)
        toolbox = self._toolbox(pair)
        found = self.near_misses.find(pair["gold_sql"], toolbox.db_path, toolbox.schema, toolbox.conn)
        if found is None:
            return None
        self.repairs_made += 1
        sample = self.sample(pair, schema_text, near_miss=found[0])
        sample["meta"].update(near_miss=found[0], near_miss_why=found[1])
        return sample

    def _toolbox(self, pair: dict):
        from t2s_pipeline.samples.tools import ToolBox
        from t2s_pipeline.sql.execute import connect_readonly

        db_path = self.raw_dir / "databases" / f"{pair['db_id']}.sqlite"
        if pair["db_id"] not in self.connections:
            self.connections[pair["db_id"]] = connect_readonly(db_path)
        return ToolBox(db_path, self.schemas[pair["db_id"]], self.timeout_s, self.connections[pair["db_id"]])

    def repair_stats(self) -> dict:
        """Drawn = made + without a near miss (no mutant of the gold judged wrong)."""
        return {"drawn": self.repairs_drawn, "made": self.repairs_made,
                "without_near_miss": self.repairs_drawn - self.repairs_made,
                **(self.near_misses.stats() if self.near_misses else {"mutants_tried": 0, "mutants_judged_right": 0,
                                                                     "why": {}})}

    def close(self) -> None:
        for conn in self.connections.values():
            conn.close()
