"""The `t2s` command: the pipeline's stages outside the Dagster UI, one module per subcommand."""

from __future__ import annotations

import argparse
import sys

from t2s_pipeline.cli import ask, demo, golden_pairs, serve
from t2s_pipeline.cli import eval as eval_cli

SUBCOMMANDS = [demo, eval_cli, ask, golden_pairs, serve]  # each module has add_parser(subparsers), setting func


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="t2s", description="t2s_pipeline: text-to-SQL fine-tuning as Dagster assets")
    sub = parser.add_subparsers(dest="command", required=True)
    for module in SUBCOMMANDS:
        module.add_parser(sub)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
