"""Read a large Spider-shaped JSON array: our streaming reader against ijson's C backend and json.load.

    .venv/bin/python bench/json_stream_speed.py [--rows 300000] [--spider DIR]

Writes a synthetic array (Spider-like records with a SynSQL-length chain of thought) under /tmp, then
reads it three ways, each best of --repeat: `iter_json_records` (benchmarks/json_stream.py, the loader's
reader), ijson.items with the yajl2_c backend when ijson is installed (it stops at the first broken
record, so it cannot keep the rest as the loader must), and json.load (the whole file in memory: the
floor). With --spider also reads Spider's dev.json each way. Prints seconds, MB/s and the ratios.
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from pathlib import Path

from t2s_pipeline.benchmarks.json_stream import iter_json_records


def write_array(path: Path, rows: int) -> None:
    rng = random.Random(0)
    with open(path, "w", encoding="utf-8") as f:
        f.write("[\n")
        for n in range(rows):
            record = {"db_id": f"db_{n % 50}",
                      "question": f"How many orders over {n} were placed by city {rng.random()}?",
                      "query": f"SELECT city, COUNT(*) FROM orders WHERE amount > {n} GROUP BY city ORDER BY 2 DESC",
                      "difficulty": "moderate", "cot": "Let me think step by step. " * rng.randint(20, 100),
                      "score": rng.random()}
            f.write(("," if n else "") + json.dumps(record, indent=2) + "\n")
        f.write("]\n")


def read_ours(path: Path) -> int:
    return sum(1 for _ in iter_json_records(path))


def read_ijson(path: Path) -> int:
    import ijson

    with open(path, "rb") as f:
        return sum(1 for _ in ijson.items(f, "item", use_float=True))


def read_json_load(path: Path) -> int:
    with open(path, encoding="utf-8") as f:
        return len(json.load(f))


def best(fn, path: Path, repeat: int) -> tuple[float, int]:
    times, n = [], 0
    for _ in range(repeat):
        start = time.perf_counter()
        n = fn(path)
        times.append(time.perf_counter() - start)
    return min(times), n


def compare(path: Path, repeat: int) -> None:
    mb = path.stat().st_size / 1e6
    readers = {"iter_json_records": read_ours, "json.load": read_json_load}
    try:
        import ijson

        readers["ijson." + ijson.backend] = read_ijson
    except ImportError:
        print("ijson not installed: not measured")
    results = {name: best(fn, path, repeat) for name, fn in readers.items()}
    ours = results["iter_json_records"][0]
    print(f"{path} ({mb:.1f} MB), best of {repeat}:")
    for name, (seconds, n) in results.items():
        print(f"  {name:20s} {seconds:7.3f} s  {mb / seconds:7.1f} MB/s  {n} records  ours/this {ours / seconds:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=300_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--spider", help="a Spider folder: also read its dev.json")
    args = parser.parse_args()
    if args.spider:
        compare(Path(args.spider) / "dev.json", args.repeat)
    with tempfile.TemporaryDirectory(prefix="t2s-json-") as tmp:
        path = Path(tmp) / "data.json"
        write_array(path, args.rows)
        compare(path, args.repeat)


if __name__ == "__main__":
    main()
