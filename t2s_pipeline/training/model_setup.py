"""The model a training run trains: the base loaded in its precision (quantized for QLoRA), then a LoRA adapter
attached, an earlier adapter continued (init_from), or, for full fine-tuning, the chosen parts frozen."""

from __future__ import annotations

import os

from t2s_pipeline.modeling.model_folder import adapter_folder
from t2s_pipeline.training.config import TrainConfig


def load_base_for_training(model_dir: str, cfg: TrainConfig, precision: str, attention: str, cuda: bool,
                           seq2seq: bool = False):
    import torch
    from transformers import AutoModelForCausalLM, AutoModelForSeq2SeqLM

    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}
    kwargs = {"dtype": dtype[precision]}
    if attention != "default":
        kwargs["attn_implementation"] = attention
    if cfg.quantization != "none":
        from transformers import BitsAndBytesConfig

        if cfg.quantization == "4bit-nf4":
            kwargs["quantization_config"] = BitsAndBytesConfig(
                load_in_4bit=True, bnb_4bit_quant_type="nf4",
                bnb_4bit_compute_dtype=dtype[cfg.bnb_4bit_compute_dtype],
                bnb_4bit_use_double_quant=cfg.bnb_4bit_use_double_quant)
            kwargs["dtype"] = dtype[cfg.bnb_4bit_compute_dtype]
        else:
            kwargs["quantization_config"] = BitsAndBytesConfig(load_in_8bit=True)
        if cuda:
            kwargs["device_map"] = {"": int(os.environ.get("LOCAL_RANK", "0"))}
    model = (AutoModelForSeq2SeqLM if seq2seq else AutoModelForCausalLM).from_pretrained(model_dir, **kwargs)
    model.config.use_cache = False
    if cfg.quantization != "none":
        from peft import prepare_model_for_kbit_training

        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=cfg.activation_checkpointing)
    elif cfg.activation_checkpointing and cfg.finetuning == "lora":
        # The base is frozen: without this, checkpointed blocks see inputs that need no grad and LoRA gets none.
        model.enable_input_require_grads()
    return model


def freeze_parts(model, cfg: TrainConfig, seq2seq: bool):
    """Full fine-tuning: keep the encoder and/or the embeddings fixed, as configured."""
    if cfg.freeze_encoder:
        if not seq2seq:
            raise ValueError("freeze_encoder needs an encoder-decoder model (T5); this base is decoder-only")
        embeddings = {id(p) for p in model.get_input_embeddings().parameters()}
        for p in model.get_encoder().parameters():
            if id(p) not in embeddings:  # T5 shares its embeddings with the decoder: freeze_embeddings decides
                p.requires_grad_(False)
    if cfg.freeze_embeddings:
        for module in (model.get_input_embeddings(), model.get_output_embeddings()):
            for p in (module.parameters() if module is not None else []):
                p.requires_grad_(False)
    return model


def attach_adapter(model, cfg: TrainConfig, seq2seq: bool = False):
    from peft import LoraConfig, PeftModel, get_peft_model

    if cfg.finetuning == "full":
        return freeze_parts(model, cfg, seq2seq)
    if cfg.init_from:
        # Stage two: the given adapter's weights, trainable; the optimizer and step count start fresh.
        return PeftModel.from_pretrained(model, str(adapter_folder(cfg.init_from)), is_trainable=True)
    lora = LoraConfig(
        r=cfg.lora_r, lora_alpha=cfg.lora_alpha, lora_dropout=cfg.lora_dropout,
        target_modules=cfg.lora_target_modules, use_dora=cfg.use_dora,
        task_type="SEQ_2_SEQ_LM" if seq2seq else "CAUSAL_LM",
    )
    return get_peft_model(model, lora)
