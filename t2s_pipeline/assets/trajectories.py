"""trajectories: chat training samples, split train/dev/test by question."""


from pathlib import Path
from typing import Literal, Optional

import dagster as dg
from pydantic import Field

from t2s_pipeline.assets.common import computed, counts_table, input_hash, preview_table, reuse_stored, scratch_dir
from t2s_pipeline.records import read_json, read_jsonl
from t2s_pipeline.resources.storage import DirectoryIOManager
from t2s_pipeline.samples.mixing import MixSource
from t2s_pipeline.samples.trajectories import build_trajectories


class MixSourceConfig(dg.Config):
    benchmark: str = Field(description="A benchmark of raw_benchmarks, by name (embedded, spider, bird, synsql, ...).")
    weight: Optional[float] = Field(default=None, ge=0.0, description="Its share of the train questions, relative "
                                    "to the other sources' weights; 0 drops it. Empty: the weight raw_benchmarks "
                                    "gave the source (1.0 by default).")
    max_samples: Optional[int] = Field(default=None, ge=1, description="Keep at most this many of its train "
                                       "questions (drawn with the seed); empty keeps all.")
    difficulties: list[str] = Field(default=[], description="Keep only questions with these difficulty labels "
                                    "(e.g. BIRD's simple, moderate, challenging); empty keeps all.")


class TrajectoriesConfig(dg.Config):
    dev_fraction: float = Field(default=0.1, description="Share of questions per database held out for dev.")
    test_fraction: float = Field(default=0.1, description="Share of questions per database held out for test.")
    seed: int = Field(default=0, description="Seed of the split (and of the draw of tool-calling pairs).")
    target: Literal["sql", "pipe", "both"] = Field(
        default="sql", description="sql: whole-query SQL samples; pipe: one sample per pipe operator plus the "
                                   "whole pipe query, for pairs with a proven pipe rewrite; both: all of them.")
    tool_share: float = Field(default=0.0, ge=0.0, le=1.0,
                              description="Share of pairs that also give a tool-calling sample (list_tables, "
                                          "describe_table, sample_rows, execute_sql with real results).")
    tool_style: Literal["explore", "check"] = Field(
        default="explore", description="How tool and repair conversations go. explore: the question alone; the "
        "model lists the tables, describes those it needs, samples rows, runs its query and answers. check: the "
        "schema in the prompt as in a single-turn sample; the model runs its query at once, then answers or repairs "
        "it (a small model writes its query best right after the question: the demo's tiny model).")
    repair_share: float = Field(default=0.0, ge=0.0, le=1.0,
                                description="Share of pairs (drawn apart from tool_share) that also give a repair "
                                            "conversation: its first execute_sql runs a near miss of the gold (a "
                                            "mutant the judge scores wrong: it errors, returns nothing or other "
                                            "rows), shown but not learned, then the gold is run and answered.")
    prompt_format: Literal["chat", "alpaca"] = Field(
        default="chat", description="chat: the base model's chat template; alpaca: the Alpaca instruction format "
                                    "(### Instruction / ### Input / ### Response, ended by the EOS token).")
    cot: bool = Field(default=False, description="Answer whole-query samples with the source's chain of thought, "
                      "then the SQL in a ```sql block, where the source has one (SynSQL-2.5M).")
    schema_token_budget: int = Field(default=0, ge=0, description="Cut each prompt's schema to about this many "
                                     "tokens (estimated, 3.5 characters a token): train prompts keep the gold "
                                     "query's tables, then the tables most relevant to the question. 0 keeps it whole.")
    values_per_column: int = Field(default=0, ge=0, description="Example values read from the database and shown "
                                   "per column in the schema text (they give way to tables under the budget).")
    mix: list[MixSourceConfig] = Field(default=[], description="Weighted mixing of the train questions by source; "
                                       "dev and test are never mixed. Sources not listed keep their raw_benchmarks "
                                       "weight. With equal weights and no cap the train split is unchanged.")
    literal_variants: int = Field(default=0, ge=0, description="Literal-swapped copies of each train pair: every "
                                  "literal the question states (a name, a number) replaced by another in both the "
                                  "question and the SQL, so a small model learns to copy literals rather than "
                                  "memorize them. Standard-SQL target only; a copy that writes a dev or test "
                                  "question or query is left out.")
    force: bool = Field(default=False, description="Recompute even when a stored version was made from the same "
                        "inputs, config and code (it is reused otherwise).")


@dg.asset(
    code_version="2",
    group_name="data",
    kinds={"json"},
    description="Chat samples in the OpenAI chat format: whole-query SQL by default; pipe SQL one operator at a "
                "time and tool-calling conversations when configured. Split train/dev/test by question, "
                "stratified by database, without leakage: questions sharing a normalized question or SQL "
                "go to one split together.",
)
def trajectories(context: dg.AssetExecutionContext, config: TrajectoriesConfig, golden_pairs: Path,
                 raw_benchmarks: Path, io_manager: dg.ResourceParam[DirectoryIOManager]) -> dg.Output:
    digest = input_hash(context, io_manager, config, upstream=["golden_pairs", "raw_benchmarks"])
    if reused := reuse_stored(context, io_manager, digest, config.force):
        return reused
    out = scratch_dir(context)
    fractions = {"train": 1.0 - config.dev_fraction - config.test_fraction,
                 "dev": config.dev_fraction, "test": config.test_fraction}
    stats = build_trajectories(golden_pairs, raw_benchmarks, out, fractions=fractions, seed=config.seed,
                               target=config.target, tool_share=config.tool_share,
                               repair_share=config.repair_share, tool_style=config.tool_style,
                               mix=mix_sources(raw_benchmarks, config.mix),
                               schema_token_budget=config.schema_token_budget,
                               values_per_column=config.values_per_column,
                               prompt_format=config.prompt_format, cot=config.cot,
                               literal_variants=config.literal_variants)
    context.log.info(f"trajectories: samples per split {stats['samples']}, kinds {stats['kinds']}")
    preview = [{"kind": s["meta"]["kind"], "question": s["messages"][1]["content"].rsplit("Question: ", 1)[-1],
                "answer": s["messages"][-1]["content"]} for s in list(read_jsonl(out / "train.jsonl"))[:8]]
    metadata = {
        **{f"{split}_samples": n for split, n in stats["samples"].items()},
        "kinds": dg.MetadataValue.json(stats["kinds"]),
        "preview": preview_table(preview, ["kind", "question", "answer"], n=8),
        "seconds": stats["seconds"],
    }
    metadata["target"] = stats["target"]
    metadata["kinds_by_split"] = dg.MetadataValue.json(stats["kinds_by_split"])
    if stats["repairs"]["drawn"]:
        metadata["repairs"] = dg.MetadataValue.json(stats["repairs"])
    metadata["mix"] = dg.MetadataValue.json(stats["mix"])
    metadata["schema_prompts"] = dg.MetadataValue.json(stats["schema_prompts"])
    removed = stats["leakage"]["removed"]
    metadata["leakage_removed"] = sum(c["either"] for c in removed.values())
    metadata["leakage"] = dg.MetadataValue.json(stats["leakage"])
    if stats["operators"]:
        metadata["operators"] = counts_table(stats["operators"], key_name="operator")
    context.add_output_metadata(metadata)
    return computed(out, digest)


def mix_sources(raw_benchmarks: Path, overrides: list[MixSourceConfig]) -> dict[str, MixSource]:
    """Each benchmark's MixSource: the weight raw_benchmarks recorded, then what the config says."""
    recorded = read_json(raw_benchmarks / "stats.json").get("benchmarks", {})
    sources = {name: MixSource(weight=b.get("weight", 1.0)) for name, b in recorded.items()}
    unknown = sorted({o.benchmark for o in overrides} - set(recorded))
    if unknown:
        raise ValueError(f"trajectories mix names benchmarks raw_benchmarks did not load: {unknown}; "
                         f"it loaded {sorted(recorded)}")
    for o in overrides:
        weight = o.weight if o.weight is not None else sources.get(o.benchmark, MixSource()).weight
        sources[o.benchmark] = MixSource(weight=weight, max_samples=o.max_samples, difficulties=tuple(o.difficulties))
    return sources
