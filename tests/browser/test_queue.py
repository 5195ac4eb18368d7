"""待分派 in the browser (issue 9): a supervision officer sees the count in the navigation, opens the queue of
tasks nobody can take, and gives one to a person in another unit; the case goes on there."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from ..test_case_referral import PREPARE, receiver, refer
from ..test_routing import inactive

pytestmark = pytest.mark.realtime


def test_a_supervisor_assigns_a_task_nobody_could_take(user, client, token):
    with inactive("guan_cgzf_handler"):                   # the only handler of 固安县城管局 is away
        sender = refer(client, token, "guan_scjg_handler", "lf.guan.cgzf", number="浏览器-待分派-1")
        sender.do("制作移送函并移送材料", "handler", "lf.guan.scjg", "guan_scjg_handler", PREPARE)
        rcv = receiver(sender, "guan_sup")
        task = rcv.expect("审查移送案件并答复", "handler", "lf.guan.cgzf", "guan_sup")
        user.sign_in("guan_sup")
        page = user.page
        expect(page.locator("#nav-queue")).to_contain_text("待分派")
        expect(page.locator("#count-queue")).to_have_text("1")
        page.locator("#nav-queue").click()
        expect(page.get_by_role("heading", name="待分派任务")).to_be_visible()
        row = page.locator(f"#queue-{task['id']}")
        expect(row).to_contain_text("审查移送案件并答复")
        expect(row).to_contain_text("固安县城市管理综合行政执法局没有在岗的承办人")
        user.shot(page, "queue")
        row.locator("select[name=target]").select_option("lf.guan.yjgl|guan_yjgl_handler")
        row.get_by_role("button", name="分派").click()
        expect(page.get_by_role("status")).to_contain_text("已交由")
        expect(page.locator(f"#queue-{task['id']}")).to_have_count(0)
        expect(page.locator("#count-queue")).to_have_text("0")
        user.shot(page, "queue-assigned")
    assigned = rcv.expect("审查移送案件并答复", "handler", "lf.guan.yjgl", "guan_yjgl_handler")
    assert assigned["claimed_by"] == "guan_yjgl_handler"
