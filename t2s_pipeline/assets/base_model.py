"""base_model: the model to fine-tune and its tokenizer, with a chat template that marks assistant turns."""


from pathlib import Path
from typing import Optional

import dagster as dg
from pydantic import Field

from t2s_pipeline.assets.common import computed, hash_files, input_hash, log_to, reuse_stored, scratch_dir
from t2s_pipeline.resources.storage import DirectoryIOManager
from t2s_pipeline.training.base_model import prepare_base_model
from t2s_pipeline.training.tiny_model import TinyModelConfig
from t2s_pipeline.training.tiny_t5 import TinyT5Config


class BaseModelConfig(dg.Config):
    model: str = Field(
        default="tiny",
        description="'tiny' builds the embedded default (a decoder-only Llama) here; 'tiny-t5' builds a tiny "
                    "encoder-decoder T5 here; else a local model folder or a hub id such as "
                    "Qwen/Qwen2.5-Coder-1.5B-Instruct or t5-small (downloaded at run time). Encoder-decoder "
                    "models are detected from the model's config (is_encoder_decoder).")
    tiny_pretrain_steps: Optional[int] = Field(
        default=None, description="Pretraining steps of the tiny base on the train texts (unmasked language "
        f"modelling for 'tiny', default {TinyModelConfig.pretrain_steps}; question -> SQL, span corruption and "
        f"prefix LM for 'tiny-t5', default {TinyT5Config.pretrain_steps}).")
    tiny_seed: int = Field(default=0, description="Seed of the tiny model's weights and pretraining order.")
    tiny_t5_packed: bool = Field(default=TinyT5Config.pretrain_packed, description="'tiny-t5' only: pretrain on "
                                 "packed rows (several documents per encoder and decoder row, each example masked to "
                                 "itself; bench/t5_pretrain_packing.py) instead of padded batches of 32 documents "
                                 "(docs/t5.md: the recipe runs).")
    force: bool = Field(default=False, description="Rebuild (or download again) even when a stored version was "
                        "made from the same model, trajectories, config and code (it is reused otherwise; a "
                        "local model folder is compared by the sha256 of its files).")


@dg.asset(
    code_version="4",
    group_name="training",
    kinds={"pytorch", "huggingface"},
    description="The base model folder: the tiny default (a Llama built from a config, a BPE tokenizer trained "
                "on the train texts, briefly pretrained), the tiny T5 (encoder-decoder, pretrained on question -> SQL "
                "pairs, span corruption and prefix LM) or a local folder / hub model, decoder-only or encoder-decoder.",
)
def base_model(context: dg.AssetExecutionContext, config: BaseModelConfig, trajectories: Path,
               io_manager: dg.ResourceParam[DirectoryIOManager]) -> dg.Output:
    local = Path(config.model).expanduser()
    digest = input_hash(context, io_manager, config, upstream=["trajectories"],
                        sources=hash_files([local]) if local.is_dir() else None)
    if reused := reuse_stored(context, io_manager, digest, config.force):
        return reused
    out = scratch_dir(context)
    steps = config.tiny_pretrain_steps
    tiny = TinyModelConfig(pretrain_steps=TinyModelConfig.pretrain_steps if steps is None else steps,
                           seed=config.tiny_seed)
    tiny_t5 = TinyT5Config(pretrain_steps=TinyT5Config.pretrain_steps if steps is None else steps,
                           seed=config.tiny_seed, pretrain_packed=config.tiny_t5_packed)
    stats = prepare_base_model(config.model, trajectories, out, tiny, log=log_to(context), tiny_t5=tiny_t5)
    context.add_output_metadata({
        k: (dg.MetadataValue.json(v) if isinstance(v, (dict, list)) else v) for k, v in stats.items() if v is not None
    })
    return computed(out, digest)
