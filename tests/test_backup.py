"""Issue 13 §5 and §6: `flask backup` / `flask restore` (a portable dump: every table as JSON lines plus the
attachments) and `flask db copy --to URL` (the SQLite demo into an empty, migrated PostgreSQL). Each round
trip lands in a new empty database, where the audit chain verifies and a waiting case goes on to completion
with its attachment intact. On the PostgreSQL run the targets are PostgreSQL databases."""
from __future__ import annotations

import glob
import io
import json
import os
import subprocess
import sys
import tarfile
import time
from datetime import datetime, timezone

import pytest
from sqlalchemy import func, select

from engine.calendar import seed_from_chinesecalendar
from engine.models import Attachment, AuditEvent, ProcessInstance, User
from engine.org import issue_token, load_file
from engine.repository import deploy_paths
from web.extensions import db
from web.services import repository

from .conftest import PROCEDURES
from .procedures import Case
from .servers import ROOT, SECRET, drop_database, fresh_database, migrate
from .test_pages import csrf, sign_in

SUP, BUREAU, HANDLER, UNIT = "guan_sup", "lf.guan.sfj", "guan_scjg_handler", "lf.guan.scjg"
NOTICE = {"notice_unit": UNIT, "notice_kind": "notice", "notice_issues": "行政处罚决定书未载明救济途径"}
ISSUE = {"notice_number": "固司监〔2026〕7号", "notice_content": "限期整改并书面回复"}
CONTENT = os.urandom(100 * 1024) + "整改报告".encode()


def _head_revision() -> str:
    from alembic.config import Config
    from alembic.script import ScriptDirectory
    config = Config()
    config.set_main_option("script_location", os.path.join(os.path.dirname(os.path.dirname(__file__)), "migrations"))
    return ScriptDirectory.from_config(config).get_current_head()


HEAD_REVISION = _head_revision()


def cli(app, args: list[str]):
    """Run a flask command on ``app`` (with_appcontext keeps whichever app context is current)."""
    with app.app_context():
        return app.test_cli_runner().invoke(args=args)


def tokens(app):
    """Bearer headers for demo users of ``app``'s database (valid ten years)."""
    cache: dict[str, dict] = {}

    def make(username: str) -> dict:
        if username not in cache:
            with app.app_context():
                user = db.session.scalar(select(User).where(User.username == username))
                cache[username] = {"Authorization": "Bearer " + issue_token(
                    db.session, user, datetime.now(timezone.utc), name="tests", days=3650)}
                db.session.commit()
        return cache[username]
    return make


def waiting_notice(client, token) -> tuple[int, str]:
    """A supervision notice waiting for the bureau's check of the reply; the reply carries CONTENT.
    Returns (case id, attachment id)."""
    case = Case(client, token, "supervision_notice", SUP, NOTICE, business_key="JD-BACKUP-1")
    case.do("制发监督文书", "supervision_officer", BUREAU, SUP, ISSUE)
    reply = case.expect("整改并书面回复", "handler", UNIT, HANDLER)
    sign_in(client, HANDLER)
    resp = client.post(f"/tasks/{reply['id']}/complete", content_type="multipart/form-data", data={
        "csrf_token": csrf(client.get(f"/tasks/{reply['id']}")), "rectification_measures": "已补正救济途径",
        "reply_files__upload": (io.BytesIO(CONTENT), "整改报告.pdf")})
    assert resp.status_code == 302, resp.get_data(as_text=True)[:500]
    client.delete_cookie("session")
    case.expect("审查整改回复", "supervision_officer", BUREAU, SUP)
    attachment = db.session.scalar(select(Attachment.id).where(Attachment.instance_id == case.id,
                                                                Attachment.filename == "整改报告.pdf"))
    return case.id, attachment


def continue_to_completion(app, case_id: int, attachment_id: str) -> None:
    """On ``app``'s database: the audit chain verifies, the attachment downloads unchanged, the waiting
    case completes, and a new case gets a fresh id."""
    verified = cli(app, ["audit", "verify"])
    assert verified.exit_code == 0 and verified.output.startswith("OK: "), verified.output
    client, token = app.test_client(), tokens(app)
    case = Case.__new__(Case)
    case.client, case.token, case.id, case.starter = client, token, case_id, SUP
    sign_in(client, SUP)
    download = client.get(f"/documents/{attachment_id}")
    assert download.status_code == 200 and download.data == CONTENT
    client.delete_cookie("session")
    case.do("审查整改回复", "supervision_officer", BUREAU, SUP, {"reply_accepted": True})
    assert case.status() == "completed"
    again = Case(client, token, "supervision_notice", SUP, NOTICE, business_key="JD-AFTER")
    assert again.id > case_id
    assert cli(app, ["audit", "verify"]).exit_code == 0


def counts(app) -> dict[str, int]:
    with app.app_context():
        return {model.__tablename__: db.session.scalar(select(func.count()).select_from(model))
                for model in (ProcessInstance, AuditEvent, Attachment, User)}


@pytest.fixture
def target(db_url, tmp_path):
    """An empty database beside the tests' one, migrated; attachments in a folder."""
    url = fresh_database(db_url, "restore", tmp_path)
    app = migrate(url, ATTACHMENT_STORAGE="filesystem", ATTACHMENT_DIR=str(tmp_path / "restored-files"))
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()
    drop_database(url)


def test_backup_and_restore_into_an_empty_database(ctx, client, token, target, tmp_path, figures):
    case_id, attachment_id = waiting_notice(client, token)
    db.session.commit()                                  # SQLite: the backup takes its own transaction
    path = str(tmp_path / "backup.tar.gz")
    started = time.perf_counter()
    backup = cli(ctx, ["backup", path])
    backup_seconds = time.perf_counter() - started
    assert backup.exit_code == 0, backup.output
    # the reply's upload and the 监督通知书 the notice step issued (engine/documents.py)
    assert "2 attachments" in backup.output and f"schema {HEAD_REVISION}" in backup.output
    with tarfile.open(path) as tar:
        names = tar.getnames()
        manifest = json.load(tar.extractfile("manifest.json"))
    assert names[0] == "manifest.json" and "tables/audit_events.jsonl" in names
    assert [n for n in names if n.startswith("attachments/")] == [f"attachments/{manifest['sha256'][n]}"
                                                                 for n in names if n.startswith("attachments/")]
    assert "attachment_blobs" not in manifest["tables"]          # its rows travel as files

    started = time.perf_counter()
    restored = cli(target, ["restore", path])
    restore_seconds = time.perf_counter() - started
    assert restored.exit_code == 0, restored.output
    assert counts(target) == counts(ctx)
    files = glob.glob(str(tmp_path / "restored-files" / "*" / "*"))
    # now in the target's folder: the reply's upload and the issued 监督通知书 (a PDF)
    assert len(files) == 2 and sorted(open(f, "rb").read()[:5] == b"%PDF-" for f in files) == [False, True]
    assert CONTENT in [open(f, "rb").read() for f in files]

    refused = cli(target, ["restore", path])
    assert refused.exit_code == 1 and "not empty" in refused.output

    continue_to_completion(target, case_id, attachment_id)
    figures(f"backup/restore: {sum(manifest['tables'].values())} rows, {os.path.getsize(path) // 1024} kB archive; "
            f"backup {backup_seconds:.1f} s, restore {restore_seconds:.1f} s")


def _rewrite(path: str, out: str, change) -> None:
    """Copy the archive, passing each member's (name, bytes) through ``change``."""
    with tarfile.open(path) as src, tarfile.open(out, "w:gz") as dst:
        for member in src.getmembers():
            data = change(member.name, src.extractfile(member).read())
            info = tarfile.TarInfo(member.name)
            info.size = len(data)
            dst.addfile(info, io.BytesIO(data))


def test_a_damaged_or_foreign_dump_is_refused_and_nothing_is_kept(ctx, target, tmp_path):
    path = str(tmp_path / "backup.tar.gz")
    assert cli(ctx, ["backup", path]).exit_code == 0
    assert cli(ctx, ["backup", path]).exit_code == 1        # no overwrite by default

    damaged = str(tmp_path / "damaged.tar.gz")
    _rewrite(path, damaged, lambda name, data: data.replace(b"guan_sup", b"guan_sux")
             if name == "tables/users.jsonl" else data)
    refused = cli(target, ["restore", damaged])
    assert refused.exit_code == 1 and "tables/users.jsonl is damaged" in refused.output

    other = str(tmp_path / "other-revision.tar.gz")
    _rewrite(path, other, lambda name, data: data.replace(f'"{HEAD_REVISION}"'.encode(), b'"c15idem00001"')
             if name == "manifest.json" else data)
    refused = cli(target, ["restore", other])
    assert refused.exit_code == 1 and "schema revision" in refused.output

    (tmp_path / "junk.tar.gz").write_bytes(b"not a tar file")
    refused = cli(target, ["restore", str(tmp_path / "junk.tar.gz")])
    assert refused.exit_code == 1 and "not a readable" in refused.output
    assert set(counts(target).values()) == {0}                     # nothing of the refused restores stayed


def test_db_copy_moves_the_sqlite_demo_to_an_empty_migrated_database(db_url, tmp_path, figures):
    """The SQLite demo (attachments in a folder) copied with `flask db copy --to URL`; the target keeps the
    attachments in the database."""
    demo_url = "sqlite:///" + str(tmp_path / "demo.db")
    demo = migrate(demo_url, ATTACHMENT_STORAGE="filesystem", ATTACHMENT_DIR=str(tmp_path / "demo-files"))
    with demo.app_context():
        seed_from_chinesecalendar(db.session)
        load_file(db.session, demo.config["DEMO_ORG_FILE"], demo.config["ORG_PASSWORD_METHOD"])
        db.session.commit()
        deploy_paths(repository(), PROCEDURES, actor="demo")
        db.session.commit()
        case_id, attachment_id = waiting_notice(demo.test_client(), tokens(demo))
        db.session.commit()
    with demo.app_context():
        db.engine.dispose()

    target_url = fresh_database(db_url, "copy", tmp_path)
    target = migrate(target_url)                                   # testing: attachments in the database
    env = {**os.environ, "FLASK_APP": "web", "PYTHONPATH": ROOT, "SUPERVISION_CONFIG": "development",
           "SECRET_KEY": SECRET, "DATABASE_URL": demo_url, "ATTACHMENT_STORAGE": "filesystem",
           "ATTACHMENT_DIR": str(tmp_path / "demo-files")}
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "flask", "db", "copy", "--to", target_url], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    seconds = time.perf_counter() - started
    assert done.returncode == 0, done.stdout + done.stderr
    assert "2 attachments" in done.stdout                # the upload and the issued 监督通知书
    again = subprocess.run([sys.executable, "-m", "flask", "db", "copy", "--to", target_url], cwd=ROOT, env=env,
                           capture_output=True, text=True, timeout=300)
    assert again.returncode == 1 and "not empty" in again.stderr
    try:
        assert counts(target) == counts(demo)
        continue_to_completion(target, case_id, attachment_id)
    finally:
        with target.app_context():
            db.session.remove()
            db.engine.dispose()
        drop_database(target_url)
    figures(f"flask db copy (SQLite demo → {target_url.split(':')[0]}): {done.stdout.strip()}; "
            f"{seconds:.1f} s with start-up")
