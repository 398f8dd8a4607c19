"""The layout every artifact store shares (local folder or s3://): roots, asset keys, manifests, and the
local file operations that make a stored version appear at once or not at all. See storage.py for the layout.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path

CURRENT_FILE = "CURRENT"
MANIFEST_DIR = "manifests"
STAGING_PREFIX = ".staging-"
STALE_STAGING_SECONDS = 3600
MANIFEST_FORMAT = 1
# s3fs option -> the AWS environment variable that botocore reads for it.
AWS_ENV_FOR_OPTION = {"endpoint_url": "AWS_ENDPOINT_URL", "key": "AWS_ACCESS_KEY_ID",
                      "secret": "AWS_SECRET_ACCESS_KEY", "token": "AWS_SESSION_TOKEN"}
# Fields of a manifest that describe the content; their hash is the data version.
CONTENT_FIELDS = ("asset", "code_version", "upstream", "files")


class ManifestMissingError(FileNotFoundError):
    """A version without a manifest: incomplete, never read."""


def is_remote(root: str | os.PathLike) -> bool:
    return "://" in str(root)


def storage_root(root: str | os.PathLike = "") -> str | Path:
    """Where artifacts live: `root`, else $T2S_STORAGE, else ./.t2s_storage; a URL string or an absolute Path."""
    chosen = str(root) or os.environ.get("T2S_STORAGE") or ".t2s_storage"
    if is_remote(chosen):
        if not chosen.startswith("s3://"):
            raise ValueError(f"storage {chosen!r}: only local folders and s3:// URLs are supported")
        return chosen.rstrip("/")
    return Path(chosen).expanduser().absolute()


def resolve_root(root: str | os.PathLike = "") -> Path:
    """The local root: the storage root when it is a folder; for s3:// storage, $T2S_LOCAL_DIR or
    ./.t2s_storage, which holds scratch output and downloaded versions."""
    chosen = storage_root(root)
    if isinstance(chosen, Path):
        return chosen
    return Path(os.environ.get("T2S_LOCAL_DIR") or ".t2s_storage").expanduser().absolute()


def key_parts(key: str | Sequence[str]) -> list[str]:
    return key.split("/") if isinstance(key, str) else list(key)


def asset_folder(root: Path, key: str | Sequence[str]) -> Path:
    return root.joinpath(*key_parts(key))


# --- manifests


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def build_manifest(
    directory: Path,
    key: Sequence[str],
    version_id: str,
    run_id: str,
    code_version: str | None = None,
    upstream: Mapping[str, Mapping[str, str]] | None = None,
    lineage: Mapping[str, Mapping[str, str]] | None = None,
    input_hash: str | None = None,
) -> dict:
    files = sorted((p for p in directory.rglob("*") if p.is_file()), key=lambda p: p.relative_to(directory).as_posix())
    manifest = {
        "format": MANIFEST_FORMAT,
        "asset": "/".join(key),
        "version": version_id,
        "run_id": run_id,
        "created_at": datetime.now(timezone.utc).isoformat(),
        "code_version": code_version,
        "upstream": {k: {"data_version": v.get("data_version")} for k, v in sorted((upstream or {}).items())},
        "upstream_versions": {k: dict(v) for k, v in sorted((upstream or {}).items())},
        "lineage": {k: dict(v) for k, v in sorted((lineage or {}).items())},
        "input_hash": input_hash,
        "files": [
            {"path": p.relative_to(directory).as_posix(), "size": p.stat().st_size, "sha256": sha256_file(p)}
            for p in files
        ],
    }
    manifest["data_version"] = manifest_data_version(manifest)
    return manifest


def manifest_data_version(manifest: Mapping) -> str:
    """sha256 of the manifest's content fields (files, code version, upstream versions), not run or time."""
    content = {k: manifest.get(k) for k in CONTENT_FIELDS}
    return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()


def manifest_path(asset_dir: Path, version_id: str) -> Path:
    return asset_dir / MANIFEST_DIR / f"{version_id}.json"


# --- filesystem operations (local paths) -------------------------------------------------------------


def copy_file(src: str, dst: str) -> None:
    shutil.copy2(src, dst)


def copy_tree(src: Path, dst: Path) -> None:
    # Follow symlinks so a stored artifact never points into a cache outside the storage.
    shutil.copytree(src, dst, copy_function=lambda s, d: copy_file(s, d))


def move_or_copy(src: Path, dst: Path) -> None:
    try:
        os.rename(src, dst)
    except OSError:  # another filesystem (a mount under .scratch): fall back to a copy
        copy_tree(src, dst)
        remove_tree(src)


def remove_tree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


def remove_if_empty(path: Path) -> None:
    with contextlib.suppress(OSError):
        path.rmdir()


def read_text(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        return None


def write_text_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    tmp.write_text(text + "\n")
    os.replace(tmp, path)
