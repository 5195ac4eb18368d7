"""征求专家意见 in the browser (issue 12 §2): the reviewer who consults the expert panel narrows the expert pickers
by field of expertise — typing 生态 keeps 李环保（生态环境、…） and hides the others — and the chosen expert stays."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.test_major_decision_review import REVIEWER, start, submit_and_accept

pytestmark = pytest.mark.realtime


def test_the_reviewer_filters_the_experts_by_field(page, user, shot, client, token, case_number):
    number = case_number()
    case = start(client, token, case_number=number, complex_case=True)
    submit_and_accept(case)

    user.sign_in(REVIEWER)
    user.open_task("待认领", number, "法制审核")
    user.yes_no("consult_experts", True)
    picker, box = page.locator("#in-consult_expert_1"), page.locator("#in-consult_expert_1-filter")
    expect(box).to_be_visible()
    expect(box).to_have_attribute("placeholder", "按姓名或专业领域筛选")
    visible = picker.locator("option:not([hidden])")
    expect(visible.filter(has_text="李环保")).to_have_count(1)
    assert visible.filter(has_text="王法理").count() == 1           # every active expert before filtering
    box.fill("生态")
    expect(visible.filter(has_text="王法理")).to_have_count(0)
    expect(visible.filter(has_text="李环保")).to_have_count(1)
    picker.select_option(label=visible.filter(has_text="李环保").first.inner_text())
    shot(page, "experts-filtered")
    box.fill("")
    expect(visible.filter(has_text="王法理")).to_have_count(1)
    expect(picker).to_have_value("expert_li")
