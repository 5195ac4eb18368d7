"""A portable copy of the whole database: every table as JSON lines plus the attachments' bytes, in a
.tar.gz — readable by any later installation, on SQLite or PostgreSQL alike.

Layout of the archive (in this order, so a restore reads it in one pass)::

    manifest.json                 format, schema revision, when, row counts, sha256 of every member
    tables/<table>.jsonl          one JSON object per row (columns by name), parents before children
    attachments/<sha256>          the bytes of each attachment, once per content

Values are written by column type: datetimes as ISO 8601 with offset, dates as ISO dates, bytes as base64,
JSON columns as JSON; everything else as is. ``attachment_blobs`` is not a table in the archive — its rows are
the files under attachments/ — so a dump taken with attachments on the filesystem restores into an
installation keeping them in the database, and back.

``restore`` writes into an empty database migrated to the same schema revision, in one transaction, and
refuses a database that holds any row. ``copy`` (``flask db copy``) is a dump followed by a restore.

A dump on PostgreSQL reads one REPEATABLE READ snapshot, so cases that change meanwhile are consistent."""
from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import tarfile
import tempfile
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Callable, Iterable, Iterator

from sqlalchemy import (JSON, Date, DateTime, Float, Integer, LargeBinary, Numeric, Table, bindparam, literal, select,
                        text)
from sqlalchemy.orm import Session

from .attachments import BlobStore
from .models import Attachment, Base

FORMAT = "supervision-platform-dump"
FORMAT_VERSION = 1
BLOB_TABLE = "attachment_blobs"
BATCH = 1000


class DumpError(RuntimeError):
    """The dump cannot be written or read back (the message says why)."""


@dataclass
class Summary:
    tables: dict[str, int] = field(default_factory=dict)     # rows per table
    attachments: int = 0
    attachment_bytes: int = 0
    missing_attachments: list[str] = field(default_factory=list)
    revision: list[str] = field(default_factory=list)

    @property
    def rows(self) -> int:
        return sum(self.tables.values())


def tables() -> list[Table]:
    """The tables in the archive, parents before children (foreign keys)."""
    return [t for t in Base.metadata.sorted_tables if t.name != BLOB_TABLE]


def schema_revision(session: Session) -> list[str]:
    """The Alembic revision(s) the database is at (empty when it was never migrated)."""
    try:
        with session.begin_nested():
            return sorted(session.scalars(text("SELECT version_num FROM alembic_version")).all())
    except Exception:                                          # no alembic_version table
        return []


# -- values -------------------------------------------------------------------------------------------------

def _kind(column) -> str:
    kind = column.type
    impl = getattr(kind, "impl", kind)
    if isinstance(impl, DateTime) or isinstance(kind, DateTime):
        return "datetime"
    if isinstance(impl, Date):
        return "date"
    if isinstance(impl, LargeBinary):
        return "bytes"
    if isinstance(impl, JSON):
        return "json"
    if isinstance(impl, Numeric) and not isinstance(impl, Float):
        return "decimal"                   # exact: written as text (e.g. training hours 29.5)
    return "plain"


def _encode(kind: str, value):
    if value is None:
        return None
    if kind == "datetime":
        if value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return value.isoformat(timespec="microseconds")
    if kind == "date":
        return value.isoformat()
    if kind == "bytes":
        return base64.b64encode(bytes(value)).decode("ascii")
    if kind == "decimal":
        return str(value)
    return value


def _decode(kind: str, value):
    if value is None:
        return None
    if kind == "datetime":
        return datetime.fromisoformat(value)
    if kind == "date":
        return date.fromisoformat(value)
    if kind == "bytes":
        return base64.b64decode(value)
    if kind == "decimal":
        return Decimal(str(value))
    return value


def _rows(session: Session, table: Table) -> Iterator[dict]:
    kinds = {c.name: _kind(c) for c in table.columns}
    order = list(table.primary_key.columns) or list(table.columns)
    result = session.execute(select(table).order_by(*order).execution_options(yield_per=BATCH))
    for row in result.mappings():
        yield {name: _encode(kinds[name], row[name]) for name in kinds}


# -- dump -----------------------------------------------------------------------------------------------------

def _sha256_file(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def dump(session: Session, blobs: BlobStore, path: str, now: datetime | None = None,
         progress: Callable[[str], None] | None = None) -> Summary:
    """Write the archive to ``path`` (through a temporary file beside it, renamed at the end)."""
    summary = Summary(revision=schema_revision(session))
    if session.get_bind().dialect.name == "postgresql":
        session.rollback()
        session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
    members: list[tuple[str, str]] = []
    checksums: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="supervision-dump-") as work:
        for table in tables():
            member = f"tables/{table.name}.jsonl"
            local = os.path.join(work, f"{table.name}.jsonl")
            count = 0
            with open(local, "w", encoding="utf-8") as fh:
                for row in _rows(session, table):
                    fh.write(json.dumps(row, ensure_ascii=False, separators=(",", ":")) + "\n")
                    count += 1
            summary.tables[table.name] = count
            checksums[member] = _sha256_file(local)
            members.append((member, local))
            if progress:
                progress(f"{table.name}: {count} rows")
        digests = sorted(set(session.scalars(select(Attachment.sha256).distinct())))
        blob_dir = os.path.join(work, "attachments")
        os.makedirs(blob_dir)
        for digest in digests:
            try:
                with blobs.open(digest) as fh:
                    content = fh.read()
            except FileNotFoundError:
                summary.missing_attachments.append(digest)
                continue
            local = os.path.join(blob_dir, digest)
            with open(local, "wb") as out:
                out.write(content)
            checksums[f"attachments/{digest}"] = digest      # the name is the content's hash
            members.append((f"attachments/{digest}", local))
            summary.attachments += 1
            summary.attachment_bytes += len(content)
        session.rollback()                                 # end the snapshot
        manifest = {"format": FORMAT, "format_version": FORMAT_VERSION, "revision": summary.revision,
                    "created_at": (now or datetime.now(timezone.utc)).isoformat(), "database":
                    session.get_bind().dialect.name, "tables": summary.tables,
                    "attachments": summary.attachments, "missing_attachments": summary.missing_attachments,
                    "sha256": checksums}
        tmp = f"{path}.{os.getpid()}.tmp"
        try:
            with tarfile.open(tmp, "w:gz") as tar:
                data = json.dumps(manifest, ensure_ascii=False, indent=1).encode("utf-8")
                info = tarfile.TarInfo("manifest.json")
                info.size, info.mtime, info.mode = len(data), int(datetime.now().timestamp()), 0o644
                tar.addfile(info, io.BytesIO(data))
                for member, local in members:
                    tar.add(local, arcname=member, recursive=False)
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.remove(tmp)
    return summary


# -- restore --------------------------------------------------------------------------------------------------

def non_empty_tables(session: Session) -> list[str]:
    """The tables of the schema that hold rows (the blob table included)."""
    return [table.name for table in Base.metadata.sorted_tables
            if session.execute(select(literal(1)).select_from(table).limit(1)).first() is not None]


def _jsonl(fileobj) -> Iterator[dict]:
    for line in io.TextIOWrapper(fileobj, encoding="utf-8"):
        if line.strip():
            yield json.loads(line)


class _Hashing(io.RawIOBase):
    """Reads through a file object, computing the sha256 of what was read."""

    def __init__(self, raw):
        self.raw, self.digest = raw, hashlib.sha256()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        data = self.raw.read(len(buffer))
        self.digest.update(data)
        buffer[:len(data)] = data
        return len(data)


def _insert(session: Session, table: Table, rows: Iterable[dict]) -> int:
    kinds = {c.name: _kind(c) for c in table.columns}
    self_refs = [fk.parent.name for fk in table.foreign_keys if fk.column.table is table]
    later: list[dict] = []
    batch: list[dict] = []
    count = 0
    for raw in rows:
        unknown = set(raw) - set(kinds)
        if unknown:
            raise DumpError(f"table {table.name}: unknown columns {sorted(unknown)}")
        row = {name: _decode(kinds[name], raw.get(name)) for name in kinds}
        if self_refs and any(row[c] is not None for c in self_refs):
            later.append({**{c.name: row[c.name] for c in table.primary_key.columns},
                          **{c: row[c] for c in self_refs}})
            row.update({c: None for c in self_refs})      # parents may come later in the file
        batch.append(row)
        count += 1
        if len(batch) >= BATCH:
            session.execute(table.insert(), batch)
            batch = []
    if batch:
        session.execute(table.insert(), batch)
    if later:
        pk = list(table.primary_key.columns)
        stmt = table.update().where(*[c == _bind(c) for c in pk]).values({c: _bind(table.c[c]) for c in self_refs})
        session.execute(stmt, [{f"b_{k}": v for k, v in row.items()} for row in later])
    return count


def _bind(column):
    return bindparam(f"b_{column.name}", type_=column.type)


def _reset_sequences(session: Session) -> None:
    """PostgreSQL: every serial id column continues after the highest restored id."""
    if session.get_bind().dialect.name != "postgresql":
        return
    for table in tables():
        pk = list(table.primary_key.columns)
        if len(pk) == 1 and isinstance(pk[0].type, Integer) and pk[0].autoincrement in (True, "auto"):
            seq = session.scalar(text("SELECT pg_get_serial_sequence(:t, :c)"), {"t": table.name, "c": pk[0].name})
            if seq:
                top = f'(SELECT MAX("{pk[0].name}") FROM "{table.name}")'
                session.execute(text(f"SELECT setval(:s, COALESCE({top}, 1), {top} IS NOT NULL)"), {"s": seq})


def restore(session: Session, blobs: BlobStore, path: str, progress: Callable[[str], None] | None = None) -> Summary:
    """Load the archive at ``path`` into the empty database of ``session`` and ``blobs``; commits at the end
    (nothing is kept when anything fails). Raises DumpError when the database is not empty, its schema
    revision differs from the dump's, or the archive is damaged."""
    summary = Summary()
    by_name = {t.name: t for t in tables()}
    try:
        tar = tarfile.open(path, "r|gz")
    except (OSError, tarfile.TarError) as exc:
        raise DumpError(f"{path} is not a readable .tar.gz dump ({exc})") from None
    manifest = None
    seen: set[str] = set()
    try:
        with tar:
            for member in tar:
                if not member.isfile():
                    continue
                fileobj = tar.extractfile(member)
                if member.name == "manifest.json":
                    manifest = _check_manifest(session, json.load(fileobj))
                    summary.revision = manifest["revision"]
                    continue
                if manifest is None:
                    raise DumpError("the archive does not begin with manifest.json")
                expected = manifest["sha256"].get(member.name)
                if expected is None:
                    raise DumpError(f"{member.name} is not listed in the manifest")
                reader = _Hashing(fileobj)
                if member.name.startswith("tables/"):
                    name = member.name[len("tables/"):-len(".jsonl")]
                    if name not in by_name:
                        raise DumpError(f"table {name} of the dump is not in this version's schema")
                    summary.tables[name] = _insert(session, by_name[name], _jsonl(io.BufferedReader(reader)))
                    if progress:
                        progress(f"{name}: {summary.tables[name]} rows")
                elif member.name.startswith("attachments/"):
                    content = io.BufferedReader(reader).read()
                    blobs.put(member.name[len("attachments/"):], content)
                    summary.attachments += 1
                    summary.attachment_bytes += len(content)
                else:
                    raise DumpError(f"unexpected member {member.name}")
                # both readers above read to the end, so the digest covers the whole member
                if reader.digest.hexdigest() != expected:
                    raise DumpError(f"{member.name} is damaged (its sha256 does not match the manifest)")
                seen.add(member.name)
        if manifest is None:
            raise DumpError("the archive has no manifest.json")
        absent = set(manifest["sha256"]) - seen
        if absent:
            raise DumpError(f"the archive lacks {len(absent)} listed members, e.g. {sorted(absent)[0]}")
        for name, count in manifest["tables"].items():
            if summary.tables.get(name) != count:
                raise DumpError(f"table {name}: {summary.tables.get(name)} rows read, the manifest says {count}")
        _reset_sequences(session)
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return summary


def _check_manifest(session: Session, manifest: dict) -> dict:
    if manifest.get("format") != FORMAT:
        raise DumpError("this is not a dump of this platform (manifest.json has another format)")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise DumpError(f"dump format version {manifest.get('format_version')} is not supported "
                        f"(this version reads {FORMAT_VERSION})")
    here = schema_revision(session)
    if not here:
        raise DumpError("the target database has no schema: run `flask db upgrade` on it first")
    if sorted(manifest.get("revision") or []) != here:
        raise DumpError(f"the dump is of schema revision {manifest.get('revision')}, the target database is at "
                        f"{here}: migrate both to the same revision (flask db upgrade) first")
    filled = non_empty_tables(session)
    if filled:
        raise DumpError(f"the target database is not empty (rows in {', '.join(filled[:5])}"
                        f"{' …' if len(filled) > 5 else ''}): restore only into a new, migrated database")
    return manifest


def copy(source: Session, source_blobs: BlobStore, target: Session, target_blobs: BlobStore,
         progress: Callable[[str], None] | None = None) -> Summary:
    """Everything of the source database into the empty, migrated target (a dump and a restore)."""
    with tempfile.TemporaryDirectory(prefix="supervision-copy-") as work:
        path = os.path.join(work, "copy.tar.gz")
        dumped = dump(source, source_blobs, path)
        summary = restore(target, target_blobs, path, progress)
        summary.missing_attachments = dumped.missing_attachments
        return summary
