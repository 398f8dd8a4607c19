"""PNG plots for the evaluation report: loss curves of the training run, accuracy by difficulty.

matplotlib (Agg backend, no display) is imported inside the functions. Each function returns the
path it wrote, or None when there is nothing to plot.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

COLORS = {"base": "#9aa5b1", "fine_tuned": "#1f77b4", "rl": "#d62728"}
LABELS = {"base": "base", "fine_tuned": "fine-tuned", "rl": "RL"}


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def read_loss_log(path: str | Path) -> tuple[list[tuple[float, float]], list[tuple[float, float]]]:
    """(train, eval) points (step, loss) from a loss_log.jsonl: JSON lines with `step` and `loss` and/or `eval_loss`."""
    train, evals = [], []
    path = Path(path)
    if not path.is_file():
        return train, evals
    for line in path.read_text().splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        step = record.get("step")
        if not isinstance(step, (int, float)):
            continue
        if isinstance(record.get("loss"), (int, float)):
            train.append((step, float(record["loss"])))
        if isinstance(record.get("eval_loss"), (int, float)):
            evals.append((step, float(record["eval_loss"])))
    return train, evals


def plot_loss_curves(loss_log: str | Path, out_png: str | Path, title: str = "LoRA training") -> Path | None:
    """Training and eval loss against the optimizer step."""
    train, evals = read_loss_log(loss_log)
    if not train and not evals:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 3.5), dpi=100)
    if train:
        ax.plot(*zip(*train), label="training loss", color="#1f77b4", linewidth=1.5)
    if evals:
        ax.plot(*zip(*evals), label="eval loss", color="#d62728", marker="o", linewidth=1.5)
    ax.set_xlabel("step")
    ax.set_ylabel("loss (masked cross-entropy)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(out_png, format="png")
    plt.close(fig)
    return Path(out_png)


def plot_accuracy_by_group(report: dict, section: str, out_png: str | Path, title: str) -> Path | None:
    """Grouped bars: execution accuracy of the base, the fine-tuned and (when evaluated) the RL model per group of `section`
    (by_difficulty, by_benchmark), with the question counts under the labels."""
    models = [m for m in ("base", "fine_tuned", "rl") if m in report]
    groups = list(report[models[-1]].get(section, {})) if models else []
    if not groups:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(max(4.0, 1.2 * len(groups) + 2), 3.5), dpi=100)
    width = 0.8 / len(models)
    for k, model in enumerate(models):
        stats = report[model].get(section, {})
        values = [stats.get(g, {}).get("ex", 0.0) for g in groups]
        xs = [i + (k - (len(models) - 1) / 2) * width for i in range(len(groups))]
        bars = ax.bar(xs, values, width, label=LABELS[model], color=COLORS[model])
        ax.bar_label(bars, labels=[f"{v:.2f}" for v in values], fontsize=8)
    ns = [report[models[-1]][section][g]["n"] for g in groups]
    ax.set_xticks(range(len(groups)), [f"{g}\n(n={n})" for g, n in zip(groups, ns)])
    ax.set_ylim(0, 1.1)
    ax.set_ylabel("execution accuracy")
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    fig.savefig(out_png, format="png")
    plt.close(fig)
    return Path(out_png)


def write_plots(report: dict, out_dir: str | Path, loss_log: str | Path | None = None) -> dict[str, Path]:
    """Every plot the report has data for: {name: png path}: loss_curves, accuracy_by_difficulty, and
    accuracy_by_benchmark when there are several benchmarks."""
    out_dir = Path(out_dir)
    written = {}
    if loss_log is not None:
        path = plot_loss_curves(loss_log, out_dir / "loss_curves.png")
        if path:
            written["loss_curves"] = path
    for section, name, title in (("by_difficulty", "accuracy_by_difficulty", "Execution accuracy by difficulty"),
                                 ("by_benchmark", "accuracy_by_benchmark", "Execution accuracy by benchmark")):
        if section == "by_benchmark" and len(report.get("fine_tuned", {}).get(section, {})) < 2:
            continue  # one benchmark: the difficulty plot already says it all
        path = plot_accuracy_by_group(report, section, out_dir / f"{name}.png", title)
        if path:
            written[name] = path
    return written


def markdown_image(png: str | Path, alt: str) -> str:
    """A markdown image with the PNG inlined as a base64 data URI (renders in the Dagster UI)."""
    data = base64.b64encode(Path(png).read_bytes()).decode("ascii")
    return f"![{alt}](data:image/png;base64,{data})"
