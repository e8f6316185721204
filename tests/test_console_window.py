"""一窗受理 in the console (console/window.py): the queue's counts and clock filters, a case
as submitted, the window's actions with their refusals in place, and the printed documents."""

from __future__ import annotations

import io
import re
from datetime import date, timedelta

import pytest
from pypdf import PdfReader
from sqlalchemy import select

from backend.models import Application, ApplicationItem, License, StaffAccount
from backend.services import staff as staff_service
from tests.conftest import STAFF_PASSWORD
from tests.test_console_session import csrf_of, sign_in
from tests.test_workflow import RESTAURANT, STAFF, post, rectifying, statements, submitted

CASE = "/console/applications"


@pytest.fixture
def window_client(client, session):
    """The test client signed in to the console as a window commissioner."""
    staff_service.create(session, username="window-w", display_name="窗口乙",
                         role="window_commissioner", unit_code=None, password=STAFF_PASSWORD)
    session.commit()
    assert sign_in(client, username="window-w").status_code == 302
    return client


def act(client, app_id: int, action: str, **form):
    page = client.get(f"{CASE}/{app_id}")
    return client.post(f"{CASE}/{app_id}/actions/{action}",
                       data={"csrf_token": csrf_of(page.text), **form})


def version_of(session, app_id: int) -> int:
    session.expire_all()
    return session.get(Application, app_id).lock_version


def pdf_text(resp) -> str:
    assert resp.status_code == 200 and resp.mimetype == "application/pdf"
    assert resp.headers["Content-Disposition"].startswith("inline")
    return "".join(p.extract_text() for p in PdfReader(io.BytesIO(resp.data)).pages)


def test_queue_counts_each_tab_and_filters_by_clock(window_client, login, staff_login,
                                                    session):
    applicant = login("queue-owner")
    waiting = submitted(window_client, applicant, **RESTAURANT)
    running = submitted(window_client, applicant, **RESTAURANT)
    api, _ = staff_login("window_commissioner")
    post(window_client, api, f"/applications/{running['id']}/accept",
         {"version": running["version"]})
    item = session.scalars(select(ApplicationItem).where(
        ApplicationItem.application_id == running["id"])).first()
    item.due_on = date.today() - timedelta(days=20)  # long past: overdue
    session.commit()

    page = window_client.get("/console/window")
    assert page.status_code == 200
    counts = dict(re.findall(r'data-count="(\w+)">(\d+)<', page.text))
    assert counts == {"submitted": "1", "supplement_requested": "0", "in_review": "1",
                      "approved": "0", "licensed": "0", "due_soon": "0", "overdue": "1"}
    assert f'href="{CASE}/{waiting["id"]}"' in page.text
    assert "太原市小店区晋味饭店有限公司" in page.text and "饭店" in page.text
    assert f'href="{CASE}/{running["id"]}"' not in page.text

    overdue = window_client.get("/console/window?clock=overdue", headers={"HX-Request": "true"})
    assert "<html" not in overdue.text and 'hx-swap-oob="true"' in overdue.text
    assert f'href="{CASE}/{running["id"]}"' in overdue.text
    assert re.search(r'<span class="overdue">-\d+</span>', overdue.text)  # working days over
    assert 'aria-current="page" class="clock-overdue"' in overdue.text

    polled = window_client.get("/console/window/counts?status=in_review")
    assert 'hx-trigger="every 60s"' in polled.text and 'data-count="in_review">1<' in polled.text
    assert window_client.get("/console/window?clock=later").status_code == 404
    paged = window_client.get("/console/window?status=in_review&per_page=1&page=1")
    assert "下一页" not in paged.text and "上一页" not in paged.text
    waiting_two = submitted(window_client, applicant, **RESTAURANT)
    first = window_client.get("/console/window?per_page=1")
    assert "下一页" in first.text and f'href="{CASE}/{waiting["id"]}"' in first.text
    second = window_client.get("/console/window?per_page=1&page=2")
    assert "上一页" in second.text and f'href="{CASE}/{waiting_two["id"]}"' in second.text
    assert window_client.get(f"{STAFF}/applications?clock=overdue",
                             headers=api).json["total"] == 1


def test_the_case_shows_the_form_materials_lanes_and_timeline(window_client, login):
    app = submitted(window_client, login("case-owner"), **RESTAURANT)
    page = window_client.get(f"{CASE}/{app['id']}")
    assert page.status_code == 200
    assert "经营主体名称" in page.text and "太原市小店区晋味饭店有限公司" in page.text
    assert "{" not in page.text.split("<main", 1)[1]  # labels and values, no JSON
    assert re.search(r'<img class="page" id="file-\d+" src="[^"]+/files/', page.text)
    assert "data-rotate=" in page.text
    assert "提交申请" in page.text  # the timeline
    # what the workflow allows a commissioner on a submitted case, and nothing else
    assert re.findall(r"/actions/(\w+)", page.text) == ["accept", "request_supplements",
                                                        "reject"]
    assert f'name="version" value="{app["version"]}"' in page.text
    assert page.text.count("data-confirm=") == 3
    assert "容缺受理" in page.text  # the deferred materials are named on the accept form


def test_accept_prints_a_numbered_acceptance_notice(window_client, login, session):
    app = submitted(window_client, login("accept-owner"), **RESTAURANT)
    resp = act(window_client, app["id"], "accept", version=app["version"], note="材料齐全")
    assert resp.status_code == 302 and resp.location.endswith(f"{CASE}/{app['id']}")
    page = window_client.get(resp.location)
    assert "已受理" in page.text and "/documents/acceptance.pdf" in page.text
    assert "联合现场核查" in page.text and "待安排核查" in page.text  # the inspection opened
    assert re.search(r'<span class="(on-time|due-soon)">\d+</span>', page.text)  # lane clocks
    assert "消防救援机构" in page.text and "审查中" in page.text
    accepted = session.get(Application, app["id"])
    assert accepted.status == "in_review"
    text = pdf_text(window_client.get(f"{CASE}/{app['id']}/documents/acceptance.pdf"))
    number = f"第{accepted.acceptance_number}号"
    assert number in text and "受理通知书" in text and "晋政办发〔2022〕90号" in text
    assert "行政审批服务管理局" in text
    # accepted with materials still to come (容缺): never called complete (read across lines)
    flat = re.sub(r"\s+", "", text)
    assert "申请材料基本齐全" in flat and "申请材料齐全" not in flat and "容缺受理" in flat
    again = pdf_text(window_client.get(f"{CASE}/{app['id']}/documents/acceptance.pdf"))
    assert number in again  # a reprint keeps its number
    assert window_client.get(f"{CASE}/{app['id']}/documents/not_accepted.pdf").status_code == 404


def test_a_stale_page_is_told_in_place(window_client, login, session):
    app = submitted(window_client, login("stale-owner"), **RESTAURANT)
    resp = act(window_client, app["id"], "accept", version=app["version"] - 1 or 999)
    assert resp.status_code == 409 and "VERSION_CONFLICT" in resp.text
    assert 'role="alert"' in resp.text
    assert session.get(Application, app["id"]).status == "submitted"


def test_not_accepting_needs_a_reason_and_prints_the_decision(window_client, login, session):
    app = submitted(window_client, login("reject-owner"), **RESTAURANT)
    resp = act(window_client, app["id"], "reject", version=app["version"])
    assert resp.status_code == 422 and "FORM_INVALID" in resp.text
    assert 'aria-invalid="true"' in resp.text
    resp = act(window_client, app["id"], "reject", version=app["version"],
               reason="经营场所不在本行政区域内")
    assert resp.status_code == 302
    text = pdf_text(window_client.get(f"{CASE}/{app['id']}/documents/not_accepted.pdf"))
    number = session.get(Application, app["id"]).submission_number
    assert "不受字〔" in text and f"第{number}号" in text
    assert "经营场所不在本行政区域内" in text and "行政复议" in text and "行政诉讼" in text
    assert "第三十二条" in text
    assert window_client.get(f"{CASE}/{app['id']}/documents/acceptance.pdf").status_code == 404
    # the case is closed: no action is offered, and one sent anyway is refused in place
    assert "/actions/" not in window_client.get(f"{CASE}/{app['id']}").text
    late = act(window_client, app["id"], "accept", version=version_of(session, app["id"]))
    assert late.status_code == 409 and "STATE_CONFLICT" in late.text


def test_one_supplement_notice_lists_each_pick(window_client, login, session):
    app = submitted(window_client, login("supplement-owner"), **RESTAURANT)
    empty = act(window_client, app["id"], "request_supplements", version=app["version"])
    assert empty.status_code == 422 and "SUPPLEMENT_DEMANDS_EMPTY" in empty.text
    resp = act(window_client, app["id"], "request_supplements", version=app["version"],
               fields=["premises_address"], materials=["premises_proof"],
               note="租赁合同须有出租方签章")
    assert resp.status_code == 302
    stored = session.get(Application, app["id"])
    assert stored.status == "supplement_requested"
    subjects = [d["subject"] for d in stored.supplement_notice["demands"]]
    assert subjects[0] == "经营场所详细地址" and subjects[1].startswith("经营场所使用证明")
    text = pdf_text(window_client.get(f"{CASE}/{app['id']}/documents/supplements.pdf"))
    assert f"第{stored.submission_number}-1号" in text and "一次性补正告知书" in text
    assert "经营场所详细地址" in text and "经营场所使用证明" in text
    assert "租赁合同须有出租方签章" in text


def test_refuse_and_issue_are_offered_only_when_the_workflow_allows(window_client, login,
                                                                    staff_login, session):
    app = submitted(window_client, login("decide-owner"), **RESTAURANT)
    api, _ = staff_login("window_commissioner")
    post(window_client, api, f"/applications/{app['id']}/accept", {"version": app["version"]})
    assert "/actions/" not in window_client.get(f"{CASE}/{app['id']}").text  # under review
    refused = act(window_client, app["id"], "refuse", version=version_of(session, app["id"]),
                  reason="不符合条件")
    assert refused.status_code == 422 and "REFUSAL_NEEDS_REFUSED_ITEM" in refused.text

    stored = session.get(Application, app["id"])
    for item in stored.items:
        item.status = "approved"
    stored.status = "approved"  # as the units and the inspection would leave it
    session.commit()
    page = window_client.get(f"{CASE}/{app['id']}")
    assert re.findall(r"/actions/(\w+)", page.text) == ["issue"]
    resp = act(window_client, app["id"], "issue", version=version_of(session, app["id"]))
    assert resp.status_code == 302
    session.expire_all()
    assert session.get(Application, app["id"]).status == "licensed"
    license_ = session.scalar(select(License).where(License.application_id == app["id"]))
    page = window_client.get(resp.headers["Location"]).text  # the clerk is told its number
    assert f"已核发行业综合许可证（证号 {license_.license_no}）" in page
    assert (f'<a href="/console/licenses/{license_.id}">{license_.license_no}</a>'
            in page)  # and the case leads to it


def test_a_case_that_is_not_yours_is_a_404_page(window_client, client, login, session):
    app = submitted(window_client, login("hidden-owner"), **RESTAURANT)
    assert window_client.get(f"{CASE}/999999").status_code == 404
    assert window_client.get(f"{CASE}/{app['id']}/documents/receipt.pdf").status_code == 404
    client.post("/console/logout", data={"csrf_token": csrf_of(client.get("/console/window").text)})
    staff_service.create(session, username="inspector-x", display_name="核查员", role="inspector",
                         unit_code="fire", password=STAFF_PASSWORD)
    session.commit()
    sign_in(client, username="inspector-x")
    page = client.get(f"{CASE}/{app['id']}")
    assert page.status_code == 404 and "APPLICATION_NOT_FOUND" in page.text
    assert client.get(f"{CASE}/{app['id']}/documents/acceptance.pdf").status_code == 404


def test_the_queue_costs_the_same_queries_for_one_case_or_three(app, window_client, login,
                                                                 staff_login):
    """No query per row: counts are grouped, the clocks of a page come from one calendar read."""
    applicant, (api, _) = login("cost-owner"), staff_login("window_commissioner")
    cost = {}
    for n in (1, 3):
        while len(window_client.get(f"{STAFF}/applications?status=in_review",
                                    headers=api).json["applications"]) < n:
            case = submitted(window_client, applicant, **RESTAURANT)
            post(window_client, api, f"/applications/{case['id']}/accept",
                 {"version": case["version"]})
        window_client.get("/console/window?status=in_review")  # warm: catalog, session
        cost[n] = (statements(app, lambda: window_client.get(
            "/console/window?status=in_review")))
    assert len(cost[1]) == len(cost[3]), "\n".join(cost[3])


def test_the_case_shows_names_not_codes(window_client, login, staff_login, session):
    """Premises as division names, the inspection team as people and units, the results
    with item names and labels; no code a person would have to look up."""
    _, _, app, inspection = rectifying(window_client, login, staff_login, session)
    main = window_client.get(f"{CASE}/{app['id']}").text.split("<main", 1)[1]
    assert "<dd>太原市</dd>" in main and "<dd>小店区</dd>" in main
    assert "140100" not in main and "140105" not in main
    team = session.scalars(select(StaffAccount).where(
        StaffAccount.id.in_([m["staff_id"] for m in inspection["team"]]))).all()
    assert len(team) == 2
    for member in team:
        assert f"{member.display_name}（" in main
    assert "（行政审批服务管理局）" in main and "人员 #" not in main
    assert "需整改" in main and "rectify" not in main
    for code in inspection["item_codes"]:
        assert f"<td>{code}</td>" not in main
