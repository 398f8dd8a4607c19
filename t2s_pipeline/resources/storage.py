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

Modules: store_layout.py (roots, keys, manifests, file operations), local_store.py and s3_store.py (one store
interface, two places), and here the functions that pick the store for a root and the IO manager on top.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
from pydantic import Field

from t2s_pipeline.resources.local_store import LocalStore, publish_directory
from t2s_pipeline.resources.s3_store import S3Store
from t2s_pipeline.resources.store_layout import (
    AWS_ENV_FOR_OPTION,
    ManifestMissingError,
    is_remote,
    key_parts,
    remove_if_empty,
    remove_tree,
    resolve_root,
    storage_root,
)

__all__ = ["DirectoryIOManager", "ManifestMissingError", "Reuse", "current_version_path", "find_version_by_input_hash",
           "list_versions", "make_current", "open_store", "publish_directory", "read_manifest", "resolve_root",
           "storage_root", "version_path"]


def open_store(root: str | os.PathLike = "",
               storage_options: Mapping[str, object] | None = None) -> LocalStore | S3Store:
    """The store for a root: a local folder, or an s3:// URL (storage_options: s3fs options)."""
    store = storage_root(root)
    return S3Store(store, storage_options) if isinstance(store, str) else LocalStore(store)


def read_manifest(root: str | os.PathLike, asset_name: str | Sequence[str], version_id: str | None = None,
                  storage_options: Mapping[str, object] | None = None) -> dict | None:
    """The manifest of the asset's current version (or of `version_id`); None when there is none."""
    return open_store(root, storage_options).read_manifest(key_parts(asset_name), version_id)


def current_version_path(root: str | os.PathLike, asset_name: str | Sequence[str],
                         storage_options: Mapping[str, object] | None = None) -> Path | None:
    """A local folder holding the asset's current version (downloaded for s3:// storage), or None if it was
    never stored. Raises ManifestMissingError when CURRENT names a version without a manifest."""
    return open_store(root, storage_options).fetch_current(key_parts(asset_name), resolve_root(root))


def list_versions(root: str | os.PathLike, asset_name: str | Sequence[str],
                  storage_options: Mapping[str, object] | None = None) -> list[dict]:
    """The manifests of the asset's complete stored versions (the last `keep_versions`), newest first."""
    manifests = open_store(root, storage_options).list_manifests(key_parts(asset_name))
    # created_at has microseconds: it orders versions made in the same second, locally and on S3.
    return sorted(manifests, key=lambda m: (m.get("created_at") or "", m.get("version") or ""), reverse=True)


def version_path(root: str | os.PathLike, asset_name: str | Sequence[str], version_id: str,
                 storage_options: Mapping[str, object] | None = None) -> Path | None:
    """A local folder holding a stored version (downloaded for s3:// storage); None if it has no manifest."""
    return open_store(root, storage_options).fetch(key_parts(asset_name), version_id, resolve_root(root))


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
    store, key = open_store(root, storage_options), key_parts(asset_name)
    manifest = store.read_manifest(key, version_id)
    if manifest is None:
        raise ManifestMissingError(f"asset '{'/'.join(key)}' has no complete version {version_id} to reuse")
    store.make_current(key, version_id)
    return manifest


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

    def store(self) -> LocalStore | S3Store:
        return open_store(self.root, self.storage_options)

    def scratch_dir(self, asset_name: str, run_id: str) -> Path:
        """A fresh empty folder for an asset body to write its output into."""
        path = self.root_path / ".scratch" / run_id / asset_name
        remove_tree(path)
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
            location = self.store().version_location(list(key), obj.version)
            path_metadata = dg.MetadataValue.url(location) if is_remote(location) else dg.MetadataValue.path(location)
            self._report(context, step_context, key, manifest, path_metadata)
            return
        if not isinstance(obj, (str, os.PathLike)):
            raise TypeError(f"asset '{name}' must return a directory Path, got {type(obj).__name__}")
        source = Path(obj)
        if not source.is_dir():
            raise FileNotFoundError(f"asset '{name}' returned {source}, which is not an existing directory")
        lineage = self._upstream_lineage(upstream)
        store = self.store()
        try:
            location, manifest = store.publish(list(key), source, context.run_id, self.keep_versions, code_version,
                                               upstream, lineage, input_hash)
        except Exception as error:
            if not store.remote:
                raise
            raise OSError(f"asset '{name}': storing to {self.storage} failed ({type(error).__name__}: {error}); "
                          "the previous version stays current") from error
        if store.remote and source.resolve().is_relative_to((self.root_path / ".scratch").resolve()):
            remove_tree(source)  # scratch output is ours: uploaded, it is no longer needed here
            remove_if_empty(source.parent)
        path_metadata = dg.MetadataValue.url(location) if store.remote else dg.MetadataValue.path(location)
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
            metadata["upstream_versions"] = dg.MetadataValue.md(_versions_table(upstream))
        if lineage:
            metadata["lineage"] = dg.MetadataValue.md(_versions_table(lineage))
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


def _versions_table(entries: Mapping[str, Mapping[str, str]]) -> str:
    """{asset: {data_version, version}} as a short table (the manifest keeps the full hashes)."""
    lines = ["| asset | stored version | data version |", "|---|---|---|"]
    lines += [f"| {name} | {e.get('version', '')} | {str(e.get('data_version', ''))[:12]} |"
              for name, e in entries.items()]
    return "\n".join(lines)
