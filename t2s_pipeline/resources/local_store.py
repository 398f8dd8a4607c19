"""The artifact store in a local folder: versions published by a rename, so a reader sees the whole version
or the previous one (the layout: storage.py)."""

from __future__ import annotations

import contextlib
import json
import os
import time
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path

from t2s_pipeline.resources.store_layout import (
    CURRENT_FILE,
    MANIFEST_DIR,
    STAGING_PREFIX,
    STALE_STAGING_SECONDS,
    ManifestMissingError,
    asset_folder,
    build_manifest,
    copy_tree,
    manifest_path,
    move_or_copy,
    read_text,
    remove_if_empty,
    remove_tree,
    write_text_atomic,
)


class LocalStore:
    """Artifacts under a local folder."""

    remote = False

    def __init__(self, root: Path):
        self.root = Path(root)

    def read_manifest(self, key: list[str], version_id: str | None = None) -> dict | None:
        folder = asset_folder(self.root, key)
        version_id = version_id or read_text(folder / CURRENT_FILE)
        text = read_text(manifest_path(folder, version_id)) if version_id else None
        return json.loads(text) if text else None

    def publish(self, key: list[str], source: Path, run_id: str, keep_versions: int,
                code_version: str | None, upstream: Mapping[str, Mapping[str, str]] | None,
                lineage: Mapping[str, Mapping[str, str]] | None = None,
                input_hash: str | None = None) -> tuple[str, dict]:
        version_dir = publish_directory(self.root, key, source, run_id, keep_versions, code_version, upstream,
                                        lineage, input_hash)
        return str(version_dir), self.read_manifest(key, version_dir.name)

    def make_current(self, key: list[str], version_id: str) -> None:
        write_text_atomic(asset_folder(self.root, key) / CURRENT_FILE, version_id)

    def list_manifests(self, key: list[str]) -> list[dict]:
        folder = asset_folder(self.root, key) / MANIFEST_DIR
        return [json.loads(p.read_text()) for p in folder.glob("*.json")] if folder.is_dir() else []

    def version_location(self, key: list[str], version_id: str) -> str:
        return str(asset_folder(self.root, key) / "versions" / version_id)

    def fetch_current(self, key: list[str], local_root: Path | None = None) -> Path | None:
        """The current version's folder (in place: nothing is copied); None if it was never stored."""
        folder = asset_folder(self.root, key)
        version_id = read_text(folder / CURRENT_FILE)
        if not version_id:
            return None
        version_dir = folder / "versions" / version_id
        if not version_dir.is_dir():
            return None  # CURRENT without its version: none
        if not manifest_path(folder, version_id).is_file():
            raise ManifestMissingError(
                f"asset '{'/'.join(key)}' version {version_id} has no manifest: it is incomplete and is not read")
        return version_dir

    def fetch(self, key: list[str], version_id: str, local_root: Path | None = None) -> Path | None:
        folder = asset_folder(self.root, key) / "versions" / version_id
        return folder if folder.is_dir() and manifest_path(asset_folder(self.root, key), version_id).is_file() else None


def publish_directory(
    root: Path, key: Sequence[str], source: Path, run_id: str, keep_versions: int = 3,
    code_version: str | None = None, upstream: Mapping[str, Mapping[str, str]] | None = None,
    lineage: Mapping[str, Mapping[str, str]] | None = None, input_hash: str | None = None,
) -> Path:
    """Store `source` as a new version of `key` and make it current; returns the version dir."""
    asset_dir = asset_folder(root, key)
    versions = asset_dir / "versions"
    versions.mkdir(parents=True, exist_ok=True)
    (asset_dir / MANIFEST_DIR).mkdir(exist_ok=True)
    staging = asset_dir / f"{STAGING_PREFIX}{uuid.uuid4().hex}"
    scratch = root / ".scratch"
    if source.resolve().is_relative_to(scratch.resolve()):
        move_or_copy(source, staging)  # scratch output is ours to take: a rename is instant
        remove_if_empty(source.parent)
    else:
        copy_tree(source, staging)
    version_id = _new_version_id(versions, run_id)
    manifest = build_manifest(staging, key, version_id, run_id, code_version, upstream, lineage, input_hash)
    os.utime(staging)  # mtime orders versions made within the same second
    os.rename(staging, versions / version_id)
    write_text_atomic(manifest_path(asset_dir, version_id), json.dumps(manifest, indent=1))  # after the files
    write_text_atomic(asset_dir / CURRENT_FILE, version_id)  # the commit point
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
            remove_tree(old)
            with contextlib.suppress(FileNotFoundError):
                manifest_path(asset_dir, old.name).unlink()
    cutoff = time.time() - STALE_STAGING_SECONDS
    for staging in asset_dir.glob(f"{STAGING_PREFIX}*"):
        if staging.stat().st_mtime < cutoff:  # younger ones may belong to a live run
            remove_tree(staging)
