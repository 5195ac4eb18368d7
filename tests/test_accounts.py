"""Hardening §8: accounts — password changes and the password policy, sessions that end everywhere on sign-out
and password change, API tokens with expiry and revocation, sign-in limits per address, and no timing
difference between an unknown user name and a wrong password."""
from __future__ import annotations

import re
import uuid
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import delete, select
from werkzeug.security import check_password_hash, generate_password_hash

import engine.org
from engine.clock import FixedClock
from engine.errors import InvalidInput
from engine.models import ApiToken, OrgUnit, User
from engine.org import issue_token, sign_in as engine_sign_in
from web.extensions import db

from .test_pages import HANDLER, UNIT, csrf, sign_in

OLD = "Old-Passw0rd-2026"
NEW = "Brand-new-Passw0rd-7"
FAST = "pbkdf2:sha256:1000"


@pytest.fixture
def person(ctx):
    """A user of their own: password changes must not touch the demo users every other test signs in as."""
    unit = db.session.scalar(select(OrgUnit).where(OrgUnit.code == UNIT))
    user = User(username="acc_" + uuid.uuid4().hex[:8], display_name="账户测试", unit=unit, active=True,
                password_hash=generate_password_hash(OLD, FAST))
    db.session.add(user)
    db.session.commit()
    yield user
    db.session.rollback()
    db.session.execute(delete(ApiToken).where(ApiToken.user_id == user.id))
    db.session.execute(delete(User).where(User.id == user.id))
    db.session.commit()


def body(resp) -> str:
    return resp.get_data(as_text=True)


def signed_in(client) -> bool:
    return client.get("/profile").status_code == 200


# --- the password policy --------------------------------------------------------------------------------

@pytest.mark.nodb
@pytest.mark.parametrize("password, rule", [
    ("Short-1", "TOO_SHORT"),
    ("zhangsan-2026-xyz", "CONTAINS_USERNAME"),
    ("ZhangSan", "TOO_SHORT"),
    ("password123", "TOO_COMMON"),
    ("1234567890", "TOO_COMMON"),
    ("qwertyuiop", "TOO_COMMON"),
    ("demo1234demo", "TOO_COMMON"),
    ("Password123", "TOO_COMMON"),                # the list is matched without regard to case
])
def test_the_password_policy_refuses_weak_passwords(password, rule):
    from engine import passwords
    with pytest.raises(InvalidInput) as caught:
        passwords.require_strong(password, "zhangsan")
    assert getattr(passwords, rule) in [e["msgid"] for e in caught.value.errors]


@pytest.mark.nodb
def test_the_password_policy_accepts_a_good_password_and_ships_a_list():
    from engine import passwords
    passwords.require_strong("汛期-堤防-巡查-2026", "zhangsan")
    passwords.require_strong(NEW, "zhangsan")
    assert len(passwords.common_passwords()) >= 200
    assert passwords.MIN_LENGTH == 10


# --- changing one's own password ------------------------------------------------------------------------

def test_a_user_changes_the_password_on_the_page(client, ctx, person):
    other_session = ctx.test_client()
    sign_in(other_session, person.username, OLD)
    assert signed_in(other_session)
    sign_in(client, person.username, OLD)
    profile = body(client.get("/profile"))
    assert 'href="/profile/password"' in profile
    page = client.get("/profile/password")
    assert page.status_code == 200 and "当前密码" in body(page)
    token_ = csrf(page)

    def post(current, new, again):
        return client.post("/profile/password", data={"csrf_token": token_, "current_password": current,
                                                      "new_password": new, "new_password2": again})
    resp = post("wrong", NEW, NEW)
    assert resp.status_code == 422 and "当前密码不正确" in body(resp)
    resp = post(OLD, NEW, NEW + "x")
    assert resp.status_code == 422 and "两次输入的新密码不一致" in body(resp)
    resp = post(OLD, "password123", "password123")
    assert resp.status_code == 422 and "密码过于常见" in body(resp)
    resp = post(OLD, person.username + "-2026-abc", person.username + "-2026-abc")
    assert resp.status_code == 422 and "不能包含用户名" in body(resp)
    resp = post(OLD, "short", "short")
    assert resp.status_code == 422 and "密码至少需要 10 个字符" in body(resp)
    assert OLD not in body(resp)                               # passwords are never echoed back
    resp = post(OLD, NEW, NEW)
    assert resp.status_code == 302 and resp.headers["Location"] == "/profile"
    assert "密码已修改" in body(client.get("/profile"))
    assert signed_in(client)                                   # this session goes on …
    assert not signed_in(other_session)                        # … every other one has ended
    db.session.expire_all()
    assert check_password_hash(db.session.get(User, person.id).password_hash, NEW)
    fresh = ctx.test_client()
    assert sign_in(fresh, person.username, OLD).status_code == 401
    assert sign_in(fresh, person.username, NEW).status_code == 302


def test_the_api_changes_the_password(ctx, person):
    api = ctx.test_client()
    resp = api.post("/api/session", json={"username": person.username, "password": OLD})
    headers = {"X-CSRF-Token": resp.get_json()["csrf_token"]}
    resp = api.post("/api/me/password", json={"current_password": "nope", "new_password": NEW}, headers=headers)
    assert resp.status_code == 422 and resp.get_json()["message"] == "当前密码不正确"
    resp = api.post("/api/me/password", json={"current_password": OLD, "new_password": "qwertyuiop"},
                    headers=headers)
    assert resp.status_code == 422 and "密码过于常见" in str(resp.get_json())
    resp = api.post("/api/me/password", json={"current_password": OLD, "new_password": NEW}, headers=headers)
    assert resp.status_code == 200
    assert api.get("/api/me").status_code == 200
    token = issue_token(db.session, person, datetime.now(timezone.utc))
    db.session.commit()
    resp = ctx.test_client().post("/api/me/password", headers={"Authorization": "Bearer " + token},
                                  json={"current_password": NEW, "new_password": NEW + "!"})
    assert resp.status_code == 200


def test_admins_set_a_password_from_the_command_line(app, ctx, person):
    session_ = ctx.test_client()
    sign_in(session_, person.username, OLD)
    runner = app.test_cli_runner()
    result = runner.invoke(args=["users", "set-password", person.username, "--password", "1234567890"])
    assert result.exit_code != 0 and "密码过于常见" in result.output
    result = runner.invoke(args=["users", "set-password", person.username], input="Kept-Secret-99\nKept-Secret-98\n")
    assert result.exit_code != 0
    result = runner.invoke(args=["users", "set-password", person.username], input=f"{NEW}\n{NEW}\n")
    assert result.exit_code == 0, result.output
    assert not signed_in(session_)                             # that user's sessions have ended
    assert sign_in(ctx.test_client(), person.username, NEW).status_code == 302
    result = runner.invoke(args=["users", "set-password", "nobody-here", "--password", NEW])
    assert result.exit_code != 0


def test_admins_create_users_from_the_command_line_with_the_policy(app, ctx):
    runner = app.test_cli_runner()
    name = "acc_cli_" + uuid.uuid4().hex[:6]
    try:
        result = runner.invoke(args=["users", "create", name, "--name", "命令行用户", "--unit", UNIT,
                                     "--role", "handler", "--password", "demo1234"])
        assert result.exit_code != 0 and "密码至少需要 10 个字符" in result.output
        result = runner.invoke(args=["users", "create", name, "--name", "命令行用户", "--unit", UNIT,
                                     "--role", "handler", "--password", NEW])
        assert result.exit_code == 0, result.output
        assert sign_in(ctx.test_client(), name, NEW).status_code == 302
    finally:
        user = db.session.scalar(select(User).where(User.username == name))
        if user is not None:
            db.session.delete(user)
            db.session.commit()


def test_demo_users_keep_their_seeded_password(client):
    assert sign_in(client, HANDLER, "demo1234").status_code == 302


# --- sessions end everywhere ----------------------------------------------------------------------------

def test_sign_out_ends_a_copied_session_cookie(ctx, client, person):
    sign_in(client, person.username, OLD)
    stolen = client.get_cookie("session").value
    assert signed_in(client)
    assert client.post("/logout", data={"csrf_token": csrf(client.get("/"))}).status_code == 302
    replay = ctx.test_client()
    replay.set_cookie("session", stolen)
    resp = replay.get("/profile")
    assert resp.status_code == 302 and "/login" in resp.headers["Location"]
    assert replay.get("/api/me").status_code == 401


def test_a_script_request_after_sign_out_leaves_the_message_for_the_page(ctx, client, person):
    """The bell's menu fetched by script just as the person signs out must not take the "signed out"
    message meant for the sign-in page: a request that is not a page navigation gets 401, never a
    redirect to the sign-in page (which would show, and so use up, the message)."""
    sign_in(client, person.username, OLD)
    token = csrf(client.get("/"))
    assert client.post("/logout", data={"csrf_token": token}).status_code == 302
    script = {"Sec-Fetch-Mode": "cors", "Sec-Fetch-Dest": "empty"}
    for path in ("/notifications/menu", "/profile", "/"):
        resp = client.get(path, headers=script, follow_redirects=True)
        assert resp.status_code == 401, path
        assert "请先登录" in body(resp) or "Please sign in" in body(resp)
    page = client.get("/login", headers={"Sec-Fetch-Mode": "navigate"})
    assert "您已退出登录。" in body(page)


def test_a_script_request_never_sends_back_a_stale_session_cookie(ctx, client, person):
    """The bell's poll, sent with the cookie of a moment ago and answered after the step's POST set a new
    one (with its "已完成…" message), must not overwrite it: a page's own script requests re-send the
    session cookie only when they changed the session. Page navigations still renew it (the idle timeout)."""
    sign_in(client, person.username, OLD)
    script = {"Sec-Fetch-Mode": "cors", "Sec-Fetch-Dest": "empty"}
    poll = client.get("/api/notifications/summary", headers=script)
    assert poll.status_code == 200 and "Set-Cookie" not in poll.headers
    assert "Set-Cookie" not in client.get("/notifications/menu", headers=script).headers
    assert "Set-Cookie" in client.get("/profile", headers={"Sec-Fetch-Mode": "navigate"}).headers
    assert "Set-Cookie" in client.get("/profile").headers


def test_api_sign_out_ends_every_session(ctx, person):
    page = ctx.test_client()
    sign_in(page, person.username, OLD)
    api = ctx.test_client()
    resp = api.post("/api/session", json={"username": person.username, "password": OLD})
    stolen = api.get_cookie("session").value
    assert api.delete("/api/session", headers={"X-CSRF-Token": resp.get_json()["csrf_token"]}).status_code == 204
    replay = ctx.test_client()
    replay.set_cookie("session", stolen)
    assert replay.get("/api/me").status_code == 401
    assert not signed_in(page)


# --- unknown user names cost as much as wrong passwords -------------------------------------------------

def test_an_unknown_user_name_is_checked_against_a_password_hash(ctx, monkeypatch):
    calls = []
    real = engine.org.check_password_hash

    def spy(pwhash, password):
        calls.append(pwhash)
        return real(pwhash, password)
    monkeypatch.setattr(engine.org, "check_password_hash", spy)
    now = datetime.now(timezone.utc)
    with pytest.raises(InvalidInput):
        engine_sign_in(db.session, "no_such_user_" + uuid.uuid4().hex[:6], "whatever-password", now, "10.9.9.9")
    assert len(calls) == 1
    # the dummy hash is made the way real passwords are hashed (werkzeug's default method)
    assert calls[0].split("$")[0] == generate_password_hash("x").split("$")[0]
    with pytest.raises(InvalidInput):
        engine_sign_in(db.session, HANDLER, "wrong-password", now, "10.9.9.9")
    assert len(calls) == 2
    db.session.rollback()


# --- sign-in limits per address -------------------------------------------------------------------------

def from_address(app, addr: str):
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = addr
    return client


def test_sign_in_is_limited_per_address_on_the_page(ctx):
    attacker = from_address(ctx, "10.66.0.1")
    for i in range(20):
        assert sign_in(attacker, f"guess_{i}", "wrong").status_code == 401
    resp = sign_in(attacker, HANDLER)                      # even a right password, from that address
    assert resp.status_code == 429 and "该地址登录失败次数过多" in body(resp)
    other = from_address(ctx, "10.66.0.2")
    assert sign_in(other, HANDLER).status_code == 302      # other addresses are not affected


def test_sign_in_is_limited_per_address_on_the_api(ctx):
    attacker = from_address(ctx, "10.66.0.3")
    for i in range(20):
        assert attacker.post("/api/session", json={"username": f"g{i}", "password": "x"}).status_code == 401
    resp = attacker.post("/api/session", json={"username": HANDLER, "password": "demo1234"})
    assert resp.status_code == 429 and "该地址登录失败次数过多" in resp.get_json()["message"]


# --- API tokens -----------------------------------------------------------------------------------------

def test_tokens_expire_and_record_their_last_use(ctx, person):
    start = datetime(2026, 6, 1, 1, 0, tzinfo=timezone.utc)
    clock = FixedClock(start)
    ctx.extensions["clock"] = clock
    token = issue_token(db.session, person, start, name="对接系统")
    db.session.commit()
    row = db.session.scalar(select(ApiToken).where(ApiToken.user_id == person.id))
    assert row.expires_at == start + timedelta(days=90) and row.name == "对接系统" and row.last_used_at is None
    api = ctx.test_client()
    headers = {"Authorization": "Bearer " + token}
    clock.advance(timedelta(days=89))
    assert api.get("/api/me", headers=headers).status_code == 200
    db.session.expire_all()
    assert db.session.get(ApiToken, row.id).last_used_at == start + timedelta(days=89)
    clock.advance(timedelta(days=1, seconds=1))
    assert api.get("/api/me", headers=headers).status_code == 401
    short = issue_token(db.session, person, clock.now(), days=1)
    db.session.commit()
    assert api.get("/api/me", headers={"Authorization": "Bearer " + short}).status_code == 200


def test_users_list_and_revoke_their_tokens(ctx, client, person):
    now = datetime.now(timezone.utc)
    first = issue_token(db.session, person, now, name="第一个令牌")
    second = issue_token(db.session, person, now, name="第二个令牌")
    theirs = issue_token(db.session, db.session.scalar(select(User).where(User.username == HANDLER)), now,
                         name="别人的令牌")
    db.session.commit()
    api = ctx.test_client()
    listed = api.get("/api/me/tokens", headers={"Authorization": "Bearer " + first}).get_json()["tokens"]
    assert sorted(t["name"] for t in listed) == ["第一个令牌", "第二个令牌"]
    assert {"id", "name", "created_at", "expires_at", "last_used_at"} <= set(listed[0])
    assert all("hash" not in key for t in listed for key in t)
    ids = {t["name"]: t["id"] for t in listed}
    their_id = db.session.scalar(select(ApiToken.id).where(ApiToken.name == "别人的令牌"))
    h = {"Authorization": "Bearer " + first}
    assert api.delete(f"/api/me/tokens/{their_id}", headers=h).status_code == 404
    assert api.delete(f"/api/me/tokens/{ids['第二个令牌']}", headers=h).status_code == 204
    assert api.get("/api/me", headers={"Authorization": "Bearer " + second}).status_code == 401
    assert api.get("/api/me", headers={"Authorization": "Bearer " + theirs}).status_code == 200
    # the profile page lists the tokens and revokes them with a CSRF-protected post
    sign_in(client, person.username, OLD)
    page = body(client.get("/profile"))
    assert "第一个令牌" in page and "已撤销" in page and "到期时间" in page and "最近使用" in page
    assert "别人的令牌" not in page
    action = f"/profile/tokens/{ids['第一个令牌']}/revoke"
    assert action in page
    assert client.post(action).status_code == 400
    assert client.post(f"/profile/tokens/{their_id}/revoke",
                       data={"csrf_token": csrf(client.get("/profile"))}).status_code == 404
    resp = client.post(action, data={"csrf_token": csrf(client.get("/profile"))})
    assert resp.status_code == 302
    assert api.get("/api/me", headers=h).status_code == 401


def test_the_cli_issues_named_tokens_with_an_expiry(app, ctx, person):
    ctx.extensions["clock"] = FixedClock(datetime(2026, 6, 1, 1, 0, tzinfo=timezone.utc))
    result = app.test_cli_runner().invoke(args=["users", "token", person.username, "--days", "7", "--name", "CI"])
    assert result.exit_code == 0, result.output
    token = result.output.strip().splitlines()[-1]
    assert re.fullmatch(r"[\w-]{40,}", token)
    row = db.session.scalar(select(ApiToken).where(ApiToken.user_id == person.id))
    assert row.name == "CI" and row.expires_at == datetime(2026, 6, 8, 1, 0, tzinfo=timezone.utc)
