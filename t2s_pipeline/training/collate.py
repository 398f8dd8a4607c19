"""How samples become batches: padded to the longest (labels padded with -100), one flattened row
(padding-free), or inputs and labels padded apart for an encoder-decoder model."""

from __future__ import annotations

from t2s_pipeline.modeling.tokenize import IGNORE_INDEX


def pad_collator(pad_token_id: int):
    """Pad a batch to its longest sample; labels padded with -100 so padding is never learned."""
    import torch

    def collate(features):
        width = max(len(f["input_ids"]) for f in features)
        batch = {"input_ids": [], "attention_mask": [], "labels": []}
        for f in features:
            pad = width - len(f["input_ids"])
            batch["input_ids"].append(list(f["input_ids"]) + [pad_token_id] * pad)
            batch["attention_mask"].append(list(f["attention_mask"]) + [0] * pad)
            batch["labels"].append(list(f["labels"]) + [IGNORE_INDEX] * pad)
        return {k: torch.tensor(v) for k, v in batch.items()}

    return collate


def collator_for(batching: str, seq2seq: bool, tokenizer, model):
    """The collator for the model family and the configured batching."""
    if seq2seq:  # pads inputs and labels apart; makes decoder_input_ids from the labels
        from transformers import DataCollatorForSeq2Seq

        return DataCollatorForSeq2Seq(tokenizer, model=model, label_pad_token_id=IGNORE_INDEX)
    if batching == "padding_free":
        from transformers import DataCollatorWithFlattening

        return DataCollatorWithFlattening(return_position_ids=True, separator_id=IGNORE_INDEX)
    return pad_collator(tokenizer.pad_token_id)
