"""golden_pairs: gold SQL proven by execution on its database."""


from pathlib import Path

import dagster as dg
from pydantic import Field

from t2s_pipeline.assets.common import counts_table, preview_table, scratch_dir
from t2s_pipeline.records import read_jsonl
from t2s_pipeline.sql.golden import build_golden_pairs


class GoldenPairsConfig(dg.Config):
    timeout_s: float = Field(default=10.0, description="Wall-clock limit per gold query, enforced inside SQLite.")
    workers: int = Field(default=0, description="Worker processes; 0 uses every core.")


@dg.asset(
    group_name="data",
    kinds={"sqlite", "python"},
    description="Gold SQL executed read-only with a timeout on its database; pairs that run are kept, "
                "the rest rejected with a reason code.",
)
def golden_pairs(context: dg.AssetExecutionContext, config: GoldenPairsConfig, raw_benchmarks: Path) -> Path:
    out = scratch_dir(context)
    stats = build_golden_pairs(raw_benchmarks, out, timeout_s=config.timeout_s, workers=config.workers or None)
    context.log.info(f"golden_pairs: {stats['kept']} kept, {stats['rejected']} rejected of {stats['input']}")
    pairs = list(read_jsonl(out / "pairs.jsonl"))
    context.add_output_metadata({
        "input": stats["input"],
        "kept": stats["kept"],
        "rejected": stats["rejected"],
        "validation_rate": stats["validation_rate"],
        "rejects_by_reason": counts_table(stats.get("rejects_by_reason", {})),
        "preview": preview_table(pairs, ["id", "question", "gold_sql", "ordered"]),
        "seconds": stats["seconds"],
    })
    return out
