"""帮办代办 in Chromium over the real server: the window applies for a walk-in, and the
applicant takes the case over in the mini-program with the code."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.media_files import phone_jpeg
from tests.test_applications import BASE, VALID_ENTITY

pytestmark = pytest.mark.parametrize("live_server", ["mariadb-redis"], indirect=True)

ANSWERS = {"applicant_is_agent": "false", "floor_area": "450", "investment": "80",
           "sells_alcohol": "false", "sells_tobacco": "true", "outdoor_sign": "false"}


def fill_the_merged_form(page) -> None:
    """Every control as a clerk fills it: the entity's values, a sensible answer elsewhere."""
    for control in page.locator('form [name^="fields."]').all():
        code = control.get_attribute("name").removeprefix("fields.")
        tag, kind = control.evaluate("e => [e.tagName, e.type]")
        if kind == "checkbox":
            control.check()  # a multiple choice: the first option suffices
        elif tag == "SELECT":
            if code in VALID_ENTITY:
                control.select_option(VALID_ENTITY[code])
            elif code == "fire_application_mode":  # 告知承诺 is the applicant's own signature
                control.select_option("inspection")
            else:
                control.select_option(index=1)
        elif code in VALID_ENTITY:
            control.fill(VALID_ENTITY[code])
        elif not control.input_value():
            control.fill({"date": "2026-12-01"}.get(kind) or (
                "10" if control.get_attribute("inputmode") == "decimal" else "测试内容"))


def test_the_window_applies_for_a_walk_in_who_then_claims_it(console, live_server):
    page = console.sign_in("window1")
    page.on("dialog", lambda dialog: dialog.accept())  # data-confirm before changing a case
    page.get_by_role("link", name="帮办代办").click()
    page.get_by_role("link", name="新建代办申请").click()
    page.get_by_label("行业").select_option(label="饭店（餐饮）")
    page.get_by_role("button", name="选择行业").click()
    for code, value in ANSWERS.items():
        answer = page.locator(f'[name="answers.{code}"]')
        if value in {"true", "false"}:
            page.locator(f'[name="answers.{code}"][value="{value}"]').check()
        else:
            answer.fill(value)
    page.get_by_label("到场办理人姓名").fill("王五")
    page.get_by_label("证件类型").select_option(label="居民身份证")
    page.get_by_label("证件号码").fill(VALID_ENTITY["legal_rep_id_number"])
    page.get_by_label("已当面核验证件原件").check()
    page.get_by_role("button", name="创建代办申请").click()
    expect(page.get_by_role("heading", name="窗口代办：饭店")).to_be_visible()
    expect(page.locator(".facts")).to_contain_text("3604**********0071，已当面核验")

    fill_the_merged_form(page)
    page.get_by_role("button", name="保存申请表").click()
    expect(page.get_by_role("status")).to_contain_text("申请表已保存")
    for seed in range(30, 40):  # a scan for each material still missing
        missing = page.locator(".materials li").filter(has_text="尚未上传")
        if missing.count() == 0:
            break
        card = missing.first
        card.locator('input[type="file"]').set_input_files(files=[{
            "name": "scan.jpg", "mimeType": "image/jpeg",
            "buffer": phone_jpeg(1200, 900, seed=seed)}])
        card.get_by_role("button", name="上传", exact=True).click()
        expect(page.get_by_role("status")).to_contain_text("材料已上传")
    assert page.locator(".materials li").filter(has_text="尚未上传").count() == 0
    expect(page.locator("img.thumb").first).to_be_visible()
    console.assert_no_sideways_scroll()
    console.screenshot("assisted-draft")

    page.get_by_role("button", name="代为提交").click()
    expect(page.get_by_role("status")).to_contain_text("已进入受理队列")
    number = re.search(r"SX\d{15}", page.get_by_role("status").inner_text()).group(0)
    page.get_by_role("button", name="出具认领码").click()
    code = page.get_by_test_id("claim-code").inner_text()
    assert re.fullmatch(r"\d{8}", code)
    console.assert_no_sideways_scroll()
    console.screenshot("assisted-code")

    # the applicant, in the mini-program: the code moves the case to them, once
    http, applicant = live_server.client(), live_server.login_applicant("i11-walkin-claim")
    claimed = http.post(f"{BASE}/claim", json={"code": code}, headers=applicant)
    assert claimed.status_code == 200, claimed.json
    [summary] = claimed.json["applications"]
    assert summary["submission_number"] == number and summary["status"] == "submitted"
    mine = http.get(BASE, headers=applicant).json["applications"]
    assert summary["id"] in [a["id"] for a in mine]
    detail = http.get(f"{BASE}/{summary['id']}", headers=applicant).json
    assert any("窗口代办" in e["actor"] for e in detail["timeline"])
    again = http.post(f"{BASE}/claim", json={"code": code},
                      headers=live_server.login_applicant("i11-walkin-late"))
    assert again.status_code == 422 and again.json["code"] == "ASSIST_CLAIM_CODE_INVALID"
