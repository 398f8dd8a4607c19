"""Facts about a model folder, read from its files: encoder-decoder or decoder-only, a whole model or an
adapter, and which files hold its weights. Training (checkpoints, merge) and evaluation (loading) ask here."""

from __future__ import annotations

from pathlib import Path

ADAPTER_FILES = ("adapter_config.json", "adapter_model.safetensors", "adapter_model.bin")
# What full fine-tuning saves instead of an adapter (sharded weights come with an index file).
MODEL_FILES = ("config.json", "generation_config.json", "model.safetensors", "model.safetensors.index.json",
               "pytorch_model.bin")


def is_encoder_decoder(model_dir: str | Path) -> bool:
    """Whether the model folder holds an encoder-decoder model (T5, BART...), from its config."""
    from transformers import AutoConfig

    return bool(getattr(AutoConfig.from_pretrained(str(model_dir)), "is_encoder_decoder", False))


def architecture(model_dir: str | Path) -> str:
    return "encoder-decoder" if is_encoder_decoder(model_dir) else "decoder-only"


def is_full_model(folder: str | Path) -> bool:
    """A folder of a whole model (config.json, no adapter_config.json): what full fine-tuning saves."""
    folder = Path(folder)
    return (folder / "config.json").is_file() and not (folder / "adapter_config.json").is_file()


def weight_files(path: str | Path) -> list[Path]:
    """The adapter's or (full fine-tuning) the model's files in a folder."""
    path = Path(path)
    return [p for p in path.iterdir() if p.name in ADAPTER_FILES + MODEL_FILES
            or (p.name.startswith("model-") and p.suffix == ".safetensors")] if path.is_dir() else []


def has_weights(path: str | Path) -> bool:
    """Whether the folder holds a complete adapter (config and weights) or a whole model's config and weights."""
    names = {p.name for p in weight_files(path)}
    adapter = "adapter_config.json" in names and names & {"adapter_model.safetensors", "adapter_model.bin"}
    model = "config.json" in names and (names - {"config.json", "generation_config.json"})
    return bool(adapter or model)


def adapter_folder(path: str | Path) -> Path:
    """An adapter folder, or a lora_adapter artifact (whose adapter/ is taken)."""
    path = Path(path)
    if (path / "adapter" / "adapter_config.json").is_file():
        return path / "adapter"
    if not (path / "adapter_config.json").is_file():
        raise FileNotFoundError(f"init_from: no adapter_config.json in {path} or {path / 'adapter'}")
    return path
