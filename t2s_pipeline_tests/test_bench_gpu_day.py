"""bench/gpu_day.py runs on a CPU with small shapes in under a minute and writes its table (the issue asks for that
bound; the GPU figures come from running the script on a GPU machine)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "bench" / "gpu_day.py"
MODELS = {"tiny (Qwen2.5-Coder-1.5B layout)": ("LoRA bf16", "QLoRA 4-bit", "generate (HF)"),
          "tiny (Qwen3-8B layout)": ("QLoRA 4-bit", "generate (HF)")}


@pytest.mark.slow
def test_gpu_day_runs_on_the_cpu_with_small_shapes_in_under_a_minute(tmp_path):
    out = tmp_path / "benchmarks.md"
    began = time.monotonic()
    proc = subprocess.run([sys.executable, str(SCRIPT), "--tiny", "--cpu", "--out", str(out)],
                          capture_output=True, text=True, timeout=180, env={**os.environ, "OMP_NUM_THREADS": "2"})
    seconds = time.monotonic() - began
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert seconds < 60, f"took {seconds:.0f} s"
    table = out.read_text()
    assert table == proc.stdout[proc.stdout.index("# GPU day"):]
    assert "No GPU" in table
    rows = [line.split("|")[1:-1] for line in table.splitlines() if line.startswith("| tiny")]
    runs = {(r[0].strip(), r[1].strip()): r for r in rows}
    for model, kinds in MODELS.items():
        for run in kinds:
            tokens_per_s = runs[(model, run)][3].strip().replace(",", "")
            assert float(tokens_per_s) > 0, (model, run, runs[(model, run)])
        assert "skipped: vLLM needs a GPU" in runs[(model, "generate (vLLM)")][6]
    assert "skipped: --tiny without --chain" in runs[("tiny (Qwen2.5-Coder-1.5B layout)", "chain")][6]
    assert "skipped: --tiny runs one layout per architecture" in runs[("tiny (Qwen2.5-Coder-7B layout)", "all")][6]
