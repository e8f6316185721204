"""好差评 in the console (console/ratings.py), in process: the window's rating tablet records
the applicant's choice once, refusals in place; a unit works its rectification task through
the console's forms; administrators see every task but act on none."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select

from backend import clock
from backend.models import StaffAccount
from backend.models.ratings import RectificationTask, ServiceRating
from tests.test_console_admin import signed_in
from tests.test_console_session import csrf_of
from tests.test_ratings import not_accepted, rate

CASE = "/console/applications"


def ratings_kept(session) -> int:
    return session.scalar(select(func.count()).select_from(ServiceRating))


def test_the_tablet_records_the_applicants_choice_once(client, login, staff_login, session):
    applicant = login("at-the-window")
    closed = not_accepted(client, applicant, staff_login("window_commissioner")[0])
    signed_in(client, session, "window-t", "window_commissioner")
    clerk = session.scalar(select(StaffAccount.id).where(StaffAccount.username == "window-t"))
    url = f"{CASE}/{closed['id']}/rating"
    assert f'href="{url}"' in client.get(f"{CASE}/{closed['id']}").text

    levels = client.get(url)
    assert levels.status_code == 200
    assert [v for v in ("very_satisfied", "satisfied", "basically_satisfied", "dissatisfied",
                        "very_dissatisfied") if f'name="level" value="{v}"' in levels.text] \
        == ["very_satisfied", "satisfied", "basically_satisfied", "dissatisfied",
            "very_dissatisfied"]
    assert 'aria-label="主导航"' not in levels.text  # the applicant holds it: no navigation
    reasons = client.get(url, query_string={"level": "dissatisfied"})
    assert 'value="slow"' in reasons.text and 'value="efficient"' not in reasons.text
    assert client.get(url, query_string={"level": "great"}).status_code == 404

    token = csrf_of(reasons.text)
    tampered = client.post(url, data={"csrf_token": token, "level": "dissatisfied",
                                      "tags": ["efficient"], "comment": "排队等了两个小时"})
    assert tampered.status_code == 422 and "RATING_INVALID" in tampered.text
    assert "“efficient”不是“不满意”可选的原因" in tampered.text
    assert "排队等了两个小时" in tampered.text  # what was typed is kept
    assert ratings_kept(session) == 0

    sent = client.post(url, data={"csrf_token": token, "level": "dissatisfied",
                                  "tags": ["slow", "many_trips"], "comment": "排队等了两个小时",
                                  "unit": ""})
    assert sent.status_code == 302 and sent.location == url
    rating = session.scalar(select(ServiceRating))
    assert (rating.channel, rating.recorded_by, rating.unit_code, rating.score, rating.tags) == (
        "window", clerk, "approval_bureau", 2, ["slow", "many_trips"])
    thanks = client.get(url).text
    assert "感谢您的评价" in thanks and "您的评价：不满意" in thanks and "回访您" in thanks
    assert session.scalar(select(RectificationTask.unit_code)) == "approval_bureau"

    again = client.post(url, data={"csrf_token": token, "level": "very_satisfied"})
    assert again.status_code == 409 and "RATING_ALREADY_GIVEN" in again.text
    assert ratings_kept(session) == 1
    timeline = client.get(f"{CASE}/{closed['id']}").text
    assert "申请人（在窗口评价器上）评价本次办理（不予受理）：不满意" in timeline


def test_the_unit_works_its_task_and_the_administrator_oversees_it(client, login, staff_login,
                                                                   session):
    applicant = login("complains")
    closed = not_accepted(client, applicant, staff_login("window_commissioner")[0])
    rate(client, applicant, closed["id"], level="very_dissatisfied", comment="窗口态度生硬")
    task_id = session.scalar(select(RectificationTask.id))
    page = f"/console/rectifications/{task_id}"

    token = signed_in(client, session, "bureau-r", "unit_reviewer", "approval_bureau",
                      page="/console/rectifications")
    listing = client.get("/console/rectifications").text
    assert f'href="{page}"' in listing and "非常不满意" in listing
    detail = client.get(page).text
    assert "窗口态度生硬" in detail and "13812345678" in detail and "记录核实情况" in detail

    missing = client.post(f"{page}/verify", data={"csrf_token": token, "version": "1",
                                                  "founded": "true"})
    assert missing.status_code == 422 and "此项必填" in missing.text
    assert client.post(f"{page}/verify", data={
        "csrf_token": token, "version": "1", "founded": "true",
        "notes": "调取录像属实，已对窗口人员批评教育"}).status_code == 302
    later = (datetime.now(clock.CHINA) + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    refused = client.post(f"{page}/follow-up", data={
        "csrf_token": token, "version": "2", "contacted_at": later, "method": "phone",
        "applicant_said": "接受道歉", "satisfied": "true"})
    assert refused.status_code == 422 and "回访时间应在评价之后、现在之前" in refused.text
    assert "接受道歉" in refused.text
    now = datetime.now(clock.CHINA).strftime("%Y-%m-%dT%H:%M")
    assert client.post(f"{page}/follow-up", data={
        "csrf_token": token, "version": "2", "contacted_at": now, "method": "phone",
        "applicant_said": "接受道歉", "satisfied": "true"}).status_code == 302
    assert client.post(f"{page}/close", data={"csrf_token": token, "version": "3"}
                       ).status_code == 302
    done = client.get(page).text
    assert "已办结" in done and "记录核实情况" not in done
    assert done.count("bureau-r（审批单位审核人员）") == 3  # verified, followed up, closed

    signed_in(client, session, "admin-r", "system_admin")
    closed_list = client.get("/console/rectifications?view=closed").text
    assert f'href="{page}"' in closed_list and "行政审批服务管理局" in closed_list
    oversight = client.get(page).text
    assert "138****5678" in oversight and "<form method=\"post\" action=\"/console/rect" \
        not in oversight
    assert client.get("/console/rectifications?view=later").status_code == 404
