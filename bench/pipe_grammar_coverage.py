"""How much of the golden pairs' pipe SQL the pipe grammar takes (modeling/sql_grammar.py, `pipe=True`).

    python bench/pipe_grammar_coverage.py [--storage DIR] [--show 10]

Reads a `make demo` run's golden_pairs (pairs.jsonl) and raw_benchmarks (databases) in $T2S_STORAGE (default
./.t2s_storage). Each pair's pipe query (with its question and database: names, linked values, the question's
literals) is tokenized by a byte-level BPE of 2,048 tokens trained on the pairs' texts and fed token by token to
llguidance's matcher, then asked whether the query may end there; in the same run the pairs' SQL under the SQL
grammar, the baseline. Prints how many pass and lists the refused ones.
"""

from __future__ import annotations

import argparse
import os
import sys
import time


def refused(pairs: list[dict], databases, tokenizer, key: str, pipe: bool) -> list[dict]:
    from t2s_pipeline.modeling.generate import stop_token_ids
    from t2s_pipeline.modeling.grammar_decoding import accepts, engine_tokenizer, question_grammar

    engine = engine_tokenizer(tokenizer, stop_token_ids(tokenizer))
    return [p for p in pairs if not accepts(engine, question_grammar(p["question"], databases / f"{p['db_id']}.sqlite",
                                                                      pipe=pipe),
                                            tokenizer.encode(p[key], add_special_tokens=False))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--storage", default=os.environ.get("T2S_STORAGE", ".t2s_storage"))
    parser.add_argument("--show", type=int, default=10, help="refused queries to list")
    args = parser.parse_args()

    from t2s_pipeline.records import read_jsonl
    from t2s_pipeline.resources.storage import current_version_path
    from t2s_pipeline.training.tiny_model import train_tokenizer

    pairs_dir, raw = current_version_path(args.storage, "golden_pairs"), current_version_path(args.storage,
                                                                                                "raw_benchmarks")
    if pairs_dir is None or raw is None:
        sys.exit(f"no stored golden_pairs or raw_benchmarks in {args.storage}: run `make demo` first")
    pairs = [p for p in read_jsonl(pairs_dir / "pairs.jsonl") if p.get("pipe_sql")]
    tokenizer = train_tokenizer([p["pipe_sql"] for p in pairs] + [p["gold_sql"] for p in pairs]
                                + [p["question"] for p in pairs], 2048)
    for key, pipe, name in (("pipe_sql", True, "pipe grammar, pipe SQL"), ("gold_sql", False, "SQL grammar, SQL")):
        start = time.perf_counter()
        bad = refused(pairs, raw / "databases", tokenizer, key, pipe)
        seconds = (time.perf_counter() - start) / len(pairs)
        print(f"{name}: {len(pairs) - len(bad)} of {len(pairs)} golden pairs accepted "
              f"({(len(pairs) - len(bad)) / len(pairs):.1%}); {seconds * 1000:.0f} ms a query")
        for p in bad[:args.show]:
            print(f"  refused [{p['db_id']}] {p['question']}\n      {p[key]!r}")


if __name__ == "__main__":
    main()
