"""Merge a LoRA adapter into its base weights, in a chosen dtype, ready to serve without PEFT."""

from __future__ import annotations

import time
from pathlib import Path

DTYPES = ("bf16", "fp16", "fp32")


def merge_adapter(base_model_dir, adapter_dir, out_dir, dtype: str = "fp32", overwrite: bool = False) -> dict:
    """Write a plain Hugging Face model folder. Refuses a non-empty out_dir unless overwrite is set.

    Decoder-only and encoder-decoder bases alike (read from the config). An adapter_dir that holds a whole
    model (full fine-tuning saves one) has nothing to merge: it is saved as the artifact, in the dtype."""
    import torch
    from peft import PeftModel
    from transformers import AutoConfig, AutoModelForCausalLM, AutoModelForSeq2SeqLM, AutoTokenizer

    from t2s_pipeline.modeling.decoding import copy_decoding_default
    from t2s_pipeline.modeling.model_folder import is_full_model

    if dtype not in DTYPES:
        raise ValueError(f"merge dtype must be one of {DTYPES}, got {dtype!r}")
    out_dir = Path(out_dir)
    if out_dir.exists() and any(out_dir.iterdir()) and not overwrite:
        raise FileExistsError(f"merge output {out_dir} already exists and is not empty; set overwrite to replace it")
    start = time.monotonic()
    torch_dtype = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}[dtype]
    # Merge in fp32, then cast: merging in low precision adds rounding twice.
    full = is_full_model(adapter_dir)
    source = adapter_dir if full else base_model_dir
    seq2seq = getattr(AutoConfig.from_pretrained(str(source)), "is_encoder_decoder", False)
    loader = AutoModelForSeq2SeqLM if seq2seq else AutoModelForCausalLM
    merged = loader.from_pretrained(source, dtype=torch.float32)
    if not full:
        merged = PeftModel.from_pretrained(merged, adapter_dir).merge_and_unload()
    merged = merged.to(torch_dtype)
    out_dir.mkdir(parents=True, exist_ok=True)
    merged.save_pretrained(out_dir)
    AutoTokenizer.from_pretrained(adapter_dir).save_pretrained(out_dir)
    copy_decoding_default(base_model_dir, out_dir)  # the merged model decodes as its base does by default
    return {
        "dtype": dtype,
        "merged": "full model saved (full fine-tuning)" if full else "LoRA adapter merged into the base",
        "parameters": sum(p.numel() for p in merged.parameters()),
        "size_mb": round(sum(f.stat().st_size for f in out_dir.iterdir() if f.is_file()) / 1e6, 2),
        "seconds": round(time.monotonic() - start, 1),
    }
