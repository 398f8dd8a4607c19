"""Small helpers shared by the asset modules: where to write, and metadata people can read."""


import hashlib
import json
import shutil
from pathlib import Path

import dagster as dg

from t2s_pipeline.resources.storage import (
    DirectoryIOManager, Reuse, find_version_by_input_hash, read_manifest, resolve_root,
)


def scratch_dir(context: dg.AssetExecutionContext) -> Path:
    """A fresh empty folder for this run's output of this asset; the IO manager publishes it."""
    path = resolve_root("") / ".scratch" / context.run.run_id / context.asset_key.to_user_string()
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


def preview_table(records: list[dict], columns: list[str], n: int = 5, width: int = 80) -> dg.MetadataValue:
    """A markdown table of the first n records, cells cut to `width` characters."""
    def cell(value) -> str:
        text = value if isinstance(value, str) else json.dumps(value)
        text = text.replace("|", "\\|").replace("\n", " ")
        return text if len(text) <= width else text[: width - 1] + "…"

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(r.get(c, "")) for c in columns) + " |" for r in records[:n]]
    return dg.MetadataValue.md("\n".join(lines))


def counts_table(counts: dict, key_name: str = "reason", value_name: str = "count") -> dg.MetadataValue:
    lines = [f"| {key_name} | {value_name} |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in sorted(counts.items(), key=lambda kv: -kv[1])]
    return dg.MetadataValue.md("\n".join(lines) if counts else "none")


def log_to(context: dg.AssetExecutionContext):
    """A print-like callable that sends core progress lines to the Dagster log."""
    return lambda message: context.log.info(message)


# --- incremental preparation: reuse a stored version made from the same inputs ---------------------


def input_hash(context: dg.AssetExecutionContext, io_manager: DirectoryIOManager, config: dg.Config,
               upstream: list[str], sources: dict | None = None) -> str:
    """sha256 of what makes this asset's output: its code version, its config (without `force`), the data
    versions of its upstream assets, and `sources` (content hashes of files read from outside the chain)."""
    key = context.asset_key
    if not isinstance(io_manager, DirectoryIOManager):
        return ""  # another IO manager keeps no manifests: nothing to compare with
    content = {
        "asset": key.to_user_string(),
        "code_version": context.assets_def.code_versions_by_key.get(key),
        "config": {k: v for k, v in config.model_dump(mode="json").items() if k != "force"},
        "upstream": {name: (read_manifest(io_manager.root, name, storage_options=io_manager.storage_options)
                            or {}).get("data_version") for name in upstream},
        "sources": sources or {},
    }
    return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()


def reuse_stored(context: dg.AssetExecutionContext, io_manager: DirectoryIOManager, digest: str,
                 force: bool) -> dg.Output | None:
    """The output that makes the stored version with this input hash current again, or None (compute)."""
    if force or not digest:
        return None
    manifest = find_version_by_input_hash(io_manager.root, context.asset_key.path, digest,
                                          io_manager.storage_options)
    if manifest is None:
        return None
    context.log.info(f"{context.asset_key.to_user_string()}: inputs, config and code unchanged (input hash "
                     f"{digest[:12]}): reusing stored version {manifest['version']}")
    return dg.Output(Reuse(manifest["version"]), metadata={"input_hash": digest, "reused": True,
                                                            "reused_version": manifest["version"]})


def computed(out: Path, digest: str) -> dg.Output:
    """A freshly computed output directory, stored with its input hash so a later run can reuse it."""
    return dg.Output(out, metadata={"input_hash": digest, "reused": False})


def hash_files(paths: list[str | Path]) -> dict[str, str]:
    """{path: sha256 over the relative name and content of every file under it}; missing paths hash as such."""
    out = {}
    for path in map(Path, paths):
        digest = hashlib.sha256()
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path] if path.exists() else []
        for file in files:
            digest.update(file.relative_to(path if path.is_dir() else path.parent).as_posix().encode() + b"\0")
            with open(file, "rb") as f:
                for block in iter(lambda: f.read(1 << 20), b""):
                    digest.update(block)
        out[str(path)] = digest.hexdigest() if files else "missing"
    return out


def rl_was_run(rl_adapter: Path) -> bool:
    """False when the asset passed the SFT adapter through."""
    metrics = rl_adapter / "metrics.json"
    return not metrics.is_file() or json.loads(metrics.read_text()).get("rl_enabled", True)
