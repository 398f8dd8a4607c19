"""trajectories: chat training samples, split train/dev/test by question."""


from pathlib import Path

import dagster as dg
from pydantic import Field

from t2s_pipeline.assets.common import preview_table, scratch_dir
from t2s_pipeline.records import read_jsonl
from t2s_pipeline.samples.trajectories import build_trajectories


class TrajectoriesConfig(dg.Config):
    dev_fraction: float = Field(default=0.1, description="Share of questions per database held out for dev.")
    test_fraction: float = Field(default=0.1, description="Share of questions per database held out for test.")
    seed: int = Field(default=0, description="Seed of the split.")


@dg.asset(
    group_name="data",
    kinds={"json"},
    description="Whole-query chat samples (system; user = schema and question; assistant = SQL) in the "
                "OpenAI chat format, split train/dev/test by question id, stratified by database.",
)
def trajectories(context: dg.AssetExecutionContext, config: TrajectoriesConfig, golden_pairs: Path,
                 raw_benchmarks: Path) -> Path:
    out = scratch_dir(context)
    fractions = {"train": 1.0 - config.dev_fraction - config.test_fraction,
                 "dev": config.dev_fraction, "test": config.test_fraction}
    stats = build_trajectories(golden_pairs, raw_benchmarks, out, fractions=fractions, seed=config.seed)
    context.log.info(f"trajectories: samples per split {stats['samples']}")
    preview = [{"split": "train", "question": s["messages"][1]["content"].rsplit("Question: ", 1)[-1],
                "answer": s["messages"][-1]["content"]} for s in list(read_jsonl(out / "train.jsonl"))[:5]]
    context.add_output_metadata({
        **{f"{split}_samples": n for split, n in stats["samples"].items()},
        "kinds": dg.MetadataValue.json(stats["kinds"]),
        "preview": preview_table(preview, ["split", "question", "answer"]),
        "seconds": stats["seconds"],
    })
    return out
