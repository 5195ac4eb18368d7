"""How a web request ends its transaction (web._watch_writes): whatever it did not commit is never kept; on
PostgreSQL a request that only read ends with COMMIT rather than ROLLBACK, because psycopg forgets the
statements it prepared on a connection at every ROLLBACK (each page's statements were otherwise parsed and
planned again at every request)."""
from __future__ import annotations

from sqlalchemy import event, select, update

from engine.models import User
from web.extensions import db

from .test_pages import sign_in

HANDLER = "guan_scjg_handler"


class Ends:
    """How the engine's transactions end while listening: "commit" / "rollback", in order."""

    def __enter__(self):
        self.seen: list[str] = []
        self.listeners = {name: (lambda _conn, name=name: self.seen.append(name)) for name in ("commit", "rollback")}
        for name, fn in self.listeners.items():
            event.listen(db.engine, name, fn)
        return self.seen

    def __exit__(self, *_exc):
        for name, fn in self.listeners.items():
            event.remove(db.engine, name, fn)


def test_a_page_that_only_read_ends_with_commit_on_postgresql_and_rollback_on_sqlite(ctx):
    browser = ctx.test_client()
    assert sign_in(browser, HANDLER).status_code == 302
    browser.get("/")
    db.session.remove()
    with Ends() as seen:
        assert browser.get("/?tab=group").status_code == 200
    expected = "commit" if db.engine.dialect.name == "postgresql" else "rollback"
    assert seen == [expected], seen


def name_of(username: str) -> str:
    db.session.remove()
    return db.session.scalar(select(User.display_name).where(User.username == username))


def test_what_a_request_wrote_or_changed_without_committing_is_never_kept(ctx):
    """A statement that wrote (sent without the ORM), or a change the ORM holds but has not written, is rolled
    back at the end of the request even though nothing failed; a request that only read keeps nothing
    either way."""
    before = name_of(HANDLER)
    with ctx.test_request_context("/"):
        db.session.execute(update(User).where(User.username == HANDLER).values(display_name="改过的名字"))
    assert name_of(HANDLER) == before
    with ctx.test_request_context("/"):
        user = db.session.scalar(select(User).where(User.username == HANDLER))
        user.display_name = "改过的名字"                     # held by the ORM, not flushed
    assert name_of(HANDLER) == before
    with ctx.test_request_context("/"):
        user = db.session.scalar(select(User).where(User.username == HANDLER))
        user.display_name = "改过的名字"
        db.session.flush()                                   # written, not committed
        db.session.scalar(select(User.id).where(User.username == HANDLER))   # and only read after that
    assert name_of(HANDLER) == before


def test_a_request_that_failed_keeps_nothing(ctx):
    before = name_of(HANDLER)
    try:
        with ctx.test_request_context("/"):
            db.session.execute(update(User).where(User.username == HANDLER).values(display_name="改过的名字"))
            raise RuntimeError("the view failed")
    except RuntimeError:
        pass
    assert name_of(HANDLER) == before
