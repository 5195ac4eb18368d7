"""Operations commands: ``flask backup PATH``, ``flask restore PATH`` and ``flask db copy --to URL`` (all
three move the portable dump of engine.portable: every table as JSON lines plus the attachments)."""
from __future__ import annotations

import os
import sys
import time

import click
from flask import Flask, current_app
from flask.cli import with_appcontext
from flask_migrate.cli import db as db_group
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from config import Invalid, database_url
from engine import portable
from engine.attachments import DatabaseBlobs, FileBlobs

from .extensions import db
from .forms_web import blobs


def _size(n: int) -> str:
    return f"{n / (1024 * 1024):.1f} MB" if n >= 1024 * 1024 else f"{n / 1024:.1f} kB"


def _report(verb: str, summary: portable.Summary, seconds: float) -> None:
    click.echo(f"{verb}: {summary.rows} rows in {len(summary.tables)} tables, {summary.attachments} attachments "
               f"({_size(summary.attachment_bytes)}), schema {', '.join(summary.revision) or '-'}, {seconds:.1f} s")


def _warn_missing(summary: portable.Summary) -> None:
    if summary.missing_attachments:
        click.echo(f"WARNING: the bytes of {len(summary.missing_attachments)} attachments are missing from the "
                   f"attachment storage and are not in the copy, e.g. {summary.missing_attachments[0]}", err=True)
        sys.exit(1)


@click.command("backup")
@click.argument("path", type=click.Path(dir_okay=False))
@click.option("--force", is_flag=True, help="Overwrite PATH if it exists")
@with_appcontext
def backup_cmd(path, force):
    """Write every table and every attachment to PATH (a portable .tar.gz)."""
    if os.path.exists(path) and not force:
        click.echo(f"{path} exists; choose another name or pass --force", err=True)
        sys.exit(1)
    started = time.monotonic()
    try:
        summary = portable.dump(db.session, blobs(), path)
    except OSError as exc:
        click.echo(f"backup failed: {exc}", err=True)
        sys.exit(1)
    _report(f"backup {path}", summary, time.monotonic() - started)
    _warn_missing(summary)


@click.command("restore")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@with_appcontext
def restore_cmd(path):
    """Load a backup into this installation's database, which must be empty and migrated
    (flask db upgrade); attachments go to this installation's attachment storage."""
    started = time.monotonic()
    try:
        summary = portable.restore(db.session, blobs(), path)
    except portable.DumpError as exc:
        click.echo(f"restore refused: {exc}", err=True)
        sys.exit(1)
    _report(f"restored {path}", summary, time.monotonic() - started)
    click.echo("next: flask audit verify")


@click.command("copy")
@click.option("--to", "target", required=True, metavar="URL",
              help="The empty, migrated target database, e.g. postgresql://user@host/dbname")
@click.option("--attachments", type=click.Choice(["database", "filesystem"]), default="database", show_default=True,
              help="Where the target keeps the bytes of attachments")
@click.option("--attachment-dir", type=click.Path(file_okay=False), default=None,
              help="With --attachments filesystem: the target's ATTACHMENT_DIR")
@with_appcontext
def copy_cmd(target, attachments, attachment_dir):
    """Copy this database (e.g. the SQLite demo) and its attachments into another, empty one migrated with
    `DATABASE_URL=URL flask db upgrade`."""
    try:
        url = database_url(target)
    except Invalid as exc:
        click.echo(f"--to: {exc.en}", err=True)
        sys.exit(1)
    if attachments == "filesystem" and not attachment_dir:
        click.echo("--attachments filesystem needs --attachment-dir", err=True)
        sys.exit(1)
    if url == current_app.config["SQLALCHEMY_DATABASE_URI"]:
        click.echo("--to names the database this installation uses", err=True)
        sys.exit(1)
    engine = create_engine(url, pool_pre_ping=True)
    if engine.dialect.name == "sqlite":
        from . import _tune_sqlite
        _tune_sqlite(engine)
    started = time.monotonic()
    try:
        with Session(engine) as session:
            target_blobs = DatabaseBlobs(session) if attachments == "database" else FileBlobs(attachment_dir)
            summary = portable.copy(db.session, blobs(), session, target_blobs)
    except portable.DumpError as exc:
        click.echo(f"copy refused: {exc}", err=True)
        sys.exit(1)
    finally:
        engine.dispose()
    _report(f"copied to {engine.url.render_as_string(hide_password=True)}", summary, time.monotonic() - started)
    _warn_missing(summary)


def register(app: Flask) -> None:
    app.cli.add_command(backup_cmd)
    app.cli.add_command(restore_cmd)
    db_group.add_command(copy_cmd)
