"""The artifact store under an s3:// URL (universal-pathlib over s3fs): each file uploaded under the new
version's own prefix, which nothing reads until its manifest and then CURRENT are written; readers download
a version into a fresh local folder, check it against the manifest, then rename it into place."""

from __future__ import annotations

import contextlib
import json
import os
import uuid
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path

from t2s_pipeline.resources.store_layout import (
    CURRENT_FILE,
    MANIFEST_DIR,
    STAGING_PREFIX,
    ManifestMissingError,
    asset_folder,
    build_manifest,
    remove_tree,
    sha256_file,
)


class S3Store:
    """The same layout under an s3:// URL; every call opens a fresh filesystem (no stale listing cache)."""

    def __init__(self, url: str, storage_options: Mapping[str, object] | None = None):
        from upath import UPath

        self.url = url
        self.root = UPath(url, skip_instance_cache=True, use_listings_cache=False, **(storage_options or {}))
        self.fs = self.root.fs

    remote = True

    def _path(self, *parts: str) -> str:
        return str(self.root.joinpath(*parts).path)

    def _read(self, *parts: str) -> str | None:
        try:
            return self.fs.cat_file(self._path(*parts)).decode().strip()
        except FileNotFoundError:
            return None

    def _write(self, text: str, *parts: str) -> None:
        self.fs.pipe_file(self._path(*parts), (text + "\n").encode())

    def read_manifest(self, key: list[str], version_id: str | None = None) -> dict | None:
        version_id = version_id or self._read(*key, CURRENT_FILE)
        text = self._read(*key, MANIFEST_DIR, f"{version_id}.json") if version_id else None
        return json.loads(text) if text else None

    def publish(self, key: list[str], source: Path, run_id: str, keep_versions: int,
                code_version: str | None, upstream: Mapping[str, Mapping[str, str]] | None,
                lineage: Mapping[str, Mapping[str, str]] | None = None,
                input_hash: str | None = None) -> tuple[str, dict]:
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S")
        version_id = f"{stamp}-{run_id[:8]}-{uuid.uuid4().hex[:6]}"
        manifest = build_manifest(source, key, version_id, run_id, code_version, upstream, lineage, input_hash)
        for entry in manifest["files"]:  # the version's own prefix is the staging area: nothing reads it yet
            self.fs.put_file(str(source / entry["path"]), self._path(*key, "versions", version_id, entry["path"]))
        self._write(json.dumps(manifest, indent=1), *key, MANIFEST_DIR, f"{version_id}.json")
        self._write(version_id, *key, CURRENT_FILE)  # the commit point
        with contextlib.suppress(Exception):  # pruning is housekeeping: never fail a stored version over it
            self._prune(key, version_id, keep_versions)
        return f"{self.url}/{'/'.join(key)}/versions/{version_id}", manifest

    def make_current(self, key: list[str], version_id: str) -> None:
        self._write(version_id, *key, CURRENT_FILE)

    def version_location(self, key: list[str], version_id: str) -> str:
        return f"{self.url}/{'/'.join(key)}/versions/{version_id}"

    def _prune(self, key: list[str], current_id: str, keep_versions: int) -> None:
        manifests = sorted(
            Path(p).name[: -len(".json")] for p in self.fs.ls(self._path(*key, MANIFEST_DIR), detail=False))
        for old in manifests[: max(len(manifests) - max(keep_versions, 1), 0)]:
            if old != current_id:
                with contextlib.suppress(FileNotFoundError):
                    self.fs.rm(self._path(*key, MANIFEST_DIR, f"{old}.json"))  # unreadable first
                    self.fs.rm(self._path(*key, "versions", old), recursive=True)

    def list_manifests(self, key: list[str]) -> list[dict]:
        try:
            names = self.fs.ls(self._path(*key, MANIFEST_DIR), detail=False)
        except FileNotFoundError:
            return []
        texts = (self._read(*key, MANIFEST_DIR, Path(name).name) for name in names if name.endswith(".json"))
        return [json.loads(text) for text in texts if text]

    def fetch_current(self, key: list[str], local_root: Path) -> Path | None:
        version_id = self._read(*key, CURRENT_FILE)
        if not version_id:
            return None
        manifest = self.read_manifest(key, version_id)
        if manifest is None:
            raise ManifestMissingError(
                f"asset '{'/'.join(key)}' version {version_id} in {self.url} has no manifest: "
                "it is incomplete and is not read")
        return self.fetch(key, version_id, local_root, manifest)

    def fetch(self, key: list[str], version_id: str, local_root: Path, manifest: dict | None = None) -> Path | None:
        """Download a version (checked against its manifest) into <local_root>/.downloads; None without one."""
        manifest = manifest or self.read_manifest(key, version_id)
        if manifest is None:
            return None
        target = asset_folder(local_root / ".downloads", key) / version_id
        if target.is_dir():  # versions never change once stored: a complete download is reused
            return target
        fresh = target.parent / f"{STAGING_PREFIX}{uuid.uuid4().hex}"
        try:
            for entry in manifest["files"]:
                local = fresh / entry["path"]
                local.parent.mkdir(parents=True, exist_ok=True)
                self.fs.get_file(self._path(*key, "versions", version_id, entry["path"]), str(local))
                if local.stat().st_size != entry["size"] or sha256_file(local) != entry["sha256"]:
                    raise OSError(f"asset '{'/'.join(key)}' file {entry['path']} does not match its manifest")
            fresh.mkdir(parents=True, exist_ok=True)  # an artifact may have no files
            try:
                os.rename(fresh, target)
            except OSError:  # another reader finished first
                if not target.is_dir():
                    raise
        finally:
            remove_tree(fresh)
        return target
