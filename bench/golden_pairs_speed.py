"""Speed of the golden-pairs step on Spider dev against the unavoidable work, measured in one run.

    .venv/bin/python bench/golden_pairs_speed.py [--spider ../shared/benchmarks/spider] [--repeat 5]

The unavoidable work, in a single process: parse each gold query with sqlglot, one sqlglot round
trip (sqlite to sqlite), and execute it twice. Prints both times and their ratio (target <= 1.5).
Run it on a quiet machine: other load on the 2 cores changes the ratio.
"""

import argparse
import sys
import tempfile
from pathlib import Path

from t2s_pipeline.cli import main as t2s

DEFAULT_SPIDER = Path(__file__).resolve().parents[1].parent / "shared" / "benchmarks" / "spider"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spider", default=str(DEFAULT_SPIDER), help="Spider folder with dev.json")
    parser.add_argument("--repeat", type=int, default=5, help="runs of each side; the best times are compared")
    args = parser.parse_args()
    if not Path(args.spider, "dev.json").is_file():
        print(f"Spider dev not found at {args.spider}; pass --spider DIR")
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        return t2s(["golden-pairs", "--benchmark", "spider", "--root", args.spider, "--out", tmp,
                    "--speed", "--repeat", str(args.repeat)])


if __name__ == "__main__":
    sys.exit(main())
