"""Administrators and licenses in the console, in Chromium over the real server: admin1 makes
an account and resets its password, catalog1 uploads a broken catalog (every error shown),
loads a changed one and reads the difference, bureau1 finds a license by its number."""

from __future__ import annotations

import re
import uuid

import pytest
import yaml
from playwright.sync_api import expect

from tests.conftest import CATALOG_FILE
from tests.test_applications import draft, fill, upload_required
from tests.test_workflow import post, staff_get

pytestmark = pytest.mark.parametrize("live_server", ["mariadb-redis"], indirect=True)

STRONG = "copper-meadow-listens-73"


def test_admin_and_catalog_pages(console, tmp_path):
    page = console.page
    page.on("dialog", lambda dialog: dialog.accept())  # every data-confirm: yes
    marker = uuid.uuid4().hex[:8]

    # admin1: a new account, then its password reset (shown once)
    console.sign_in("admin1")
    expect(page.get_by_role("heading", name="工作人员", exact=True)).to_be_visible()
    username = f"clerk-{marker}"
    page.get_by_label("用户名（小写字母、数字、. _ -）").fill(username)
    page.get_by_label("姓名").fill("窗口临时专员")
    page.locator("#new-role").select_option("window_commissioner")
    page.get_by_label("初始密码（至少 10 位，不易猜测）").fill(STRONG)
    page.get_by_role("button", name="创建").click()
    expect(page.get_by_role("status")).to_contain_text(f"已创建账号 {username}")
    page.get_by_text(f"管理 {username}").click()
    page.locator(f"tr:has-text('{username}')").get_by_role("button", name="重置密码").click()
    secret = page.locator(".secret")
    expect(secret).to_contain_text(username)
    password = secret.locator(".secret-value").inner_text()
    assert len(password) >= 16 and password != STRONG
    console.assert_no_sideways_scroll()
    console.screenshot("admin-staff")
    console.sign_out()
    console.sign_in(username, password)  # the new password works
    console.sign_out()

    # catalog1: a broken file lists every error and stores nothing; a changed one loads
    console.sign_in("catalog1")
    expect(page.get_by_role("heading", name="行业目录")).to_be_visible()
    data = yaml.safe_load(CATALOG_FILE.read_text(encoding="utf-8"))
    broken = yaml.safe_load(CATALOG_FILE.read_text(encoding="utf-8"))
    broken["permit_items"]["food_business"]["legal_days"] = "twenty"
    broken["industries"]["restaurant"]["colour"] = "red"
    broken["permit_items"]["food_business"]["approving_unit"] = "nowhere"
    (tmp_path / "broken.yaml").write_text(yaml.safe_dump(broken, allow_unicode=True),
                                          encoding="utf-8")
    versions_before = page.locator("table tbody tr").count()
    page.get_by_label("目录文件（YAML，UTF-8）").set_input_files(tmp_path / "broken.yaml")
    page.get_by_role("button", name="校验", exact=True).click()
    errors = page.get_by_role("list", name="目录文件的错误")
    expect(errors.locator("li")).to_have_count(3)  # fields and references in one pass
    expect(errors).to_contain_text("permit_items › food_business › legal_days")
    expect(errors).to_contain_text("industries › restaurant › colour")
    expect(errors).to_contain_text("引用了不存在的单位“nowhere”")
    expect(page.get_by_role("alert").first).to_contain_text("CATALOG_FILE_INVALID")
    assert page.locator("table tbody tr").count() == versions_before  # nothing stored
    console.assert_no_sideways_scroll()
    console.screenshot("catalog-upload-errors")

    data["title"] += f"（修订 {marker}）"
    data["materials"][f"zz_note_{marker}"] = {"name": f"补充说明 {marker}"}
    (tmp_path / "changed.yaml").write_text(yaml.safe_dump(data, allow_unicode=True),
                                           encoding="utf-8")
    page.get_by_label("目录文件（YAML，UTF-8）").set_input_files(tmp_path / "changed.yaml")
    page.get_by_role("button", name="校验并加载").click()
    expect(page.get_by_role("status")).to_contain_text("已加载为第")
    page.get_by_role("button", name="对比").click()  # the two newest, as offered
    expect(page.get_by_role("heading", name=re.compile(r"目录第 \d+ 版 → 第 \d+ 版"))
           ).to_be_visible()
    expect(page.locator("#h-materials")).to_contain_text("新增 1")
    expect(page.get_by_text(f"补充说明 {marker}")).to_be_visible()
    console.assert_no_sideways_scroll()
    console.screenshot("catalog-diff")
    console.sign_out()


def test_a_reviewer_finds_a_license_by_its_number(console, live_server):
    http = live_server.client()
    applicant = live_server.login_applicant(f"i11-admin-shop-{uuid.uuid4().hex[:6]}")
    window, _ = live_server.login_staff("window1")
    bureau, _ = live_server.login_staff("bureau1")
    detail = fill(http, applicant, draft(http, applicant, "convenience_store",
                                         prepackaged_only=True, sells_devices=True))
    upload_required(http, applicant, detail, skip_deferrable=False)
    submitted = http.post(f"/api/mp/v1/applications/{detail['id']}/submit",
                          headers=applicant).json
    post(http, window, f"/applications/{submitted['id']}/accept",
         {"version": submitted["version"]})
    for task in staff_get(http, bureau, "/reviews")["reviews"]:
        if task["application_id"] == submitted["id"]:
            post(http, bureau, f"/reviews/{task['id']}/approve",
                 {"version": task["version"], "opinion": "备案材料齐全"})
    issued = post(http, window, f"/applications/{submitted['id']}/license", status=201)

    page = console.page
    console.open("/console/login?next=/console/licenses")  # straight to the licenses
    page.get_by_label("用户名").fill("bureau1")
    page.get_by_label("密码").fill("demo-password-1")
    page.get_by_role("button", name="登录").click()
    page.get_by_label("证号、统一社会信用代码或经营主体名称（从开头匹配）").fill(issued["license_no"])
    page.get_by_role("button", name="查找").click()
    page.get_by_role("link", name=issued["license_no"]).click()
    expect(page.get_by_role("heading", name=f"行业综合许可证 {issued['license_no']}")
           ).to_be_visible()
    expect(page.locator("img.page")).to_be_visible()
    assert page.locator("img.page").evaluate("img => img.naturalWidth") > 0  # the face loads
    expect(page.get_by_role("link", name="PDF")).to_be_visible()
    # each 证照标识 shown (long: it wraps, never pushes the page sideways)
    for item in issued["items"]:
        expect(page.get_by_text(item["elicense"]["identifier"]).first).to_be_visible()
    console.assert_no_sideways_scroll()
    console.screenshot("license-page")
    # found again by a permit's 证照标识
    console.open("/console/licenses")
    page.get_by_label("或证照标识").fill(issued["items"][0]["elicense"]["identifier"])
    page.get_by_role("button", name="查找").click()
    expect(page.get_by_role("link", name=issued["license_no"])).to_be_visible()
    console.assert_no_sideways_scroll()
