"""Directory artifacts, stored atomically: one IO manager for every asset of the chain.

Layout under the storage root:
    <root>/<asset key>/versions/<YYYYmmddTHHMMSS>-<run_id[:8]>/...   complete versions
    <root>/<asset key>/CURRENT                                        the current version id
    <root>/<asset key>/.staging-<uuid>/                               a version being written
    <root>/.scratch/<run_id>/<asset>/                                 where asset bodies write

A version becomes visible only when CURRENT is replaced, so a crash at any point leaves the
previous version current. Filesystem calls sit in a few small helpers below so a UPath (s3://)
variant can replace them later.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import time
import uuid
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path

import dagster as dg
from pydantic import Field

CURRENT_FILE = "CURRENT"
STAGING_PREFIX = ".staging-"
STALE_STAGING_SECONDS = 3600


def resolve_root(root: str | os.PathLike = "") -> Path:
    """The storage root: `root`, else $T2S_STORAGE, else ./.t2s_storage (absolute)."""
    chosen = str(root) or os.environ.get("T2S_STORAGE") or ".t2s_storage"
    if "://" in chosen:
        raise ValueError(f"remote storage {chosen!r} is not supported yet: use a local path")
    return Path(chosen).expanduser().absolute()


def _asset_dir(root: Path, key: str | Sequence[str]) -> Path:
    parts = key.split("/") if isinstance(key, str) else list(key)
    return root.joinpath(*parts)


def current_version_path(root: str | os.PathLike, asset_name: str | Sequence[str]) -> Path | None:
    """The directory of the asset's current version, or None if it was never stored."""
    asset_dir = _asset_dir(resolve_root(root), asset_name)
    version_id = _read_text(asset_dir / CURRENT_FILE)
    if not version_id:
        return None
    version_dir = asset_dir / "versions" / version_id
    return version_dir if version_dir.is_dir() else None  # CURRENT without its version: none


def publish_directory(
    root: Path, key: Sequence[str], source: Path, run_id: str, keep_versions: int = 3
) -> Path:
    """Store `source` as a new version of `key` and make it current; returns the version dir."""
    asset_dir = _asset_dir(root, key)
    versions = asset_dir / "versions"
    versions.mkdir(parents=True, exist_ok=True)
    staging = asset_dir / f"{STAGING_PREFIX}{uuid.uuid4().hex}"
    scratch = root / ".scratch"
    if source.resolve().is_relative_to(scratch.resolve()):
        _move_or_copy(source, staging)  # scratch output is ours to take: a rename is instant
        _remove_if_empty(source.parent)
    else:
        _copy_tree(source, staging)
    version_id = _new_version_id(versions, run_id)
    os.utime(staging)  # mtime orders versions made within the same second
    os.rename(staging, versions / version_id)
    _write_text_atomic(asset_dir / CURRENT_FILE, version_id)  # the commit point
    _prune(asset_dir, version_id, keep_versions)
    return versions / version_id


def _new_version_id(versions: Path, run_id: str) -> str:
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S")
    version_id, n = f"{stamp}-{run_id[:8]}", 1
    while (versions / version_id).exists():  # same run, same second: keep ids unique
        n += 1
        version_id = f"{stamp}-{run_id[:8]}-{n}"
    return version_id


def _prune(asset_dir: Path, current_id: str, keep_versions: int) -> None:
    """Drop versions beyond keep_versions (never the current one) and stale staging dirs."""
    by_age = sorted(
        (p for p in (asset_dir / "versions").iterdir() if p.is_dir()),
        key=lambda p: (p.name[:15], p.stat().st_mtime_ns),
        reverse=True,
    )
    for old in by_age[max(keep_versions, 1):]:
        if old.name != current_id:
            _remove_tree(old)
    cutoff = time.time() - STALE_STAGING_SECONDS
    for staging in asset_dir.glob(f"{STAGING_PREFIX}*"):
        if staging.stat().st_mtime < cutoff:  # younger ones may belong to a live run
            _remove_tree(staging)


# --- filesystem operations (local paths; a UPath variant replaces these) ---------------------


def _copy_file(src: str, dst: str) -> None:
    shutil.copy2(src, dst)


def _copy_tree(src: Path, dst: Path) -> None:
    # Follow symlinks so a stored artifact never points into a cache outside the storage.
    shutil.copytree(src, dst, copy_function=lambda s, d: _copy_file(s, d))


def _move_or_copy(src: Path, dst: Path) -> None:
    try:
        os.rename(src, dst)
    except OSError:  # another filesystem (a mount under .scratch): fall back to a copy
        _copy_tree(src, dst)
        _remove_tree(src)


def _remove_tree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


def _remove_if_empty(path: Path) -> None:
    with contextlib.suppress(OSError):
        path.rmdir()


def _read_text(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        return None


def _write_text_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    tmp.write_text(text + "\n")
    os.replace(tmp, path)


def _count_files(path: Path) -> tuple[int, int]:
    files = [f for f in path.rglob("*") if f.is_file()]
    return len(files), sum(f.stat().st_size for f in files)


# --- the Dagster IO manager ---------------------------------------------------------------------


class DirectoryIOManager(dg.ConfigurableIOManager):
    """Stores each asset's output directory as a versioned artifact; inputs load as a Path."""

    root: str = Field(
        default="",
        description="Folder that holds every artifact (local path). Empty: $T2S_STORAGE if set, "
        "else .t2s_storage under the current working directory.",
    )
    keep_versions: int = Field(
        default=3, description="Versions kept per asset; older ones are pruned (never the current one)."
    )

    @property
    def root_path(self) -> Path:
        return resolve_root(self.root)

    def scratch_dir(self, asset_name: str, run_id: str) -> Path:
        """A fresh empty folder for an asset body to write its output into."""
        path = self.root_path / ".scratch" / run_id / asset_name
        _remove_tree(path)
        path.mkdir(parents=True)
        return path

    def handle_output(self, context: dg.OutputContext, obj: object) -> None:
        key = context.asset_key.path if context.has_asset_key else [context.step_key, context.name]
        name = "/".join(key)
        if not isinstance(obj, (str, os.PathLike)):
            raise TypeError(f"asset '{name}' must return a directory Path, got {type(obj).__name__}")
        source = Path(obj)
        if not source.is_dir():
            raise FileNotFoundError(f"asset '{name}' returned {source}, which is not an existing directory")
        version_dir = publish_directory(self.root_path, key, source, context.run_id, self.keep_versions)
        n_files, n_bytes = _count_files(version_dir)
        context.add_output_metadata(
            {
                "path": dg.MetadataValue.path(str(version_dir)),
                "version": version_dir.name,
                "files": n_files,
                "size_mb": round(n_bytes / 1e6, 3),
            }
        )

    def load_input(self, context: dg.InputContext) -> Path:
        if context.has_asset_key:
            key = context.asset_key.path
        elif context.upstream_output is not None and context.upstream_output.has_asset_key:
            key = context.upstream_output.asset_key.path
        else:
            raise dg.DagsterInvariantViolationError("DirectoryIOManager loads asset inputs only")
        path = current_version_path(self.root_path, key)
        if path is None:
            raise FileNotFoundError(
                f"no stored artifact for asset '{'/'.join(key)}' under {self.root_path}; "
                "materialize it first"
            )
        return path
