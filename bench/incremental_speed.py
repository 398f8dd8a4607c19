"""Re-materializing the data half with nothing changed, against its first run, in one run.

    .venv/bin/python bench/incremental_speed.py [--synsql-rows 20000] [--spider ../shared/benchmarks/spider]

Sources: the embedded benchmark, Spider dev when present, and a synthetic SynSQL-format set of
--synsql-rows rows (bench/synsql_load.py's generator). The data half (raw_benchmarks, golden_pairs,
trajectories) is materialized into a fresh store, then again with nothing changed: each asset
finds the stored version made from the same inputs (content hash of the source files, config,
code version, upstream data versions) and reuses it. Target: the second run < 10% of the first.
"""

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from synsql_load import write_data_json, write_databases

DEFAULT_SPIDER = Path(__file__).resolve().parents[1].parent / "shared" / "benchmarks" / "spider"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--synsql-rows", type=int, default=20_000, help="rows of the synthetic SynSQL source (0: none)")
    parser.add_argument("--spider", default=str(DEFAULT_SPIDER), help="Spider folder (used when it has dev.json)")
    args = parser.parse_args()

    import dagster as dg

    from t2s_pipeline.assets.golden_pairs import golden_pairs
    from t2s_pipeline.assets.raw_benchmarks import raw_benchmarks
    from t2s_pipeline.assets.trajectories import trajectories
    from t2s_pipeline.resources.storage import DirectoryIOManager, current_version_path

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        sources = [{"kind": "embedded"}]
        if Path(args.spider, "dev.json").is_file():
            sources.append({"kind": "spider", "path": args.spider, "splits": {"dev": "dev"}})
        if args.synsql_rows:
            synsql = work / "synsql"
            db_ids = [f"shop_{i}" for i in range(4)]
            write_databases(synsql, db_ids)
            write_data_json(synsql / "data.json", args.synsql_rows, db_ids)
            sources.append({"kind": "synsql", "path": str(synsql)})
        config = {"ops": {"raw_benchmarks": {"config": {"embedded": False, "sources": sources}}}}
        instance = dg.DagsterInstance.ephemeral()
        resources = {"io_manager": DirectoryIOManager(root=str(work / "store"))}

        times, reused = [], []
        for _ in range(2):
            start = time.perf_counter()
            result = dg.materialize([raw_benchmarks, golden_pairs, trajectories], resources=resources,
                                    run_config=config, instance=instance, raise_on_error=True)
            times.append(time.perf_counter() - start)
            reused.append({name: result.asset_materializations_for_node(name)[0].metadata["reused"].value
                           for name in ("raw_benchmarks", "golden_pairs", "trajectories")})
        raw = json.loads((current_version_path(work / "store", "raw_benchmarks") / "stats.json").read_text())
        source_mb = sum(f.stat().st_size for s in sources if s.get("path")
                        for f in Path(s["path"]).rglob("*") if f.is_file()) / 1e6
        print(f"sources: {', '.join(s['kind'] for s in sources)} ({source_mb:.0f} MB of files hashed on each run); "
              f"{raw['kept']} examples kept of {raw['input']}")
        print(f"first run:  {times[0]:.2f} s (reused: {reused[0]})")
        print(f"second run: {times[1]:.2f} s (reused: {reused[1]})")
        print(f"second / first: {times[1] / times[0]:.1%} (target < 10%)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
