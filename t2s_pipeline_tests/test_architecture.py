"""The layout's rules, read from the source: imports point one way (DESIGN.md's "Layout").

Every import in t2s_pipeline/ counts, function-level ones included: an import hidden in a function is still a
dependency a reader (and a refactor) has to know about.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "t2s_pipeline"
CORE = ("benchmarks", "sql", "samples", "modeling", "training", "evaluation")
MAX_LINES = 400


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in PACKAGE.rglob("*.py")}


def _imports(path: Path, modules: dict[str, Path]) -> set[str]:
    """The t2s_pipeline modules (files) that `path` imports, anywhere in the file."""
    found = set()
    package = _module_name(path) if path.name == "__init__.py" else _module_name(path).rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from .x import y
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            # `from pkg import mod` imports the file pkg/mod.py when there is one, else pkg itself
            names = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base for alias in node.names]
        else:
            continue
        found.update(name for name in names if name in modules)
    return found - {_module_name(path)}


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(path, modules) for name, path in modules.items()}


def _subpackage(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one file (Tarjan), each a list of modules."""
    index, low, on_stack, stack, found = {}, {}, set(), [], []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_import_walk_sees_function_level_imports(tmp_path, monkeypatch):
    """The checker itself: an import inside a function is found, as is `from pkg import module`."""
    fake = tmp_path / "t2s_pipeline"
    (fake / "training").mkdir(parents=True)
    (fake / "evaluation").mkdir()
    for name in ("__init__.py", "training/__init__.py", "evaluation/__init__.py", "evaluation/metrics.py"):
        (fake / name).write_text("")
    (fake / "training" / "loop.py").write_text("def f():\n    from t2s_pipeline.evaluation import metrics\n")
    monkeypatch.setitem(globals(), "PACKAGE", fake)
    graph = _graph()
    assert graph["t2s_pipeline.training.loop"] == {"t2s_pipeline.evaluation.metrics"}
    (fake / "evaluation" / "metrics.py").write_text("from t2s_pipeline.training.loop import f\n")
    assert _cycles(_graph()) == [["t2s_pipeline.evaluation.metrics", "t2s_pipeline.training.loop"]]


def test_training_and_evaluation_never_import_each_other():
    crossing = sorted(f"{a} -> {b}" for a, targets in _graph().items() for b in targets
                      if {_subpackage(a), _subpackage(b)} == {"training", "evaluation"})
    assert not crossing, "training and evaluation share what they need through modeling/ or sql/:\n" + "\n".join(crossing)


def test_no_import_cycle_between_files():
    cycles = _cycles(_graph())
    assert not cycles, "import cycles:\n" + "\n".join(" <-> ".join(c) for c in cycles)


def test_core_packages_never_import_dagster_or_the_dagster_layer():
    offenders = []
    for name, path in _modules().items():
        if _subpackage(name) not in CORE:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            mods = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            offenders += [f"{name}: {m}" for m in mods
                          if m.split(".")[0] in ("dagster", "dagster_aws", "dagster_wandb")
                          or m.startswith(("t2s_pipeline.assets", "t2s_pipeline.resources", "t2s_pipeline.definitions"))]
    assert not offenders, "\n".join(offenders)


def test_modeling_imports_neither_training_nor_evaluation():
    up = sorted(f"{a} -> {b}" for a, targets in _graph().items() if _subpackage(a) == "modeling"
                for b in targets if _subpackage(b) in ("training", "evaluation"))
    assert not up, "\n".join(up)


def test_no_file_over_400_lines():
    long = sorted(f"{p.relative_to(PACKAGE.parent)}: {n}" for p in PACKAGE.rglob("*.py")
                  if (n := len(p.read_text().splitlines())) > MAX_LINES)
    assert not long, f"files over {MAX_LINES} lines (split them by what they do):\n" + "\n".join(long)
