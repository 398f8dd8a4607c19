"""test_suites: distilled variant databases per database, so a prediction is judged on more than one database."""


from collections import defaultdict
from pathlib import Path

import dagster as dg
from pydantic import Field

from t2s_pipeline.assets.common import computed, input_hash, log_to, reuse_stored, scratch_dir
from t2s_pipeline.records import read_json, read_jsonl
from t2s_pipeline.resources.storage import DirectoryIOManager
from t2s_pipeline.sql.test_suite import SuiteConfig, generate_suites


class SuitesConfig(dg.Config):
    max_variants: int = Field(default=SuiteConfig.max_variants, ge=0, description=(
        "Variant databases kept per database at most, besides the original (each adds one run per prediction); "
        "a suite stops growing earlier once a held-out quarter of the mutants stops being killed."))
    candidates: int = Field(default=SuiteConfig.candidates, ge=0, description=(
        "Candidate variants generated per database; distillation keeps the ones that kill the most mutants."))
    mutants_per_query: int = Field(default=SuiteConfig.mutants_per_query, ge=0, description=(
        "Near-miss mutants drawn per gold query to distill against."))
    timeout_s: float = Field(default=SuiteConfig.timeout_s, gt=0, description=(
        "Wall-clock limit per query while distilling (gold queries get 5x)."))
    seed: int = Field(default=SuiteConfig.seed, description="Seed of the variants and mutants (same seed, same suite).")
    workers: int = Field(default=0, ge=0, description="Worker processes, one database each; 0 uses every core.")
    force: bool = Field(default=False, description="Regenerate even when a stored version was made from the same "
                        "raw_benchmarks, golden_pairs, config and code (it is reused otherwise).")


def suite_jobs(raw_benchmarks: Path, golden_pairs: Path) -> list[tuple[str, Path, list[str], dict | None]]:
    """(db_id, database, gold queries that run on it, schema) for every database with a kept golden pair."""
    golds: dict[str, list[str]] = defaultdict(list)
    for pair in read_jsonl(golden_pairs / "pairs.jsonl"):
        golds[pair["db_id"]].append(pair["gold_sql"])
    schemas = read_json(raw_benchmarks / "schemas.json") if (raw_benchmarks / "schemas.json").is_file() else {}
    return [(db_id, raw_benchmarks / "databases" / f"{db_id}.sqlite", sqls, schemas.get(db_id))
            for db_id, sqls in sorted(golds.items()) if (raw_benchmarks / "databases" / f"{db_id}.sqlite").is_file()]


def unkilled_table(summary: dict, out: Path, limit: int = 20) -> dg.MetadataValue:
    """Markdown: mutants that no database of the suite tells apart from their gold (first `limit`)."""
    cell = lambda s: str(s).replace("|", "\\|").replace("\n", " ")
    lines = ["| database | gold | mutant not killed | told apart by a candidate |", "|---|---|---|---|"]
    for db_id in summary["by_database"]:
        for u in read_json(out / db_id / "report.json")["unkilled"]:
            lines.append(f"| {db_id} | `{cell(u['gold'])}` | `{cell(u['mutant'])}` | {u['killable']} |")
    if len(lines) == 2:
        return dg.MetadataValue.md("every mutant is killed")
    return dg.MetadataValue.md("\n".join(lines[:limit + 2]))


@dg.asset(
    code_version="1",
    group_name="data",
    kinds={"sqlite", "python"},
    description="Distilled test suites (Zhong et al., 2020) for every database with gold queries: variant "
                "databases (sampled and recombined rows, boundary values around the gold constants, duplicates, "
                "NULLs, consistent foreign keys) that kill the most near-miss mutants of the gold queries; "
                "<db_id>/variant-k.sqlite and report.json. eval_report judges predictions on all of them.",
)
def test_suites(context: dg.AssetExecutionContext, config: SuitesConfig, raw_benchmarks: Path, golden_pairs: Path,
                io_manager: dg.ResourceParam[DirectoryIOManager]) -> dg.Output:
    digest = input_hash(context, io_manager, config, upstream=["raw_benchmarks", "golden_pairs"])
    if reused := reuse_stored(context, io_manager, digest, config.force):
        return reused
    out = scratch_dir(context)
    suite_config = SuiteConfig(max_variants=config.max_variants, candidates=config.candidates,
                               mutants_per_query=config.mutants_per_query, timeout_s=config.timeout_s,
                               seed=config.seed)
    summary = generate_suites(suite_jobs(raw_benchmarks, golden_pairs), out, suite_config,
                              workers=config.workers or None, log=log_to(context))
    context.add_output_metadata({
        "databases": summary["databases"],
        "variants": summary["variants"],
        "mutants_generated": summary["mutants_generated"],
        "mutants_killable": summary["mutants_killable"],
        "original_kill_rate": summary["kill_rate_original"],
        "suite_kill_rate": summary["kill_rate_suite"],
        "unkilled_mutants": unkilled_table(summary, out),
        "seconds": summary["seconds"],
    })
    return computed(out, digest)
