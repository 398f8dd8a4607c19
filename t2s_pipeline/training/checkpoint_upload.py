"""Checkpoints copied to the artifact store as training saves them, and fetched back to resume a run whose
machine was lost.

The store is a prefix of the artifact storage (the lora_adapter asset passes
`<storage>/lora_adapter/checkpoints/<training fingerprint>`, the same fingerprint that names the local
checkpoint folder, so the next materialization of the same training finds it). Layout:
    <store>/checkpoint-N/...               the checkpoint's files, as the Trainer wrote them
    <store>/manifests/checkpoint-N.json    every file's path, size and sha256; written after the files
A checkpoint without a manifest is a partial upload and is never fetched. The store mirrors the local
checkpoint folder: a checkpoint the Trainer rotated away locally is removed from the store too.

S3 settings come from the standard AWS environment variables (the asset sets them from its IO manager's
config). fsspec keeps this module free of Dagster: it runs inside the training processes.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import uuid
from datetime import datetime, timezone
from pathlib import Path

MANIFEST_DIR = "manifests"


def _store(url: str, storage_options: dict | None = None):
    """(filesystem, root path) for a URL; a fresh filesystem each time (no stale listing cache)."""
    import fsspec

    options = {"skip_instance_cache": True, "use_listings_cache": False, **(storage_options or {})}
    if "://" not in url or url.startswith("file://"):
        options["auto_mkdir"] = True  # a local store (tests): folders are made as files are written
    return fsspec.core.url_to_fs(url, **options)


def _sha256(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def _step(name: str) -> int:
    try:
        return int(name.rsplit("-", 1)[1])
    except (IndexError, ValueError):
        return -1


def upload_checkpoint(folder: Path, url: str, storage_options: dict | None = None) -> dict:
    """Copy a checkpoint folder to `<url>/<name>/`, then write its manifest; returns the manifest."""
    fs, root = _store(url, storage_options)
    files = sorted((p for p in folder.rglob("*") if p.is_file()), key=lambda p: p.relative_to(folder).as_posix())
    manifest = {
        "format": 1, "checkpoint": folder.name, "step": _step(folder.name),
        "created_at": datetime.now(timezone.utc).isoformat(),
        "files": [{"path": p.relative_to(folder).as_posix(), "size": p.stat().st_size, "sha256": _sha256(p)}
                  for p in files],
    }
    for entry in manifest["files"]:
        fs.put_file(str(folder / entry["path"]), f"{root}/{folder.name}/{entry['path']}")
    fs.pipe_file(f"{root}/{MANIFEST_DIR}/{folder.name}.json", json.dumps(manifest, indent=1).encode())
    return manifest


def uploaded_checkpoints(url: str, storage_options: dict | None = None) -> list[dict]:
    """Manifests of the complete uploaded checkpoints, newest (highest step) first."""
    fs, root = _store(url, storage_options)
    try:
        names = fs.ls(f"{root}/{MANIFEST_DIR}", detail=False)
    except FileNotFoundError:
        return []
    manifests = [json.loads(fs.cat_file(name)) for name in names if name.endswith(".json")]
    return sorted(manifests, key=lambda m: m["step"], reverse=True)


def remove_checkpoint(url: str, name: str, storage_options: dict | None = None) -> None:
    """Manifest first: from then on no reader trusts the files, which go next."""
    fs, root = _store(url, storage_options)
    for path in (f"{root}/{MANIFEST_DIR}/{name}.json", f"{root}/{name}"):
        if fs.exists(path):
            fs.rm(path, recursive=True)


def remove_store(url: str, storage_options: dict | None = None) -> None:
    """Every uploaded checkpoint of this training: a finished run leaves nothing to resume."""
    for manifest in uploaded_checkpoints(url, storage_options):
        remove_checkpoint(url, manifest["checkpoint"], storage_options)
    fs, root = _store(url, storage_options)
    if fs.exists(root):
        fs.rm(root, recursive=True)  # partial uploads, which have no manifest


def fetch_checkpoint(url: str, manifest: dict, target_dir: Path, storage_options: dict | None = None) -> Path:
    """Download an uploaded checkpoint into `target_dir/<name>`, every file checked against the manifest;
    it appears there only once complete, so a local reader never sees half of it."""
    fs, root = _store(url, storage_options)
    name = manifest["checkpoint"]
    staging = target_dir / f".download-{uuid.uuid4().hex}"
    try:
        for entry in manifest["files"]:
            local = staging / entry["path"]
            local.parent.mkdir(parents=True, exist_ok=True)
            fs.get_file(f"{root}/{name}/{entry['path']}", str(local))
            if local.stat().st_size != entry["size"] or _sha256(local) != entry["sha256"]:
                raise OSError(f"uploaded checkpoint {url}/{name}: {entry['path']} does not match its manifest")
        staging.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(target_dir / name, ignore_errors=True)  # an incomplete local copy of the same step
        os.rename(staging, target_dir / name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target_dir / name


def fetch_newer_checkpoint(url: str, local_step: int, target_dir: Path, storage_options: dict | None = None,
                           log=lambda msg: None) -> Path | None:
    """Fetch the newest complete uploaded checkpoint when it is newer than `local_step` (the newest complete
    local one, -1 for none): the local folder is gone or behind when the machine that trained was lost."""
    manifests = uploaded_checkpoints(url, storage_options)
    if not manifests or manifests[0]["step"] <= local_step:
        return None
    path = fetch_checkpoint(url, manifests[0], target_dir, storage_options)
    log(f"fetched {manifests[0]['checkpoint']} from {url} to resume from it")
    return path


def _wait_for_every_rank() -> None:
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        dist.barrier()


def make_checkpoint_upload_callback(url: str, log=lambda msg: None, warn=lambda msg: None):
    """A TrainerCallback that uploads each checkpoint as soon as it is saved; rank 0 uploads, every rank
    waits for the others' files first. A failed upload warns and training goes on: the checkpoint is still
    on the local disk, and the next save tries again."""
    from transformers import TrainerCallback

    class CheckpointUploadCallback(TrainerCallback):
        def __init__(self):
            self.uploaded = 0

        def on_save(self, args, state, control, **kwargs):
            # Each rank writes its own RNG file after the model; the Trainer has no barrier after that.
            _wait_for_every_rank()
            if not state.is_world_process_zero:
                return
            local = Path(args.output_dir)
            folder = local / f"checkpoint-{state.global_step}"
            if not folder.is_dir():
                return  # nothing saved at this step (a guard cancelled it)
            try:
                manifest = upload_checkpoint(folder, url)
                kept = {p.name for p in local.glob("checkpoint-*")}
                for old in uploaded_checkpoints(url):
                    if old["checkpoint"] not in kept:  # rotated away locally by save_total_limit
                        remove_checkpoint(url, old["checkpoint"])
            except Exception as error:  # the store is unreachable: train on, the checkpoint is on disk
                warn(f"uploading {folder.name} to {url} failed ({type(error).__name__}: {error}); "
                     "training goes on, the checkpoint stays on the local disk")
                return
            self.uploaded += 1
            log(f"uploaded {folder.name} ({len(manifest['files'])} files) to {url}")

    return CheckpointUploadCallback()
