"""How much of Spider dev the SQL grammar takes, against the hand rules, and what the engines cost per database.

    python bench/grammar_coverage.py [--spider ../shared/benchmarks/spider] [--tokenizer MODEL_DIR]
                                     [--large-vocab 32000] [--per-db 10] [--show 20]

Each gold query (with its question and database) is tokenized by a real tokenizer and fed token by token to
llguidance's matcher under its question's grammar (modeling/grammar_decoding.py: the database's names, the
question's linked values), then asked whether the query may end there. Prints how many pass and lists the
refused ones; in the same run the hand rules' replay (bench/constraint_coverage.py: modeling/constrained.py)
and a check that linking bites (each gold comparison with a linked value, its literal swapped for one the
question does not state: how many the grammar refuses).

Then per database (19): the grammar's compile time (render + matcher creation) and the mask time per token
over its first --per-db gold queries, for llguidance and, when it is installed, xgrammar (GBNF rendering of the same
grammar, compile_grammar + fill_next_token_bitmask), on the tokenizer given (default: a byte-level BPE of
2048 tokens trained on the dev texts, the demo's tiny size) and on a larger one (`--large-vocab`, trained on
the dev texts and Python's own sources; 0 skips it).
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import sysconfig
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))


def spider_records(spider: Path) -> list[dict]:
    records = json.loads((spider / "dev.json").read_text())
    for r in records:
        r["db_path"] = str(spider / "database" / r["db_id"] / f"{r['db_id']}.sqlite")
    return [r for r in records if Path(r["db_path"]).is_file()]


def train_large_tokenizer(texts: list[str], vocab_size: int):
    """A byte-level BPE with a large vocabulary (for mask timing: masks cost by vocabulary size)."""
    from t2s_pipeline.training.tiny_model import train_tokenizer

    stdlib = Path(sysconfig.get_paths()["stdlib"])
    sources = [p.read_text(errors="ignore") for p in sorted(stdlib.glob("*.py"))[:400]]
    return train_tokenizer(texts + sources, vocab_size)


def grammar_coverage(records: list[dict], tokenizer, literals: bool) -> list[dict]:
    """The records whose gold query the grammar refuses (literals: strings and numbers from the question)."""
    from t2s_pipeline.modeling.generate import stop_token_ids
    from t2s_pipeline.modeling.grammar_decoding import accepts, engine_tokenizer, question_grammar

    engine = engine_tokenizer(tokenizer, stop_token_ids(tokenizer))
    return [r for r in records if not accepts(engine, question_grammar(r["question"], r["db_path"], literals),
                                              tokenizer.encode(r["query"], add_special_tokens=False))]


def linking_bites(records: list[dict], tokenizer) -> tuple[int, int]:
    """Gold comparisons `col = 'v'` with v linked to col: (how many, how many the grammar refuses with v swapped
    for a string the question does not state)."""
    from t2s_pipeline.modeling.grammar_decoding import accepts, database_facts, engine_tokenizer, question_grammar
    from t2s_pipeline.modeling.value_links import linked_values

    engine, tried, refused = engine_tokenizer(tokenizer), 0, 0
    for r in records:
        links = linked_values(r["question"], database_facts(str(Path(r["db_path"]).resolve()))[1])
        m = re.search(r"(\w+)\s*(=|!=)\s*(['\"])([^'\"]*)\3", r["query"])
        if not m or m.group(1).lower() not in links or m.group(4).lower() not in {v.lower() for v in
                                                                                  links[m.group(1).lower()]}:
            continue
        swapped = r["query"][:m.start(4)] + "Zzyzx Qwv" + r["query"][m.end(4):]
        tried += 1
        refused += not accepts(engine, question_grammar(r["question"], r["db_path"]),
                               tokenizer.encode(swapped, add_special_tokens=False))
    return tried, refused


def engine_costs(records: list[dict], tokenizer, label: str, per_db: int) -> None:
    """Per database: compile time and mask time per token, llguidance and (when installed) xgrammar."""
    from t2s_pipeline.modeling.generate import stop_token_ids
    from t2s_pipeline.modeling.grammar_decoding import database_facts, engine_tokenizer, new_matcher
    from t2s_pipeline.modeling.sql_grammar import grammar_text

    try:
        import xgrammar as xgr
        xgr_info = xgr.TokenizerInfo.from_huggingface(tokenizer, vocab_size=len(tokenizer))
    except ImportError:
        xgr = xgr_info = None
    engine = engine_tokenizer(tokenizer, stop_token_ids(tokenizer))
    print(f"\n{label}: vocabulary {len(tokenizer)}; compile = render + matcher creation (llguidance), "
          "render + compile_grammar (xgrammar); mask per token over the database's gold queries")
    print(f"{'database':30} {'timed':>7} {'llg compile ms':>14} {'llg mask ms/token':>17}"
          + (f" {'xgr compile ms':>14} {'xgr mask ms/token':>17}" if xgr else ""))
    by_db: dict[str, list[dict]] = {}
    for r in records:
        by_db.setdefault(r["db_id"], []).append(r)
    totals = {"llg_compile": [], "llg_mask": [], "xgr_compile": [], "xgr_mask": []}
    for db_id, rows in sorted(by_db.items()):
        rows = rows[:per_db]
        tables = database_facts(str(Path(rows[0]["db_path"]).resolve()))[0]
        start = time.perf_counter()
        lark = grammar_text(tables)
        new_matcher(engine, lark)
        llg_compile = time.perf_counter() - start
        tokens, llg_mask = 0, 0.0
        for r in rows:
            matcher = new_matcher(engine, lark)
            for token in tokenizer.encode(r["query"], add_special_tokens=False):
                t0 = time.perf_counter()
                matcher.compute_bitmask()
                llg_mask += time.perf_counter() - t0
                tokens += 1
                if not matcher.consume_token(token):
                    break
        line = f"{db_id:30} {len(rows):7d} {llg_compile * 1000:14.1f} {llg_mask / tokens * 1000:17.3f}"
        totals["llg_compile"].append(llg_compile)
        totals["llg_mask"].append(llg_mask / tokens)
        if xgr:
            start = time.perf_counter()
            compiled = xgr.GrammarCompiler(xgr_info, cache_enabled=False).compile_grammar(
                grammar_text(tables, dialect="gbnf"))
            xgr_compile = time.perf_counter() - start
            bitmask, xgr_mask, xgr_tokens = xgr.allocate_token_bitmask(1, xgr_info.vocab_size), 0.0, 0
            for r in rows:
                matcher = xgr.GrammarMatcher(compiled)
                for token in tokenizer.encode(r["query"], add_special_tokens=False):
                    t0 = time.perf_counter()
                    matcher.fill_next_token_bitmask(bitmask)
                    xgr_mask += time.perf_counter() - t0
                    xgr_tokens += 1
                    if not matcher.accept_token(token):
                        break
            line += f" {xgr_compile * 1000:14.1f} {xgr_mask / xgr_tokens * 1000:17.3f}"
            totals["xgr_compile"].append(xgr_compile)
            totals["xgr_mask"].append(xgr_mask / xgr_tokens)
        print(line)
    for engine_name in ("llg", "xgr"):
        if totals[f"{engine_name}_compile"]:
            print(f"  {engine_name}: median compile {statistics.median(totals[engine_name + '_compile']) * 1000:.1f} ms, "
                  f"median mask {statistics.median(totals[engine_name + '_mask']) * 1000:.3f} ms/token")
    if xgr:
        ratio = statistics.median(totals["xgr_compile"]) / statistics.median(totals["llg_compile"])
        print(f"  xgrammar / llguidance: compile {ratio:.1f}x, mask "
              f"{statistics.median(totals['xgr_mask']) / statistics.median(totals['llg_mask']):.1f}x")


def main() -> None:
    from constraint_coverage import blocked_at

    from t2s_pipeline.modeling.sql_context import sql_contexts
    from t2s_pipeline.training.tiny_model import train_tokenizer

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spider", default="../shared/benchmarks/spider")
    parser.add_argument("--tokenizer", help="a model folder whose tokenizer to use (default: a 2048-token BPE)")
    parser.add_argument("--large-vocab", type=int, default=32000, help="also time on a BPE this large (0: skip)")
    parser.add_argument("--per-db", type=int, default=10, help="gold queries per database to time masks over")
    parser.add_argument("--show", type=int, default=20, help="refused queries to list")
    parser.add_argument("--variants", type=int, default=3, help="grammar variants to replay (1: the default alone)")
    parser.add_argument("--costs", type=int, default=1, help="0: skip the hand rules, linking and engine timings")
    args = parser.parse_args()
    records = spider_records(Path(args.spider))
    texts = [r["query"] for r in records] + [r["question"] for r in records]
    if args.tokenizer:
        from transformers import AutoTokenizer
        tokenizer = AutoTokenizer.from_pretrained(args.tokenizer)
    else:
        tokenizer = train_tokenizer(texts, 2048)

    for literals, name in ((False, "linked values"), (True, "linked values, literals from the question"))[
            :args.variants]:
        start = time.perf_counter()
        refused = grammar_coverage(records, tokenizer, literals)
        seconds = time.perf_counter() - start
        print(f"grammar (llguidance; {name}): {len(records) - len(refused)} of {len(records)} Spider dev gold "
              f"queries accepted ({(len(records) - len(refused)) / len(records):.1%}), {len(refused)} refused; "
              f"{seconds / len(records) * 1000:.0f} ms a query (grammar + matcher + replay)")
        for r in refused[:args.show]:
            print(f"  refused [{r['db_id']}] {r['question']}\n      {r['query']}")
    if not args.costs:
        return
    contexts = sql_contexts([r["question"] for r in records], [r["db_path"] for r in records])
    blocked = sum(blocked_at(c, r["query"]) is not None for c, r in zip(contexts, records))
    print(f"hand rules (modeling/constrained.py, same records): {len(records) - blocked} of {len(records)} "
          f"({(len(records) - blocked) / len(records):.1%})")
    tried, bitten = linking_bites(records, tokenizer)
    print(f"linking bites: of {tried} gold comparisons with a linked value, the grammar refuses {bitten} with the "
          "literal swapped for one the question does not state")

    engine_costs(records, tokenizer, "tokenizer " + (args.tokenizer or "BPE 2048 (the demo's tiny size)"), args.per_db)
    if args.large_vocab:
        engine_costs(records, train_large_tokenizer(texts, args.large_vocab), f"BPE {args.large_vocab}", args.per_db)


if __name__ == "__main__":
    main()
