"""Directory artifacts, stored atomically with a manifest: one IO manager for every asset of the chain.

The storage root is a local folder or an `s3://bucket/prefix` URL (`root`, else $T2S_STORAGE). Layout:
    <root>/<asset key>/versions/<YYYYmmddTHHMMSS>-<run_id[:8]>/...   complete versions (the artifact's files)
    <root>/<asset key>/manifests/<version id>.json                   one manifest per complete version
    <root>/<asset key>/CURRENT                                        the current version id
    <root>/<asset key>/.staging-<uuid>/                               a local version being written
    <local>/.scratch/<run_id>/<asset>/                                 where asset bodies write
    <root>/lora_adapter/checkpoints/<fingerprint>/                    s3:// only: checkpoints of a training
                                                                      in progress (training/checkpoint_upload.py)

A manifest lists every file (path, size, sha256), the run, the asset's code version and the data versions
of the upstream assets it was made from; its hash (over the content fields, not the run or the time) is the
data version the IO manager reports to Dagster, so the UI shows what is stale after a code or upstream
change. The manifest is written after every file of the version and before CURRENT moves: a version
becomes visible only when CURRENT names it, and readers refuse a version without a manifest, so a crash or
a lost connection at any point leaves the previous version current and no reader sees a partial artifact.

On S3 (s3fs through universal-pathlib; endpoint and credentials from the standard AWS environment variables,
e.g. AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY) each file is uploaded with `put_file` under
the new version's own prefix, which nothing reads until the manifest and then CURRENT are written. Readers
download a version into a fresh local folder under `<local>/.downloads/`, check it against the manifest and
only then rename it into place. `<local>` is the local root: the storage root when it is a folder, else
$T2S_LOCAL_DIR, else ./.t2s_storage.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import dagster as dg
from pydantic import Field

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


def _key_parts(key: str | Sequence[str]) -> list[str]:
    return key.split("/") if isinstance(key, str) else list(key)


def _asset_dir(root: Path, key: str | Sequence[str]) -> Path:
    return root.joinpath(*_key_parts(key))


# --- manifests ------------------------------------------------------------------------------------


def _sha256_file(path: Path) -> str:
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
            {"path": p.relative_to(directory).as_posix(), "size": p.stat().st_size, "sha256": _sha256_file(p)}
            for p in files
        ],
    }
    manifest["data_version"] = manifest_data_version(manifest)
    return manifest


def manifest_data_version(manifest: Mapping) -> str:
    """sha256 of the manifest's content fields (files, code version, upstream versions), not run or time."""
    content = {k: manifest.get(k) for k in CONTENT_FIELDS}
    return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()


def _manifest_path(asset_dir: Path, version_id: str) -> Path:
    return asset_dir / MANIFEST_DIR / f"{version_id}.json"


def read_manifest(root: str | os.PathLike, asset_name: str | Sequence[str], version_id: str | None = None,
                  storage_options: Mapping[str, object] | None = None) -> dict | None:
    """The manifest of the asset's current version (or of `version_id`); None when there is none."""
    store = storage_root(root)
    if isinstance(store, str):
        return _S3Store(store, storage_options).read_manifest(_key_parts(asset_name), version_id)
    asset_dir = _asset_dir(store, asset_name)
    version_id = version_id or _read_text(asset_dir / CURRENT_FILE)
    text = _read_text(_manifest_path(asset_dir, version_id)) if version_id else None
    return json.loads(text) if text else None


def current_version_path(root: str | os.PathLike, asset_name: str | Sequence[str],
                         storage_options: Mapping[str, object] | None = None) -> Path | None:
    """A local folder holding the asset's current version (downloaded for s3:// storage), or None if it was
    never stored. Raises ManifestMissingError when CURRENT names a version without a manifest."""
    store = storage_root(root)
    if isinstance(store, str):
        return _S3Store(store, storage_options).fetch_current(_key_parts(asset_name), resolve_root(root))
    asset_dir = _asset_dir(store, asset_name)
    version_id = _read_text(asset_dir / CURRENT_FILE)
    if not version_id:
        return None
    version_dir = asset_dir / "versions" / version_id
    if not version_dir.is_dir():
        return None  # CURRENT without its version: none
    if not _manifest_path(asset_dir, version_id).is_file():
        raise ManifestMissingError(
            f"asset '{'/'.join(_key_parts(asset_name))}' version {version_id} has no manifest: "
            "it is incomplete and is not read")
    return version_dir


def list_versions(root: str | os.PathLike, asset_name: str | Sequence[str],
                  storage_options: Mapping[str, object] | None = None) -> list[dict]:
    """The manifests of the asset's complete stored versions (the last `keep_versions`), newest first."""
    store = storage_root(root)
    key = _key_parts(asset_name)
    if isinstance(store, str):
        manifests = _S3Store(store, storage_options).list_manifests(key)
    else:
        folder = _asset_dir(store, key) / MANIFEST_DIR
        manifests = [json.loads(p.read_text()) for p in folder.glob("*.json")] if folder.is_dir() else []
    # created_at has microseconds: it orders versions made in the same second, locally and on S3.
    return sorted(manifests, key=lambda m: (m.get("created_at") or "", m.get("version") or ""), reverse=True)


def version_path(root: str | os.PathLike, asset_name: str | Sequence[str], version_id: str,
                 storage_options: Mapping[str, object] | None = None) -> Path | None:
    """A local folder holding a stored version (downloaded for s3:// storage); None if it has no manifest."""
    store = storage_root(root)
    key = _key_parts(asset_name)
    if isinstance(store, str):
        return _S3Store(store, storage_options).fetch(key, version_id, resolve_root(root))
    folder = _asset_dir(store, key) / "versions" / version_id
    return folder if folder.is_dir() and _manifest_path(_asset_dir(store, key), version_id).is_file() else None


@dataclass(frozen=True)
class Reuse:
    """What an asset returns instead of a directory when a stored version was made from the same inputs
    (same input hash): the IO manager makes that version current again, nothing is copied."""
    version: str


def find_version_by_input_hash(root: str | os.PathLike, asset_name: str | Sequence[str], input_hash: str,
                               storage_options: Mapping[str, object] | None = None) -> dict | None:
    """The manifest of the newest kept version made from `input_hash`, or None."""
    return next((m for m in list_versions(root, asset_name, storage_options) if m.get("input_hash") == input_hash),
                None)


def make_current(root: str | os.PathLike, asset_name: str | Sequence[str], version_id: str,
                 storage_options: Mapping[str, object] | None = None) -> dict:
    """Point CURRENT at a complete stored version again; returns its manifest."""
    store, key = storage_root(root), _key_parts(asset_name)
    manifest = read_manifest(root, key, version_id, storage_options)
    if manifest is None:
        raise ManifestMissingError(f"asset '{'/'.join(key)}' has no complete version {version_id} to reuse")
    if isinstance(store, str):
        _S3Store(store, storage_options)._write(version_id, *key, CURRENT_FILE)
    else:
        _write_text_atomic(_asset_dir(store, key) / CURRENT_FILE, version_id)
    return manifest


# --- local publishing -------------------------------------------------------------------------------


def publish_directory(
    root: Path, key: Sequence[str], source: Path, run_id: str, keep_versions: int = 3,
    code_version: str | None = None, upstream: Mapping[str, Mapping[str, str]] | None = None,
    lineage: Mapping[str, Mapping[str, str]] | None = None, input_hash: str | None = None,
) -> Path:
    """Store `source` as a new version of `key` and make it current; returns the version dir."""
    asset_dir = _asset_dir(root, key)
    versions = asset_dir / "versions"
    versions.mkdir(parents=True, exist_ok=True)
    (asset_dir / MANIFEST_DIR).mkdir(exist_ok=True)
    staging = asset_dir / f"{STAGING_PREFIX}{uuid.uuid4().hex}"
    scratch = root / ".scratch"
    if source.resolve().is_relative_to(scratch.resolve()):
        _move_or_copy(source, staging)  # scratch output is ours to take: a rename is instant
        _remove_if_empty(source.parent)
    else:
        _copy_tree(source, staging)
    version_id = _new_version_id(versions, run_id)
    manifest = build_manifest(staging, key, version_id, run_id, code_version, upstream, lineage, input_hash)
    os.utime(staging)  # mtime orders versions made within the same second
    os.rename(staging, versions / version_id)
    _write_text_atomic(_manifest_path(asset_dir, version_id), json.dumps(manifest, indent=1))  # after the files
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
            with contextlib.suppress(FileNotFoundError):
                _manifest_path(asset_dir, old.name).unlink()
    cutoff = time.time() - STALE_STAGING_SECONDS
    for staging in asset_dir.glob(f"{STAGING_PREFIX}*"):
        if staging.stat().st_mtime < cutoff:  # younger ones may belong to a live run
            _remove_tree(staging)


# --- S3 (universal-pathlib over s3fs) ---------------------------------------------------------------


class _S3Store:
    """The same layout under an s3:// URL; every call opens a fresh filesystem (no stale listing cache)."""

    def __init__(self, url: str, storage_options: Mapping[str, object] | None = None):
        from upath import UPath

        self.url = url
        self.root = UPath(url, skip_instance_cache=True, use_listings_cache=False, **(storage_options or {}))
        self.fs = self.root.fs

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
        target = _asset_dir(local_root / ".downloads", key) / version_id
        if target.is_dir():  # versions never change once stored: a complete download is reused
            return target
        fresh = target.parent / f"{STAGING_PREFIX}{uuid.uuid4().hex}"
        try:
            for entry in manifest["files"]:
                local = fresh / entry["path"]
                local.parent.mkdir(parents=True, exist_ok=True)
                self.fs.get_file(self._path(*key, "versions", version_id, entry["path"]), str(local))
                if local.stat().st_size != entry["size"] or _sha256_file(local) != entry["sha256"]:
                    raise OSError(f"asset '{'/'.join(key)}' file {entry['path']} does not match its manifest")
            fresh.mkdir(parents=True, exist_ok=True)  # an artifact may have no files
            try:
                os.rename(fresh, target)
            except OSError:  # another reader finished first
                if not target.is_dir():
                    raise
        finally:
            _remove_tree(fresh)
        return target


# --- filesystem operations (local paths) -------------------------------------------------------------


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


# --- lineage from the Dagster run -----------------------------------------------------------------------


def _lineage(context: dg.OutputContext, key: Sequence[str]) -> tuple[str | None, dict, object | None]:
    """(code version, upstream {asset: {data_version, storage_version}}, step context) of the output; empty
    outside a real run (a context built in a test)."""
    try:
        step_context = context.step_context
    except Exception:
        return None, {}, None
    try:
        node = step_context.job_def.asset_layer.get(dg.AssetKey(list(key)))
    except Exception:
        return None, {}, None
    upstream = {}
    for parent in sorted(node.parent_keys, key=lambda k: k.to_user_string()):
        try:
            info = step_context.maybe_fetch_and_get_input_asset_version_info(parent)
        except Exception:
            info = None
        entry = {"data_version": info.data_version.value if info and info.data_version else "unknown"}
        upstream[parent.to_user_string()] = entry
    return node.code_version, upstream, step_context


# --- the Dagster IO manager ---------------------------------------------------------------------


class DirectoryIOManager(dg.ConfigurableIOManager):
    """Stores each asset's output directory as a versioned artifact with a manifest; inputs load as a Path."""

    root: str = Field(
        default="",
        description="Where every artifact lives: a local folder or s3://bucket/prefix. Empty: $T2S_STORAGE if "
        "set, else .t2s_storage under the current working directory.",
    )
    keep_versions: int = Field(
        default=3, description="Versions kept per asset; older ones are pruned (never the current one)."
    )

    s3_endpoint_url: str = Field(
        default="", description="S3 endpoint (MinIO, rclone, ...). Empty: $AWS_ENDPOINT_URL, else AWS.")
    aws_access_key_id: str = Field(
        default="", description="Empty: the standard AWS chain ($AWS_ACCESS_KEY_ID, profiles, roles). "
        "Set it only through dg.EnvVar so the value never appears in config, logs or metadata.")
    aws_secret_access_key: str = Field(
        default="", description="Empty: the standard AWS chain. Set it only through dg.EnvVar.")

    @property
    def storage_options(self) -> dict[str, object]:
        """s3fs options from this resource's config; empty fields fall back to the AWS environment."""
        options = {"endpoint_url": self.s3_endpoint_url, "key": self.aws_access_key_id,
                   "secret": self.aws_secret_access_key}
        return {k: v for k, v in options.items() if v}

    def aws_env(self) -> dict[str, str]:
        """The configured S3 settings as the standard AWS variables, for a subprocess that writes to the same
        store (the training job uploading checkpoints). Pass them in its environment only: never log them."""
        options = self.storage_options
        env = {var: str(options[name]) for name, var in AWS_ENV_FOR_OPTION.items() if options.get(name)}
        region = (options.get("client_kwargs") or {}).get("region_name")
        return {**env, "AWS_DEFAULT_REGION": region} if region else env

    def remote_url(self, *parts: str) -> str | None:
        """`<s3 storage>/<parts>` when storage is s3://; None for local storage."""
        return "/".join([self.storage, *parts]) if isinstance(self.storage, str) else None

    @property
    def root_path(self) -> Path:
        """The local root (scratch output, downloads; the artifacts themselves unless storage is s3://)."""
        return resolve_root(self.root)

    @property
    def storage(self) -> str | Path:
        return storage_root(self.root)

    def scratch_dir(self, asset_name: str, run_id: str) -> Path:
        """A fresh empty folder for an asset body to write its output into."""
        path = self.root_path / ".scratch" / run_id / asset_name
        _remove_tree(path)
        path.mkdir(parents=True)
        return path

    def handle_output(self, context: dg.OutputContext, obj: object) -> None:
        key = context.asset_key.path if context.has_asset_key else [context.step_key, context.name]
        name = "/".join(key)
        input_hash = context.output_metadata.get("input_hash")
        input_hash = getattr(input_hash, "value", input_hash)  # a MetadataValue once Dagster has seen it
        code_version, upstream, step_context = _lineage(context, key) if context.has_asset_key else (None, {}, None)
        if isinstance(obj, Reuse):
            manifest = make_current(self.root, key, obj.version, self.storage_options)
            remote = self.remote_url(*key, "versions", obj.version)
            path_metadata = dg.MetadataValue.url(remote) if remote else dg.MetadataValue.path(
                str(_asset_dir(self.storage, key) / "versions" / obj.version))
            self._report(context, step_context, key, manifest, path_metadata)
            return
        if not isinstance(obj, (str, os.PathLike)):
            raise TypeError(f"asset '{name}' must return a directory Path, got {type(obj).__name__}")
        source = Path(obj)
        if not source.is_dir():
            raise FileNotFoundError(f"asset '{name}' returned {source}, which is not an existing directory")
        lineage = self._upstream_lineage(upstream)
        store = self.storage
        if isinstance(store, str):
            try:
                location, manifest = _S3Store(store, self.storage_options).publish(
                    list(key), source, context.run_id, self.keep_versions, code_version, upstream, lineage,
                    input_hash)
            except Exception as error:
                raise OSError(f"asset '{name}': storing to {store} failed ({type(error).__name__}: {error}); "
                              "the previous version stays current") from error
            if source.resolve().is_relative_to((self.root_path / ".scratch").resolve()):
                _remove_tree(source)  # scratch output is ours: uploaded, it is no longer needed here
                _remove_if_empty(source.parent)
            path_metadata = dg.MetadataValue.url(location)
        else:
            version_dir = publish_directory(store, key, source, context.run_id, self.keep_versions,
                                            code_version, upstream, lineage, input_hash)
            manifest = json.loads(_manifest_path(_asset_dir(store, key), version_dir.name).read_text())
            path_metadata = dg.MetadataValue.path(str(version_dir))
        self._report(context, step_context, key, manifest, path_metadata)

    def _report(self, context: dg.OutputContext, step_context, key: Sequence[str], manifest: dict,
                path_metadata: dg.MetadataValue) -> None:
        """The manifest hash as the asset's data version, and the stored version in the metadata."""
        if step_context is not None:
            step_context.set_data_version(dg.AssetKey(list(key)), dg.DataVersion(manifest["data_version"]))
        upstream, lineage = manifest.get("upstream_versions") or {}, manifest.get("lineage") or {}
        metadata = {
            "path": path_metadata,
            "version": manifest["version"],
            "files": len(manifest["files"]),
            "size_mb": round(sum(f["size"] for f in manifest["files"]) / 1e6, 3),
            "data_version": manifest["data_version"],
        }
        if manifest["code_version"] is not None:
            metadata["code_version"] = manifest["code_version"]
        if upstream:
            metadata["upstream_versions"] = dg.MetadataValue.json(upstream)
        if lineage:
            metadata["lineage"] = dg.MetadataValue.json(lineage)
        context.add_output_metadata(metadata)

    def _upstream_lineage(self, upstream: Mapping[str, dict]) -> dict:
        """Adds each upstream's stored version id to `upstream` (in place) and returns the whole lineage: every
        asset this one was made from, directly or not, with its data version and stored version."""
        lineage: dict[str, dict] = {}
        for parent, entry in upstream.items():
            with contextlib.suppress(Exception):  # lineage is information: never fail a run over reading it
                manifest = read_manifest(self.root, parent, storage_options=self.storage_options) or {}
                if manifest and manifest.get("data_version") == entry.get("data_version"):
                    entry["version"] = manifest["version"]
                lineage.update(manifest.get("lineage") or {})
            lineage[parent] = dict(entry)
        return dict(sorted(lineage.items()))

    def load_input(self, context: dg.InputContext) -> Path:
        if context.has_asset_key:
            key = context.asset_key.path
        elif context.upstream_output is not None and context.upstream_output.has_asset_key:
            key = context.upstream_output.asset_key.path
        else:
            raise dg.DagsterInvariantViolationError("DirectoryIOManager loads asset inputs only")
        path = current_version_path(self.root, key, self.storage_options)
        if path is None:
            raise FileNotFoundError(
                f"no stored artifact for asset '{'/'.join(key)}' under {self.storage}; "
                "materialize it first"
            )
        return path
