"""What the training benchmarks start from: the embedded benchmark's trajectories and the tiny tokenizer."""

from pathlib import Path


def build_samples(work: Path, copies: int = 1, target: str = "both", tool_share: float = 0.2) -> Path:
    """The embedded trajectories in work/trajectories, each split repeated `copies` times."""
    from t2s_pipeline.benchmarks.raw import write_raw_benchmarks
    from t2s_pipeline.benchmarks.sources import load_embedded
    from t2s_pipeline.samples.trajectories import build_trajectories
    from t2s_pipeline.sql.golden import build_golden_pairs

    write_raw_benchmarks([load_embedded(work / "source")], work / "raw")
    build_golden_pairs(work / "raw", work / "pairs")
    build_trajectories(work / "pairs", work / "raw", work / "once", target=target, tool_share=tool_share)
    out = work / "trajectories"
    out.mkdir()
    for split in ("train", "dev", "test"):
        (out / f"{split}.jsonl").write_text((work / "once" / f"{split}.jsonl").read_text() * copies)
    return out


def tiny_tokenizer(work: Path, trajectories: Path) -> Path:
    """The tiny model's tokenizer (trained on the train split, as base_model does), saved in work/tokenizer."""
    from t2s_pipeline.training.base_model import pretraining_documents
    from t2s_pipeline.training.tiny_model import TinyModelConfig, train_tokenizer

    tokenizer = train_tokenizer(pretraining_documents(trajectories), TinyModelConfig().vocab_size)
    tokenizer.save_pretrained(work / "tokenizer")
    return work / "tokenizer"
