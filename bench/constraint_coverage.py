"""What the constrained decoding cannot write: Spider dev gold queries replayed through its rules.

    python bench/constraint_coverage.py [--spider ../shared/benchmarks/spider] [--show 10]

Each gold query is cut into pieces as a tokenizer would (a word with its leading space, a quote, a
punctuation mark) and fed to modeling/constrained.py's QueryState one piece at a time, with the
question and the database's schema and text values (value linking), then asked whether it may end.
Prints how many gold queries pass, how many the rules block and at which piece, by rule (a string, a
number, a word, the end), against the same replay with value linking off (the baseline, in the same run).
"""

from __future__ import annotations

import argparse
import json
import re
import time
from collections import Counter
from pathlib import Path

PIECES = re.compile(r" ?\w+|'|\s+|[^\w\s']")


def blocked_at(context, sql: str) -> tuple[str, str] | None:
    """(the rule's mode, the text up to the blocked piece) where the rules refuse the gold, else None."""
    from t2s_pipeline.modeling.constrained import QueryState

    text = ""
    for piece in PIECES.findall(sql.strip()):
        state = QueryState.read(text, context.tables)
        argmax_is_number = piece.lstrip(" ")[:1].isdigit()
        if not state.allows(context, piece, argmax_is_number):
            return state.mode, text + "[" + piece + "]"
        text += piece
    state = QueryState.read(text, context.tables)
    return None if state.may_end(context) else ("end", text)


def main() -> None:
    from t2s_pipeline.modeling.sql_context import SqlContext, sql_contexts

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spider", default="../shared/benchmarks/spider")
    parser.add_argument("--show", type=int, default=10, help="blocked examples to print")
    args = parser.parse_args()
    spider = Path(args.spider)
    records = json.loads((spider / "dev.json").read_text())
    dbs = [spider / "database" / r["db_id"] / f"{r['db_id']}.sqlite" for r in records]
    keep = [k for k, db in enumerate(dbs) if db.is_file()]
    start = time.monotonic()
    linked = sql_contexts([records[k]["question"] for k in keep], [dbs[k] for k in keep])
    plain = [SqlContext(c.question, c.tables) for c in linked]  # the baseline: no values read
    seconds = time.monotonic() - start
    runs = {}
    for name, contexts in (("without value linking", plain), ("with value linking", linked)):
        runs[name] = [blocked_at(c, records[k]["query"]) for c, k in zip(contexts, keep)]
        blocked = [r for r in runs[name] if r is not None]
        print(f"{name}: {len(keep) - len(blocked)} of {len(keep)} gold queries can be written, "
              f"{len(blocked)} blocked; by rule: {dict(Counter(r[0] for r in blocked))}")
    shown = [(records[k], b, a) for k, b, a in zip(keep, *runs.values()) if a is not None]
    shown.sort(key=lambda x: x[1] is not None)  # first those only value linking blocks
    for record, before, (mode, where) in shown[:args.show]:
        print(f"  [{mode}{'' if before else ', value linking'}] {record['question']}\n      {where}")
    print(f"{len(records) - len(keep)} records without their database skipped; contexts read in {seconds:.1f} s")


if __name__ == "__main__":
    main()
