"""Merge a LoRA adapter into its base weights, in a chosen dtype, ready to serve without PEFT."""

from __future__ import annotations

import time
from pathlib import Path

DTYPES = ("bf16", "fp16", "fp32")


def merge_adapter(base_model_dir, adapter_dir, out_dir, dtype: str = "fp32", overwrite: bool = False) -> dict:
    """Write a plain Hugging Face model folder. Refuses a non-empty out_dir unless overwrite is set."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if dtype not in DTYPES:
        raise ValueError(f"merge dtype must be one of {DTYPES}, got {dtype!r}")
    out_dir = Path(out_dir)
    if out_dir.exists() and any(out_dir.iterdir()) and not overwrite:
        raise FileExistsError(f"merge output {out_dir} already exists and is not empty; set overwrite to replace it")
    start = time.monotonic()
    torch_dtype = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}[dtype]
    # Merge in fp32, then cast: merging in low precision adds rounding twice.
    base = AutoModelForCausalLM.from_pretrained(base_model_dir, dtype=torch.float32)
    merged = PeftModel.from_pretrained(base, adapter_dir).merge_and_unload()
    merged = merged.to(torch_dtype)
    out_dir.mkdir(parents=True, exist_ok=True)
    merged.save_pretrained(out_dir)
    AutoTokenizer.from_pretrained(adapter_dir).save_pretrained(out_dir)
    return {
        "dtype": dtype,
        "parameters": sum(p.numel() for p in merged.parameters()),
        "size_mb": round(sum(f.stat().st_size for f in out_dir.iterdir() if f.is_file()) / 1e6, 2),
        "seconds": round(time.monotonic() - start, 1),
    }
