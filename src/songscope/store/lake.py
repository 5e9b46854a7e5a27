"""The object store: Parquet and other artefacts under a folder or an ``s3://bucket/prefix``.

Data is addressed by URL so the same code reads ``lake/x.parquet`` or ``s3://bucket/x.parquet``.
Writes are atomic: the bytes are complete before anything is visible under the final name
(a local rename; on S3 an upload to a temporary key and a server-side copy, which S3 makes
visible all at once), so a failure never leaves a partial object where a reader looks.
"""

from __future__ import annotations

import fnmatch
import hashlib
import io
import os
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

#: Names starting with this are writes in progress (or left by a crash), never data.
from songscope.errors import UserError

TEMPORARY_PREFIX = "."


class LakeError(UserError, RuntimeError):
    """A lake or source URL that cannot be read or written, with the reason."""


def is_s3(url: str) -> bool:
    return url.startswith("s3://")


def s3_filesystem(endpoint: str | None = None, *, quick: bool = False) -> pafs.S3FileSystem:
    """An S3 filesystem; credentials from the standard AWS variables, endpoint from settings.

    ``endpoint`` such as ``http://127.0.0.1:8333`` points at any S3-compatible server. `quick`:
    one attempt with short timeouts, to tell at once whether the server answers at all.
    """
    kwargs: dict[str, object] = {"region": os.environ.get("AWS_REGION", os.environ.get("AWS_DEFAULT_REGION", "us-east-1"))}
    if quick:
        kwargs.update(connect_timeout=3, request_timeout=10, retry_strategy=pafs.AwsStandardS3RetryStrategy(max_attempts=1))
    if endpoint:
        parsed = urlparse(endpoint if "://" in endpoint else f"http://{endpoint}")
        kwargs["endpoint_override"] = parsed.netloc
        kwargs["scheme"] = parsed.scheme or "http"
        # Self-hosted servers (SeaweedFS, MinIO) are addressed by path, not by virtual host.
        kwargs["force_virtual_addressing"] = False
    if os.environ.get("AWS_ACCESS_KEY_ID"):
        kwargs["access_key"] = os.environ["AWS_ACCESS_KEY_ID"]
        kwargs["secret_key"] = os.environ.get("AWS_SECRET_ACCESS_KEY", "")
        if os.environ.get("AWS_SESSION_TOKEN"):
            kwargs["session_token"] = os.environ["AWS_SESSION_TOKEN"]
    return pafs.S3FileSystem(**kwargs)  # type: ignore[arg-type]


def resolve(url: str, s3_endpoint: str | None = None, *, quick: bool = False) -> tuple[pafs.FileSystem, str]:
    """The filesystem and the path inside it for a local path, ``file://`` or ``s3://`` URL."""
    if is_s3(url):
        return s3_filesystem(s3_endpoint, quick=quick), url[len("s3://") :].rstrip("/")
    if url.startswith("file://"):
        url = urlparse(url).path
    try:
        return pafs.LocalFileSystem(), str(Path(url).expanduser().resolve())
    except RuntimeError as exc:  # a symbolic link that points back at itself, however indirectly
        raise LakeError(f"{url}: cannot be opened: {exc} (a symbolic link that leads back to itself); point it at a real file") from None


def expand(pattern: str, s3_endpoint: str | None = None, suffixes: tuple[str, ...] = ()) -> list[str]:
    """The files a source names: a file, a folder (its files with `suffixes`), or a glob.

    Returns URLs (local absolute paths or ``s3://``) sorted by name; an empty list when nothing
    matches, so the caller can say which pattern found nothing.
    """
    fs, path = resolve(pattern, s3_endpoint)
    prefix = "s3://" if is_s3(pattern) else ""
    has_glob = any(ch in path for ch in "*?[")
    if not has_glob:
        try:
            info = fs.get_file_info(path)
        except OSError as exc:
            raise LakeError(f"{pattern}: cannot be reached ({exc})") from exc
        if info.type == pafs.FileType.File:
            return [prefix + path]
        if info.type == pafs.FileType.Directory:
            selector = pafs.FileSelector(path, recursive=False)
            found = [
                i.path for i in fs.get_file_info(selector)
                if i.type == pafs.FileType.File and i.path.lower().endswith(suffixes)
            ]
            return sorted(prefix + p for p in found)
        return []
    # Expand the glob from the deepest folder without wildcards.
    parts = path.split("/")
    fixed = []
    for part in parts:
        if any(ch in part for ch in "*?["):
            break
        fixed.append(part)
    base = "/".join(fixed) or "/"
    recursive = "**" in path or len(fixed) < len(parts) - 1
    try:
        infos = fs.get_file_info(pafs.FileSelector(base, recursive=recursive, allow_not_found=True))
    except OSError as exc:
        raise LakeError(f"{pattern}: cannot be reached ({exc})") from exc
    matches = [i.path for i in infos if i.type == pafs.FileType.File and fnmatch.fnmatch(i.path, path)]
    return sorted(prefix + p for p in matches)


def sha256(url: str, s3_endpoint: str | None = None) -> tuple[str, int]:
    """SHA-256 (hex) and size of a file, local or ``s3://``, read in blocks (never whole); an
    unreadable file raises the filesystem's OSError, for the caller to say which it was."""
    fs, path = resolve(url, s3_endpoint)
    digest, size = hashlib.sha256(), 0
    with fs.open_input_stream(path) as stream:
        while block := stream.read(8 << 20):
            digest.update(block)
            size += len(block)
    return digest.hexdigest(), size


def read_bytes(url: str, s3_endpoint: str | None = None) -> bytes:
    fs, path = resolve(url, s3_endpoint)
    try:
        with fs.open_input_stream(path) as stream:
            return stream.read()
    except (OSError, FileNotFoundError) as exc:
        raise LakeError(f"{url}: cannot be read ({exc})") from exc


@dataclass(frozen=True)
class Lake:
    """A folder or an S3 prefix holding songscope's Parquet tables and artefacts.

    Examples
    --------
    >>> import tempfile, pyarrow as pa
    >>> lake = Lake(tempfile.mkdtemp())
    >>> uri = lake.write_table("demo/t.parquet", pa.table({"x": [1, 2]}))
    >>> lake.read_table("demo/t.parquet").num_rows
    2
    """

    url: str
    s3_endpoint: str | None = None

    def _fs(self) -> tuple[pafs.FileSystem, str]:
        return resolve(self.url, self.s3_endpoint)

    def uri(self, key: str) -> str:
        """The address of `key`, for people and for other tools (an absolute path or ``s3://``)."""
        fs, root = self._fs()
        return ("s3://" if is_s3(self.url) else "") + f"{root}/{key}"

    def write_bytes(self, key: str, data: bytes, *, fresh: bool = False) -> str:
        """Write `data` under `key` atomically; returns its URI.

        Locally: a hidden temporary file in the same folder, synced, then renamed over the key.
        On S3: an upload to a temporary key, then a server-side copy, which S3 makes visible all
        at once, so a failed overwrite leaves the previous object whole. `fresh` says the key is
        new and nothing reads it until a database commit names it (a catalogue file): on S3 it
        is uploaded straight to its key, since a failed upload there is an unlisted leftover that
        the next ingest sweeps, and the copy would double the bytes moved.
        """
        fs, root = self._fs()
        final = f"{root}/{key}"
        try:
            if isinstance(fs, pafs.LocalFileSystem):
                Path(final).parent.mkdir(parents=True, exist_ok=True)
                tmp = Path(final).with_name(f"{TEMPORARY_PREFIX}{Path(final).name}.{uuid.uuid4().hex}.tmp")
                try:
                    with open(tmp, "wb") as handle:
                        handle.write(data)
                        handle.flush()
                        os.fsync(handle.fileno())
                    os.replace(tmp, final)
                finally:
                    tmp.unlink(missing_ok=True)
            elif fresh:
                with fs.open_output_stream(final) as stream:
                    stream.write(data)
            else:
                bucket = root.split("/", 1)[0]
                tmp = f"{bucket}/_tmp/{uuid.uuid4().hex}"
                with fs.open_output_stream(tmp) as stream:
                    stream.write(data)
                try:
                    fs.copy_file(tmp, final)
                finally:
                    fs.delete_file(tmp)
        except OSError as exc:
            raise LakeError(f"cannot write {self.uri(key)}: {exc}") from exc
        return self.uri(key)

    def read_bytes(self, key: str) -> bytes:
        return read_bytes(self.uri(key), self.s3_endpoint)

    def write_table(self, key: str, table: pa.Table, *, fresh: bool = False, continuous: bool = False) -> str:
        """Write `table` as Parquet (zstd) under `key`, atomically (see `write_bytes`); returns its URI.
        `continuous`: every column holds continuous numbers (coordinates), written without a
        dictionary and with their bytes split by significance: Parquet's default tries a
        dictionary of every distinct value first, and for 250,000 rows of 8 float32 coordinates
        that cost 0.16 s against 0.02 s and made the file 1.7x larger."""
        buffer = io.BytesIO()
        if continuous:
            pq.write_table(table, buffer, compression="zstd", use_dictionary=False, column_encoding="BYTE_STREAM_SPLIT")
        else:
            pq.write_table(table, buffer, compression="zstd")
        return self.write_bytes(key, buffer.getvalue(), fresh=fresh)

    def write_tables(self, key: str, tables: Iterable[pa.Table], schema: pa.Schema) -> tuple[str, int]:
        """Write a stream of tables as one Parquet file (zstd) under a fresh `key`, one row group
        or more per table, holding one table at a time; returns its URI and row count.

        Only for keys nothing reads until a database commit names them (see `write_bytes`):
        locally the file is renamed into place when whole, on S3 uploaded straight to its key.
        """
        fs, root = self._fs()
        final = f"{root}/{key}"
        rows = 0
        try:
            if isinstance(fs, pafs.LocalFileSystem):
                Path(final).parent.mkdir(parents=True, exist_ok=True)
                target = str(Path(final).with_name(f"{TEMPORARY_PREFIX}{Path(final).name}.{uuid.uuid4().hex}.tmp"))
            else:
                target = final
            try:
                with fs.open_output_stream(target) as stream, pq.ParquetWriter(stream, schema, compression="zstd") as writer:
                    for table in tables:
                        writer.write_table(table.select(schema.names).cast(schema))
                        rows += table.num_rows
                if target != final:
                    with open(target, "rb+") as handle:
                        os.fsync(handle.fileno())
                    os.replace(target, final)
            finally:
                if target != final:
                    Path(target).unlink(missing_ok=True)
        except OSError as exc:
            raise LakeError(f"cannot write {self.uri(key)}: {exc}") from exc
        return self.uri(key), rows

    def read_table(self, key: str, columns: list[str] | None = None) -> pa.Table:
        fs, root = self._fs()
        try:
            return pq.read_table(f"{root}/{key}", filesystem=fs, columns=columns)
        except (OSError, FileNotFoundError) as exc:
            raise LakeError(f"cannot read {self.uri(key)}: {exc}") from exc

    def exists(self, key: str) -> bool:
        fs, root = self._fs()
        return fs.get_file_info(f"{root}/{key}").type == pafs.FileType.File

    def keys(self, prefix: str = "", *, temporary: bool = False) -> list[str]:
        """Keys of the files under `prefix` (recursive), relative to the lake root; with
        `temporary`, also the hidden files of writes that never finished."""
        fs, root = self._fs()
        base = f"{root}/{prefix}".rstrip("/")
        try:
            infos = fs.get_file_info(pafs.FileSelector(base, recursive=True, allow_not_found=True))
        except OSError as exc:
            raise LakeError(f"cannot list {self.uri(prefix)}: {exc}") from exc
        return sorted(
            i.path[len(root) + 1 :] for i in infos
            if i.type == pafs.FileType.File and (temporary or not i.base_name.startswith(TEMPORARY_PREFIX))
        )

    def delete(self, key: str) -> None:
        """Remove `key` (gone already is fine), and locally the folders it leaves empty."""
        fs, root = self._fs()
        try:
            fs.delete_file(f"{root}/{key}")
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise LakeError(f"cannot delete {self.uri(key)}: {exc}") from exc
        if isinstance(fs, pafs.LocalFileSystem):
            folder = Path(f"{root}/{key}").parent
            while folder != Path(root) and folder.is_dir() and not any(folder.iterdir()):
                folder.rmdir()
                folder = folder.parent

    def _parquet_footer(self, key: str) -> pq.FileMetaData:
        fs, root = self._fs()
        try:
            with fs.open_input_file(f"{root}/{key}") as handle:
                return pq.ParquetFile(handle).metadata
        except (OSError, FileNotFoundError) as exc:
            raise LakeError(f"cannot read {self.uri(key)}: {exc}") from exc

    def parquet_rows(self, key: str) -> int:
        """Rows in the Parquet file at `key`, from its footer."""
        return self._parquet_footer(key).num_rows

    def parquet_columns(self, key: str) -> list[str]:
        """The column names of the Parquet file at `key`, from its footer."""
        return self._parquet_footer(key).schema.to_arrow_schema().names

    def check_writable(self) -> None:
        """Fail fast, with the reason, when the lake cannot be reached: before any long work.

        An S3 endpoint that does not answer is reported after one short attempt, not after the
        client's full retry schedule.
        """
        if is_s3(self.url):
            fs, root = resolve(self.url, self.s3_endpoint, quick=True)
            bucket = root.split("/", 1)[0]
            try:
                info = fs.get_file_info(bucket)
            except OSError as exc:
                raise LakeError(f"cannot reach the lake {self.url}: {exc}") from exc
            if info.type == pafs.FileType.NotFound:
                raise LakeError(f"the lake's bucket {bucket!r} does not exist at {self.s3_endpoint or 'AWS'}: create it, or point --lake elsewhere")
            return
        fs, root = self._fs()
        existing = Path(root)
        while not existing.exists() and existing != existing.parent:
            existing = existing.parent  # created by the first write; nothing is made before then
        if not existing.is_dir():
            raise LakeError(f"the lake {root} cannot be a folder: {existing} is a file")
        if not os.access(existing, os.W_OK | os.X_OK):
            raise LakeError(f"the lake folder {root} is not writable ({existing} is not): choose another with --lake")
