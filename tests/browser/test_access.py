"""Who may see what (issue 5): pages need a session; a reviewer of another county cannot open, or act on,
a task of 固安县; a form posted without the page's CSRF token is refused and changes nothing."""
from __future__ import annotations

import re
from urllib.parse import parse_qs, urlparse

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.realtime

HANDLER, REVIEWER, OTHER_REVIEWER = "guan_guanzhen_handler", "guan_guanzhen_sfs", "sanhe_review"


def on_login_page(page, came_from: str) -> None:
    """The browser shows /login, which will lead back to ``came_from`` after signing in."""
    url = urlparse(page.url)
    assert url.path == "/login", page.url
    assert urlparse(parse_qs(url.query)["next"][0]).path == came_from, page.url
    expect(page.get_by_role("heading", name="登录")).to_be_visible()


def case_waiting_for_review(user, number: str) -> tuple[int, str]:
    """The handler starts a major case and submits the package; returns the case id and the address of the
    completeness check now offered to 固安镇司法所 (the township's legal review office), as the case
    page links it."""
    user.sign_in(HANDLER)
    case_id = user.start_major_decision_review(number)
    user.submit_package(number)
    page = user.page
    page.goto(f"/cases/{case_id}")
    row = page.locator("#open-tasks tbody tr").filter(has=page.get_by_role("link", name="审查材料是否齐全"))
    expect(row).to_have_count(1)
    expect(row).to_contain_text("固安镇司法所")
    link = row.get_by_role("link", name="审查材料是否齐全")
    href = link.get_attribute("href")
    assert re.fullmatch(r"/tasks/[0-9a-f-]{36}", href), href
    user.sign_out()
    return case_id, href


def test_pages_need_a_session_and_bring_you_back(page, shot):
    response = page.goto("/")
    assert response.ok
    on_login_page(page, "/")
    expect(page.locator("header.top nav.main")).to_have_count(0)            # nothing of the inbox shown
    expect(page.locator("header.top a.who")).to_have_count(0)
    shot(page, "login-redirect")

    page.goto("/start")
    on_login_page(page, "/start")
    page.get_by_label("用户名").fill(HANDLER)
    page.get_by_label("密码").fill("wrong-password")
    page.locator("main form").get_by_role("button", name="登录").click()
    expect(page.get_by_role("alert")).to_have_text("用户名或密码错误。")
    shot(page, "login-wrong-password")
    page.get_by_label("密码").fill("demo1234")
    page.locator("main form").get_by_role("button", name="登录").click()
    expect(page).to_have_url(re.compile(r"/start$"))                      # back where the visit began
    expect(page.get_by_role("heading", name="发起流程")).to_be_visible()
    shot(page, "start-after-login")


def test_reviewer_of_another_county_cannot_open_the_task(page, user, another_user, shot, case_number):
    number = case_number()
    case_id, task_url = case_waiting_for_review(user, number)

    other_user = another_user()
    other = other_user.page
    other_user.sign_in(OTHER_REVIEWER)
    expect(other.locator("header.top a.who")).to_have_text("三河市司法局法制审核")
    expect(other_user.tab("待认领").filter(has_text=number)).to_have_count(0)   # not offered to 三河市

    response = other.goto(task_url)
    assert response.status in (403, 404)
    expect(other.locator("main h1")).to_have_text(re.compile("^(未找到|无权访问)$"))
    expect(other.locator("main")).not_to_contain_text(number)
    expect(other.locator("#task-form")).to_have_count(0)
    shot(other, "task-refused")

    response = other.goto(f"/cases/{case_id}")
    assert response.status in (403, 404)
    expect(other.locator("main")).not_to_contain_text(number)
    shot(other, "case-refused")

    # a claim with the reviewer's own valid token is refused as well
    token = other.locator("header.top input[name=csrf_token]").get_attribute("value")
    response = other.request.post(task_url + "/claim", form={"csrf_token": token, "next": "/"}, max_redirects=0)
    assert response.status in (403, 404)

    # the reviewer of 固安镇司法所 still finds it unclaimed
    user.sign_in(REVIEWER)
    row = user.row("待认领", number, "审查材料是否齐全")
    expect(row.get_by_role("button", name="认领")).to_be_visible()
    page.goto(task_url)
    expect(page.locator("main h1")).to_have_text("审查材料是否齐全")
    expect(page.locator("dl.facts")).to_contain_text("尚无人认领")
    shot(page, "task-for-the-right-reviewer")


def test_a_form_without_the_csrf_token_is_refused(page, user, shot, case_number):
    number = case_number()
    _case_id, task_url = case_waiting_for_review(user, number)

    user.sign_in(REVIEWER)
    row = user.row("待认领", number, "审查材料是否齐全")
    expect(row.get_by_role("button", name="认领")).to_be_visible()
    # the claim form as another site would post it: everything but the token
    row.locator("input[name=csrf_token]").evaluate("input => input.remove()")
    expect(row.locator("input[name=csrf_token]")).to_have_count(0)
    with page.expect_response(lambda r: r.url.endswith("/claim")) as claim:
        row.get_by_role("button", name="认领").click()
    assert claim.value.status == 400
    expect(page.locator("main h1")).to_have_text("请求有误")
    expect(page.locator("main")).to_contain_text("表单已过期或并非来自本网站，请刷新页面后重试。")
    shot(page, "claim-without-token")

    # nothing changed: still offered to the group, not in 我的待办
    expect(user.row("待认领", number, "审查材料是否齐全").get_by_role("button", name="认领")).to_be_visible()
    expect(user.tab("我的待办").filter(has_text=number)).to_have_count(0)
    shot(page, "still-to-claim")

    # the same for posts made without any page: no token, a wrong token; signing out needs it too
    assert page.request.post(task_url + "/claim", form={"next": "/"}, max_redirects=0).status == 400
    assert page.request.post(task_url + "/claim", form={"csrf_token": "forged", "next": "/"},
                             max_redirects=0).status == 400
    assert page.request.post(task_url + "/complete", form={"package_complete": "true"},
                             max_redirects=0).status == 400
    assert page.request.post("/logout", max_redirects=0).status == 400
    page.reload()
    expect(page.locator("header.top a.who")).to_have_text("固安镇司法所")   # still signed in
    expect(user.tab("我的待办").filter(has_text=number)).to_have_count(0)
    page.goto(task_url)
    expect(page.locator("dl.facts")).to_contain_text("尚无人认领")
    shot(page, "task-unchanged")
