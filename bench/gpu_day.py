"""GPU day: what a session with a lent GPU runs as it is, in under 8 minutes on one H100.

    .venv/bin/python bench/gpu_day.py                   # on a GPU machine: the real shapes, then the chain on CUDA
    .venv/bin/python bench/gpu_day.py --tiny --cpu      # anywhere: small shapes on the CPU (< 1 min; --chain adds
                                                        # the stand-in chain, about 2 more minutes)

No download: each model is a hub-shaped stand-in (t2s_pipeline/modeling/stand_ins.py) at the real width of
Qwen2.5-Coder-1.5B, Qwen2.5-Coder-7B and Qwen3-8B (their config.json sizes, random bf16 weights, the family's
tokenizer kind and chat template), saved to a temporary folder, then loaded the way training loads it (bf16
for LoRA, 4-bit NF4 through bitsandbytes for QLoRA). Training runs padding-free (DataCollatorWithFlattening:
one row, no pad tokens) on random token ids of text-to-SQL-like lengths, LoRA r=32 on every projection,
activation checkpointing on, with flash attention 2 where `flash_attn` is installed (else sdpa). Reported:
tokens/s, model FLOPs utilization (MFU), peak memory. Generation: HF `generate` (batch 32, 128 new tokens,
EOS ignored) and vLLM where installed. Then the chain: the 1.5B stand-in at its real width through
base_model ... merged_model and `t2s ask` on CUDA with the qwen2.5-coder-1.5b-lora preset scaled down by
configs/run/scaled_down.yaml (the data half on the CPU first): each asset's seconds, or the error.

MFU = achieved model FLOPs / the device's peak dense bf16 FLOPs. Model FLOPs per trained token follow PaLM
(6N + 12*L*d*s for full training) times 2/3, since LoRA computes no weight gradients for the frozen base:
4N + 8*L*d*s (N: matmul parameters, L layers, d hidden size, s mean sample length). Recomputation under
activation checkpointing is not counted. The table goes to stdout and to --out (default docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import gc
import json
import platform
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# (label, stand-in family, runs): the real shapes come from modeling/stand_ins.py (the hub configs' sizes).
MODELS = [("Qwen2.5-Coder-1.5B", "qwen2.5-coder-1.5b", ("LoRA bf16", "QLoRA 4-bit", "generate (HF)", "chain")),
          ("Qwen2.5-Coder-7B", "qwen2.5-coder-7b", ("LoRA bf16", "QLoRA 4-bit", "generate (HF)")),
          ("Qwen3-8B", "qwen3-8b", ("QLoRA 4-bit", "generate (HF)"))]
CHAIN_PRESET = "qwen2.5-coder-1.5b-lora"
# At small widths the 7B layout runs the 1.5B one's code again (both Qwen2): --tiny leaves it out to stay fast.
TINY_SKIPS = {"qwen2.5-coder-7b": "--tiny runs one layout per architecture (Qwen2: the 1.5B one)"}
# Peak dense bf16 tensor FLOPs by device name (vendor data sheets, SXM where two forms exist).
PEAK_TFLOPS = {"H200": 989.0, "H100": 989.0, "A100": 312.0, "L40S": 362.0, "A10G": 70.0, "L4": 121.0,
               "RTX 4090": 165.0, "A6000": 155.0}
TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="tiny shapes (seconds on a CPU) instead of the real ones")
    parser.add_argument("--cpu", action="store_true", help="run on the CPU even where a GPU is present")
    parser.add_argument("--chain", action="store_true", help="with --tiny: run the stand-in chain too (it always "
                                                             "runs at the real width)")
    parser.add_argument("--out", default="docs/benchmarks.md", help="markdown file the table is written to")
    parser.add_argument("--steps", type=int, default=None, help="timed training steps per row (default 10; tiny 3)")
    parser.add_argument("--budget-seconds", type=float, default=390, help="skip the remaining rows past this time")
    parser.add_argument("--vllm-child", default=None, help=argparse.SUPPRESS)  # one vLLM measurement, as JSON
    parser.add_argument("--peak-tflops", type=float, default=None, help="the device's peak bf16 TFLOPs (for MFU)")
    args = parser.parse_args()

    if args.vllm_child:
        print("VLLM_RESULT " + json.dumps(vllm_measure(Path(args.vllm_child), args.tiny)))
        return 0
    import torch

    device = "cuda" if torch.cuda.is_available() and not args.cpu else "cpu"
    steps = args.steps or (3 if args.tiny else 10)
    name = torch.cuda.get_device_name(0) if device == "cuda" else platform.processor() or "cpu"
    peak = args.peak_tflops
    if peak is None and device == "cuda":
        peak = next((v for k, v in PEAK_TFLOPS.items() if k in name), None)
    start = time.monotonic()
    rows, labels = [], [f"tiny ({label} layout)" if args.tiny else label for label, _, _ in MODELS]
    with tempfile.TemporaryDirectory() as tmp:
        dirs = {label: Path(tmp) / family for label, (_, family, _) in zip(labels, MODELS)}
        for label, (_, family, runs) in zip(labels, MODELS):
            if args.tiny and family in TINY_SKIPS:
                rows.append({"model": label, "run": "all", "note": f"skipped: {TINY_SKIPS[family]}"})
                continue
            try:
                shape = build(family, dirs[label], device, args.tiny)
            except Exception as error:  # reported as the model's row; the other models still run
                rows.append({"model": label, "run": "build", "note": f"failed: {type(error).__name__}: {error}"})
                continue
            for kind in runs:
                if kind == "chain":
                    measure = lambda: chain_row(dirs[label], Path(tmp) / "chain", args.tiny and not args.chain)
                elif kind == "generate (HF)":
                    measure = lambda: generate_hf(dirs[label], shape, device, args.tiny)
                else:
                    measure = lambda: train_row(dirs[label], shape, kind, device, steps, peak, args.tiny)
                rows.append(run_row(label, kind, start, args.budget_seconds, measure))
            _free(device)
        # vLLM last, each in its own process: its engine keeps GPU memory until that process ends.
        for label in labels:
            if label in {r["model"] for r in rows if r["run"] == "all"}:
                continue
            rows.append(run_row(label, "generate (vLLM)", start, args.budget_seconds,
                                lambda: generate_vllm(dirs[label], device, args.tiny)))
    rows.sort(key=lambda r: labels.index(r["model"]))  # stable: each model's rows together
    table = render(rows, name, device, peak, time.monotonic() - start, args.tiny)
    print(table, end="")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(table)
    return 0


def run_row(model: str, kind: str, start: float, budget: float, measure) -> dict:
    row = {"model": model, "run": kind}
    if time.monotonic() - start > budget:
        return {**row, "note": "skipped: time budget spent"}
    try:
        return {**row, **measure()}
    except SkipRow as skip:
        return {**row, "note": f"skipped: {skip}"}
    except Exception as error:  # a row that fails is reported, the others still run
        return {**row, "note": f"failed: {type(error).__name__}: {str(error)[:400]}".replace("\n", " ")}


class SkipRow(Exception):
    pass


def build(family: str, out: Path, device: str, tiny: bool) -> dict:
    """The family's stand-in (random bf16 weights built on the device: seconds even for 8B), saved as a hub-like
    folder; returns the sizes the FLOPs count needs, read back from its config."""
    from t2s_pipeline.modeling.stand_ins import FAMILIES, build_stand_in

    build_stand_in(family, out, shape=None if tiny else FAMILIES[family].real_shape, device=device)
    config = json.loads((out / "config.json").read_text())
    _free(device)
    return {k: config.get(k) for k in ("hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads",
                                       "num_key_value_heads", "head_dim", "vocab_size")}


MODEL_HALF = ("base_model", "tokenized_splits", "lora_adapter", "rl_adapter", "eval_report", "merged_model")


def chain_row(model_dir: Path, work: Path, skip: bool) -> dict:
    """The stand-in through the chain with CHAIN_PRESET scaled down, on whatever device training and evaluation
    find (a GPU when there is one): the data half, then each model-side asset's seconds, then `t2s ask`."""
    if skip:
        raise SkipRow("--tiny without --chain (t2s_pipeline_tests/test_chain_hub.py runs every preset's chain)")
    import os
    import shutil

    import dagster as dg

    from t2s_pipeline.assets.run_configs import preset_run_config
    from t2s_pipeline.cli.ask import ask
    from t2s_pipeline.definitions import defs
    from t2s_pipeline.resources.storage import current_version_path

    os.environ["T2S_STORAGE"] = str(work)
    began = time.monotonic()
    data = defs.resolve_job_def("data").execute_in_process(
        instance=dg.DagsterInstance.ephemeral(), raise_on_error=False,
        run_config={"ops": {"trajectories": {"config": {"tool_share": 0.1}}}})
    data_seconds = time.monotonic() - began
    result = defs.resolve_job_def("full_chain").execute_in_process(
        run_config=preset_run_config(CHAIN_PRESET, model=str(model_dir), scaled_down=True), raise_on_error=False,
        instance=dg.DagsterInstance.ephemeral(), asset_selection=[dg.AssetKey(k) for k in MODEL_HALF])
    for run in (data, result):
        failed = [e for e in run.all_events if e.event_type_value == "STEP_FAILURE"]
        if failed:
            raise RuntimeError(f"{failed[0].step_key}: {failed[0].event_specific_data.error.message[:400]}")
    seconds = {e.step_key: e.event_specific_data.duration_ms / 1000 for e in result.all_events
               if e.event_type_value == "STEP_SUCCESS"}
    db = next((current_version_path(work, "raw_benchmarks") / "databases").glob("*.sqlite"))
    shutil.copy(db, work / "ask.sqlite")  # ask runs read-only; a copy all the same
    asked = time.monotonic()
    ask(str(current_version_path(work, "merged_model")), str(work / "ask.sqlite"), "How many rows are there?",
        max_new_tokens=16)
    report = json.loads((current_version_path(work, "eval_report") / "report.json").read_text())
    steps = ", ".join(f"{k} {seconds[k]:.0f} s" for k in MODEL_HALF if k in seconds)
    return {"note": f"{CHAIN_PRESET} scaled down: data half {data_seconds:.0f} s, {steps}, ask "
                    f"{time.monotonic() - asked:.1f} s; eval decoding: {report['settings']['decoding']}"}


def load(model_dir: Path, kind: str, device: str, attention: str):
    import torch
    from transformers import AutoModelForCausalLM, BitsAndBytesConfig

    kwargs = {"dtype": torch.bfloat16, "attn_implementation": attention}
    if kind.startswith("QLoRA"):
        try:
            import bitsandbytes  # noqa: F401
        except ImportError as error:
            raise SkipRow("bitsandbytes is not installed") from error
        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_compute_dtype=torch.bfloat16,
            bnb_4bit_use_double_quant=True)
    kwargs["device_map"] = {"": 0 if device == "cuda" else "cpu"}
    return AutoModelForCausalLM.from_pretrained(model_dir, **kwargs)


def attention_for(device: str) -> str:
    if device == "cuda":
        try:
            import flash_attn  # noqa: F401

            return "flash_attention_2"
        except ImportError:
            pass
    return "sdpa"


def sample_lengths(n: int, tiny: bool, rng: random.Random) -> list[int]:
    # Text-to-SQL samples (schema prompt + question + SQL) run about 300-900 tokens with the real tokenizer.
    return [rng.randint(20, 60) if tiny else rng.randint(300, 900) for _ in range(n)]


def packed_batch(lengths: list[int], vocab: int, device: str, rng: random.Random) -> dict:
    """One padding-free row: the samples back to back, positions restarting at each (what
    DataCollatorWithFlattening makes); labels are the inputs, -100 at each sample's first token."""
    import torch

    ids, positions, labels = [], [], []
    for n in lengths:
        sample = [rng.randrange(vocab) for _ in range(n)]
        ids += sample
        positions += list(range(n))
        labels += [-100] + sample[1:]
    as_tensor = lambda values: torch.tensor([values], device=device)  # noqa: E731
    return {"input_ids": as_tensor(ids), "position_ids": as_tensor(positions), "labels": as_tensor(labels)}


def train_row(model_dir: Path, shape: dict, kind: str, device: str, steps: int, peak_tflops, tiny: bool) -> dict:
    import torch
    from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training

    attention = attention_for(device)
    model = load(model_dir, kind, device, attention)
    model.config.use_cache = False
    if kind.startswith("QLoRA"):
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=True)
    else:
        model.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
        model.enable_input_require_grads()
    model = get_peft_model(model, LoraConfig(r=32, lora_alpha=64, lora_dropout=0.0, target_modules=TARGETS,
                                             task_type="CAUSAL_LM"))
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    rng = random.Random(0)
    per_batch = 2 if tiny else 16
    batches = [packed_batch(sample_lengths(per_batch, tiny, rng), shape["vocab_size"], device, rng)
               for _ in range(steps + 2)]
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    tokens, seconds = 0, 0.0
    for i, batch in enumerate(batches):
        _sync(device)
        began = time.perf_counter()
        loss = model(**batch).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        _sync(device)
        if i >= 2:  # the first two steps warm up kernels and allocator
            seconds += time.perf_counter() - began
            tokens += batch["input_ids"].shape[1]
    if not torch.isfinite(loss):
        raise RuntimeError(f"loss is {loss.item()}")
    lengths = [int((b["position_ids"] == 0).sum()) for b in batches]
    mean_len = sum(b["input_ids"].shape[1] for b in batches) / sum(lengths)
    per_second = tokens / seconds
    flops_per_token = 4 * matmul_parameters(shape) + 8 * shape["num_hidden_layers"] * shape["hidden_size"] * mean_len
    row = {"attention": attention, "tokens_per_s": per_second,
           "mfu": per_second * flops_per_token / (peak_tflops * 1e12) if peak_tflops else None,
           "peak_gib": torch.cuda.max_memory_allocated() / 2**30 if device == "cuda" else None,
           "note": f"{per_batch} samples a step (mean {mean_len:.0f} tokens), {steps} timed steps"}
    del model, optimizer, batches
    _free(device)
    return row


def matmul_parameters(shape: dict) -> int:
    """Parameters that take part in a matrix multiply per token: the layers' projections and the LM head."""
    d, f, layers = shape["hidden_size"], shape["intermediate_size"], shape["num_hidden_layers"]
    head_dim = shape.get("head_dim") or d // shape["num_attention_heads"]  # Qwen3 sets it apart from d / heads
    q, kv = shape["num_attention_heads"] * head_dim, shape["num_key_value_heads"] * head_dim
    per_layer = d * q + 2 * d * kv + q * d + 3 * d * f
    return layers * per_layer + d * shape["vocab_size"]


def generation_prompts(vocab: int, tiny: bool) -> list[list[int]]:
    rng = random.Random(1)
    return [[rng.randrange(vocab) for _ in range(n)] for n in sample_lengths(8 if tiny else 32, tiny, rng)]


def generate_hf(model_dir: Path, shape: dict, device: str, tiny: bool) -> dict:
    import torch

    new_tokens = 16 if tiny else 128
    model = load(model_dir, "bf16", device, "sdpa")
    model.config.use_cache = True
    prompts = generation_prompts(shape["vocab_size"], tiny)
    width = max(map(len, prompts))
    # Left padding, as for batched generation of a decoder-only model.
    ids = torch.tensor([[0] * (width - len(p)) + p for p in prompts], device=device)
    mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts], device=device)
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    with torch.no_grad():
        model.generate(input_ids=ids[:2], attention_mask=mask[:2], max_new_tokens=2, do_sample=False)  # warm-up
        _sync(device)
        began = time.perf_counter()
        out = model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=new_tokens,
                             min_new_tokens=new_tokens, do_sample=False, pad_token_id=0)
        _sync(device)
    seconds = time.perf_counter() - began
    generated = (out.shape[1] - width) * len(prompts)
    row = {"attention": "sdpa", "tokens_per_s": generated / seconds,
           "peak_gib": torch.cuda.max_memory_allocated() / 2**30 if device == "cuda" else None,
           "note": f"{len(prompts)} prompts x {new_tokens} new tokens, greedy, one batch"}
    del model
    _free(device)
    return row


def generate_vllm(model_dir: Path, device: str, tiny: bool) -> dict:
    """vLLM in a child process (its engine frees GPU memory only when the process ends)."""
    import importlib.util

    if device != "cuda":
        raise SkipRow("vLLM needs a GPU")
    if importlib.util.find_spec("vllm") is None:
        raise SkipRow("vllm is not installed")
    proc = subprocess.run([sys.executable, __file__, "--vllm-child", str(model_dir), *(["--tiny"] if tiny else [])],
                          capture_output=True, text=True, timeout=300)
    found = [line for line in proc.stdout.splitlines() if line.startswith("VLLM_RESULT ")]
    if proc.returncode != 0 or not found:
        raise RuntimeError(f"vLLM child exited {proc.returncode}: {proc.stderr.strip()[-300:]}")
    return json.loads(found[-1].split(" ", 1)[1])


def vllm_measure(model_dir: Path, tiny: bool) -> dict:
    from vllm import LLM, SamplingParams

    vocab = json.loads((model_dir / "config.json").read_text())["vocab_size"]
    llm = LLM(model=str(model_dir), skip_tokenizer_init=True, dtype="bfloat16", gpu_memory_utilization=0.8,
              max_model_len=2048, seed=0)
    prompts = [{"prompt_token_ids": p} for p in generation_prompts(vocab, tiny)]
    params = SamplingParams(max_tokens=128, min_tokens=128, ignore_eos=True, temperature=0.0, detokenize=False)
    llm.generate(prompts[:2], params)  # warm-up
    began = time.perf_counter()
    outputs = llm.generate(prompts, params)
    seconds = time.perf_counter() - began
    generated = sum(len(o.outputs[0].token_ids) for o in outputs)
    return {"attention": "vLLM", "tokens_per_s": generated / seconds,
            "note": f"{len(prompts)} prompts x 128 new tokens, greedy, continuous batching"}


def render(rows: list[dict], device_name: str, device: str, peak, seconds: float, tiny: bool) -> str:
    import torch
    import transformers

    try:
        import peft

        versions = f"torch {torch.__version__}, transformers {transformers.__version__}, peft {peft.__version__}"
    except ImportError:
        versions = f"torch {torch.__version__}, transformers {transformers.__version__}"
    lines = ["# GPU day (bench/gpu_day.py)", ""]
    if device == "cpu":
        lines += ["**No GPU: this is the CPU run" + (" with tiny shapes" if tiny else "") + ", a check that the "
                  "script works. Its figures say nothing about GPU speed. Run `python bench/gpu_day.py` on a "
                  "GPU machine for the real table.**", ""]
    lines += [f"Device: {device_name} ({device}); peak bf16 {peak or 'unknown'} TFLOPs; {versions}; "
              f"ran in {seconds:.0f} s on {time.strftime('%Y-%m-%d')}.", "",
              "| model | run | attention | tokens/s | MFU | peak GiB | note |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        tps = f"{r['tokens_per_s']:,.0f}" if r.get("tokens_per_s") else ""
        mfu = f"{r['mfu']:.1%}" if r.get("mfu") is not None else ""
        peak_gib = f"{r['peak_gib']:.1f}" if r.get("peak_gib") is not None else ""
        lines.append(f"| {r['model']} | {r['run']} | {r.get('attention', '')} | {tps} | {mfu} | {peak_gib} | "
                     f"{r.get('note', '')} |")
    return "\n".join(lines) + "\n"


def _sync(device: str) -> None:
    if device == "cuda":
        import torch

        torch.cuda.synchronize()


def _free(device: str) -> None:
    gc.collect()
    if device == "cuda":
        import torch

        torch.cuda.empty_cache()


if __name__ == "__main__":
    sys.exit(main())
