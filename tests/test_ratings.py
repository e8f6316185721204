"""政务服务"好差评" in process, on SQLite and MariaDB: a closed case rated once in the
mini-program, within its window, by its own applicant only; a 不满意 opening a rectification
task for its unit with a working-day deadline, worked through verification, follow-up and
closing; overdue tasks flagged under a frozen clock; the figures per unit and period."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import func, select

from backend import clock
from backend.models import Application, ApplicationEvent, StaffAccount
from backend.models.base import utcnow
from backend.models.ratings import RectificationTask, ServiceRating
from backend.services import ratings, rectifications
from config.settings import SettingsError, load
from notifications import tick as jobs
from notifications.outbox import OutboxMessage
from tests.test_app import assert_envelope, bad_fields
from tests.test_calendar import cal, cal2026  # noqa: F401 - fixtures
from tests.test_collaborators import helpers_on_draft
from tests.test_licenses import licensed  # noqa: F401 - the fixture
from tests.test_notifications_api import _bare_application, _tick
from tests.test_workflow import RESTAURANT, STAFF, accepted, post, staff_get, submitted

MP = "/api/mp/v1"


def not_accepted(client, applicant, commissioner) -> dict:
    """A restaurant the window refuses to accept (不予受理): closed, stage not_accepted."""
    app = submitted(client, applicant, **RESTAURANT)
    return post(client, commissioner, f"/applications/{app['id']}/reject",
                {"version": app["version"], "reason": "经营场所不在本县"})


def refused(client, applicant, commissioner, fire_reviewer) -> dict:
    """A restaurant whose fire safety check 消防 refuses, then 不予许可 of the whole case."""
    detail = accepted(client, applicant, commissioner, floor_area=450, investment=80)
    task = staff_get(client, fire_reviewer, "/reviews")["reviews"][0]
    post(client, fire_reviewer, f"/reviews/{task['id']}/refuse",
         {"version": task["version"], "opinion": "疏散通道不符合 GB 50016"})
    current = staff_get(client, commissioner, f"/applications/{detail['id']}")
    return post(client, commissioner, f"/applications/{detail['id']}/refuse",
                {"version": current["version"], "reason": "消防安全检查不合格"})


def rate(client, applicant, app_id: int, status: int = 201, **body) -> dict:
    resp = client.post(f"{MP}/applications/{app_id}/rating", headers=applicant,
                       json={"level": "satisfied"} | body)
    assert resp.status_code == status, resp.json
    return resp.json


def counts(session) -> tuple[int, int]:
    return (session.scalar(select(func.count()).select_from(ServiceRating)),
            session.scalar(select(func.count()).select_from(RectificationTask)))


def frozen(monkeypatch, at: datetime) -> None:
    """The services' clock stopped at ``at`` (what they store as now, and Beijing's today)."""
    monkeypatch.setattr(ratings, "utcnow", lambda: at)
    monkeypatch.setattr(rectifications, "utcnow", lambda: at)
    monkeypatch.setattr(clock, "today", lambda: at.astimezone(clock.CHINA).date())


def test_the_applicant_rates_a_closed_case_once(client, login, staff_login, session):
    applicant = login("diner")
    commissioner, _ = staff_login("window_commissioner")
    running = submitted(client, applicant, **RESTAURANT)
    assert running["rating"] is None
    assert_envelope(client.post(f"{MP}/applications/{running['id']}/rating", headers=applicant,
                                json={"level": "satisfied"}), 409, "RATING_NOT_OPEN")

    closed = not_accepted(client, applicant, commissioner)
    detail = client.get(f"{MP}/applications/{closed['id']}", headers=applicant).json
    status = detail["rating"]
    assert status["stage"] == "not_accepted" and status["rateable"] and status["rating"] is None
    assert [u["code"] for u in status["units"]] == [ratings.WINDOW_UNIT]  # nothing was sent on
    assert status["default_unit"]["name"] == "行政审批服务管理局"
    listed = client.get(f"{MP}/ratings?rateable_only=true", headers=applicant).json
    assert [c["application_id"] for c in listed["cases"]] == [closed["id"]]

    given = rate(client, applicant, closed["id"], level="very_satisfied",
                 tags=["efficient", "good_attitude", "efficient"],
                 comment="  窗口讲得很清楚\r\n谢谢")
    assert given["rateable"] is False and given["reason"] == "本次办理已评价"
    assert given["rating"] | {"rated_at": None, "id": None} == {
        "id": None, "stage": "not_accepted", "stage_label": "不予受理",
        "level": "very_satisfied", "level_label": "非常满意", "score": 5,
        "tags": [{"code": "efficient", "label": "办理速度快"},
                 {"code": "good_attitude", "label": "服务态度好"}],
        "comment": "窗口讲得很清楚\n谢谢", "channel": "miniprogram", "channel_label": "小程序",
        "unit": {"code": "approval_bureau", "name": "行政审批服务管理局"}, "rated_at": None}
    assert counts(session) == (1, 0)  # praise opens no task

    again = client.post(f"{MP}/applications/{closed['id']}/rating", headers=applicant,
                        json={"level": "very_dissatisfied"})
    assert_envelope(again, 409, "RATING_ALREADY_GIVEN")
    assert counts(session) == (1, 0)
    assert client.get(f"{MP}/ratings?rateable_only=true", headers=applicant).json["cases"] == []
    timeline = client.get(f"{MP}/applications/{closed['id']}", headers=applicant).json["timeline"]
    assert timeline[-1]["action"] == "rating.given"
    assert timeline[-1]["message"] == "申请人评价本次办理（不予受理）：非常满意"


def test_an_issued_license_is_a_stage_the_applicant_rates(client, licensed, session):  # noqa: F811
    shop = licensed["applicant"]
    app_id = licensed["application"]["id"]
    status = client.get(f"{MP}/applications/{app_id}", headers=shop).json["rating"]
    assert (status["stage"], status["stage_label"], status["rateable"]) == (
        "licensed", "核发许可证", True)
    given = rate(client, shop, app_id, level="basically_satisfied", tags=["guide_inaccurate"],
                 unit="approval_bureau")
    assert given["rating"]["stage"] == "licensed" and counts(session) == (1, 0)


def test_a_withdrawal_closes_a_stage_only_after_acceptance(client, login, staff_login,
                                                           session):
    """Withdrawn before acceptance, nobody served the case: nothing to rate. Withdrawn after
    acceptance (as the timeline records it; today's workflow offers no such move yet), the
    stage ``withdrawn`` opens."""
    applicant = login("changed-mind")
    early = submitted(client, applicant, **RESTAURANT)
    gone = client.post(f"{MP}/applications/{early['id']}/withdraw", headers=applicant).json
    assert gone["status"] == "withdrawn" and gone["rating"] is None
    assert_envelope(client.post(f"{MP}/applications/{early['id']}/rating", headers=applicant,
                                json={"level": "satisfied"}), 409, "RATING_NOT_OPEN")

    late = accepted(client, applicant, staff_login("window_commissioner")[0], **RESTAURANT)
    application = session.get(Application, late["id"])
    application.status = "withdrawn"
    session.add(ApplicationEvent(application_id=application.id, actor_kind="applicant",
                                 actor_id=application.applicant_id, actor_label="申请人",
                                 action="application.withdrawn", from_state="in_review",
                                 to_state="withdrawn", message="撤回申请（受理后）", data={}))
    session.commit()
    status = client.get(f"{MP}/applications/{late['id']}", headers=applicant).json["rating"]
    assert (status["stage"], status["rateable"]) == ("withdrawn", True)
    assert {u["code"] for u in status["units"]} == {"approval_bureau", "fire", "tobacco"}
    assert rate(client, applicant, late["id"], level="satisfied", unit="tobacco")[
        "rating"]["unit"]["name"] == "烟草专卖局"


def test_only_the_cases_own_applicant_rates_it(client, login, staff_login, session):
    owner, stranger = login("owner"), login("stranger")
    commissioner, _ = staff_login("window_commissioner")
    closed = not_accepted(client, owner, commissioner)
    resp = client.post(f"{MP}/applications/{closed['id']}/rating", headers=stranger,
                       json={"level": "very_dissatisfied"})
    assert_envelope(resp, 404, "APPLICATION_NOT_FOUND")
    assert counts(session) == (0, 0)
    assert client.get(f"{MP}/ratings", headers=stranger).json == {"total": 0, "cases": []}


def test_the_authorised_agent_rates_for_the_applicant_a_collaborator_may_not(
        client, login, staff_login, session):
    owner = login("rated-owner")
    agent, collaborator, take_on = helpers_on_draft(client, login)
    commissioner, _ = staff_login("window_commissioner")
    app = submitted(client, owner, on_draft=take_on, applicant_is_agent=True, **RESTAURANT)
    post(client, commissioner, f"/applications/{app['id']}/reject",
         {"version": app["version"], "reason": "经营场所不在本县"})

    refused = client.post(f"{MP}/applications/{app['id']}/rating", headers=collaborator,
                          json={"level": "very_dissatisfied"})
    rate(client, agent, app["id"])

    assert_envelope(refused, 403, "COLLABORATOR_NOT_ALLOWED")
    (rating,) = session.scalars(select(ServiceRating))
    assert rating.applicant_id == session.get(Application, app["id"]).applicant_id
    event = session.scalar(select(ApplicationEvent).where(
        ApplicationEvent.action == "rating.given"))
    assert event.actor_label == "受托人"


def test_the_rating_window_closes_after_the_configured_days(client, login, staff_login,
                                                            session, monkeypatch,
                                                            set_settings):
    applicant = login("late")
    commissioner, _ = staff_login("window_commissioner")
    first, second = (not_accepted(client, applicant, commissioner) for _ in range(2))
    set_settings(RATING_WINDOW_DAYS=5)
    closed_at = session.scalar(select(ApplicationEvent.at).where(
        ApplicationEvent.application_id == first["id"],
        ApplicationEvent.action == "application.not_accepted"))

    frozen(monkeypatch, closed_at + timedelta(days=5, seconds=1))
    resp = client.post(f"{MP}/applications/{first['id']}/rating", headers=applicant,
                       json={"level": "dissatisfied"})
    body = assert_envelope(resp, 409, "RATING_WINDOW_CLOSED")
    assert "5 天" in body["message"]
    assert counts(session) == (0, 0)

    frozen(monkeypatch, closed_at + timedelta(days=5))  # the last moment still counts
    assert rate(client, applicant, second["id"])["rating"]["level"] == "satisfied"


def test_levels_reasons_comment_and_unit_are_checked_and_nothing_is_kept(
        client, login, staff_login, session):
    applicant = login("picky")
    commissioner, _ = staff_login("window_commissioner")
    closed = not_accepted(client, applicant, commissioner)
    url = f"{MP}/applications/{closed['id']}/rating"

    def problems(body: dict, code: str) -> dict[str, dict]:
        return bad_fields(client.post(url, headers=applicant, json=body), 422, code)

    assert problems({"level": "great"}, "REQUEST_INVALID")["level"]["code"] == "LITERAL_ERROR"
    assert problems({"level": "satisfied", "tags": ["efficient", "slow"]},
                    "RATING_INVALID") == {"tags.1": {
        "field": "tags.1", "code": "RATING_TAG_INVALID",
        "message": "“slow”不是“满意”可选的原因"}}
    assert problems({"level": "dissatisfied", "comment": "态度\x1b[31m差"},
                    "REQUEST_INVALID")["comment"] == {
        "field": "comment", "code": "CONTROL_CHARACTER", "message": "不能包含控制字符"}
    assert problems({"level": "dissatisfied", "comment": "慢" * 501},
                    "REQUEST_INVALID")["comment"]["message"] == "内容过长（最多 500 字）"
    assert problems({"level": "dissatisfied", "unit": "fire"}, "RATING_INVALID") == {"unit": {
        "field": "unit", "code": "RATING_UNIT_INVALID", "message": "请选择办理本案的单位之一"}}
    assert counts(session) == (0, 0)
    assert session.scalar(select(func.count()).select_from(ApplicationEvent).where(
        ApplicationEvent.action.like("rating.%"))) == 0
    options = client.get(f"{MP}/ratings/options").json
    assert [lv["label"] for lv in options["levels"]] == ["非常满意", "满意", "基本满意", "不满意",
                                                       "非常不满意"]
    assert [lv["opens_rectification"] for lv in options["levels"]] == [False] * 3 + [True] * 2
    assert options["window_days"] == 30 and options["comment_max_length"] == 500


OPENED = datetime(2026, 9, 30, 10, 0, tzinfo=clock.CHINA)  # the eve of the National Day break


@pytest.fixture
def bad_rating(client, login, staff_login, session, cal2026, monkeypatch):  # noqa: F811
    """A restaurant refused on 29 September 2026 because 消防 refused its fire safety check,
    rated 不满意 the next morning (Wednesday 30 September, 10:00 in Taiyuan) on the 2026
    State Council calendar: the task goes to 消防, whose item was refused."""
    applicant = login("unhappy")
    commissioner, _ = staff_login("window_commissioner")
    fire, fire_id = staff_login("unit_reviewer", "fire")
    bureau, _ = staff_login("unit_reviewer", "approval_bureau")
    case = refused(client, applicant, commissioner, fire)
    closing = session.scalar(select(ApplicationEvent).where(
        ApplicationEvent.application_id == case["id"],
        ApplicationEvent.action == "application.refused"))
    closing.at = OPENED - timedelta(hours=22)  # moved back in time, as stored
    session.commit()
    frozen(monkeypatch, OPENED)
    given = rate(client, applicant, case["id"], level="dissatisfied",
                 tags=["slow", "unexplained"], comment="不予许可的理由没有讲清楚")
    return {"applicant": applicant, "commissioner": commissioner, "fire": fire,
            "fire_id": fire_id, "bureau": bureau, "case": case, "rating": given["rating"]}


def test_a_bad_rating_opens_a_task_for_its_unit_due_in_working_days(
        client, bad_rating, session, staff_login):
    fire, bureau = bad_rating["fire"], bad_rating["bureau"]
    assert bad_rating["rating"]["unit"] == {"code": "fire", "name": "消防救援机构"}
    task = session.scalar(select(RectificationTask))
    assert task.unit_code == "fire" and task.status == "open"
    # 15 working days from 30 September: 1–7 October are the National Day break, Saturday
    # 10 October is worked (调休): 8, 9, 10, 12–16, 19–23, 26, 27 October
    assert (task.opened_on, task.due_on) == (date(2026, 9, 30), date(2026, 10, 27))

    mine = staff_get(client, fire, "/rectifications")
    assert [t["id"] for t in mine["tasks"]] == [task.id]
    assert mine["tasks"][0]["rating"]["level_label"] == "不满意"
    assert staff_get(client, bureau, "/rectifications")["tasks"] == []
    assert_envelope(client.get(f"{STAFF}/rectifications/{task.id}", headers=bureau), 404,
                    "RECTIFICATION_NOT_FOUND")

    # the unit's reviewers and the applicant are told, in the rating's transaction
    told = staff_get(client, fire, "/messages")["messages"]
    assert [m["event"] for m in told] == ["rectification.opened"]
    assert "不满意" in told[0]["body"] and "不予许可的理由没有讲清楚" in told[0]["body"]
    assert task.due_on.isoformat() in told[0]["body"]
    assert staff_get(client, bureau, "/messages")["messages"] == []
    inbox = client.get(f"{MP}/messages", headers=bad_rating["applicant"]).json["messages"]
    assert inbox[0]["title"] == "您的评价已转交核实" and "消防救援机构" in inbox[0]["body"]
    assert session.scalar(select(func.count()).select_from(OutboxMessage).where(
        OutboxMessage.event == "rectification.opened")) == 1


def test_verification_follow_up_and_closing_each_record_who(client, bad_rating, session,
                                                            staff_login):
    fire = bad_rating["fire"]
    admin, _ = staff_login("system_admin")
    task_id = session.scalar(select(RectificationTask.id))
    url = f"{STAFF}/rectifications/{task_id}"
    detail = staff_get(client, fire, f"/rectifications/{task_id}")
    assert detail["actions"] == ["verify"] and detail["contact"]["phone"] == "13812345678"
    assert staff_get(client, admin, f"/rectifications/{task_id}")["contact"]["phone"] == \
        "138****5678"
    assert_envelope(client.post(f"{url}/verify", headers=admin, json={
        "version": detail["version"], "founded": True, "notes": "管理员不能核实"}),
        403, "FORBIDDEN_ROLE")
    assert_envelope(client.post(f"{url}/close", headers=fire, json={
        "version": detail["version"]}), 409, "STATE_CONFLICT")

    verified = post(client, fire, f"/rectifications/{task_id}/verify", {
        "version": detail["version"], "founded": True,
        "notes": "告知书只引用了条文号，未说明哪条通道不符合；已重新书面说明"})
    assert verified["status"] == "verified" and verified["actions"] == ["follow_up"]
    assert verified["version"] == detail["version"] + 1  # one move, one new version
    assert verified["verification"]["founded"] is True
    stale = client.post(f"{url}/verify", headers=fire, json={
        "version": detail["version"], "founded": False, "notes": "重复提交"})
    assert_envelope(stale, 409, "VERSION_CONFLICT")

    now = OPENED
    too_late = client.post(f"{url}/follow-up", headers=fire, json={
        "version": verified["version"], "contacted_at": (now + timedelta(hours=2)).isoformat(),
        "method": "phone", "applicant_said": "明白了", "satisfied": True})
    assert bad_fields(too_late, 422, "FOLLOW_UP_INVALID") == {"contacted_at": {
        "field": "contacted_at", "code": "CONTACTED_AT_OUT_OF_RANGE",
        "message": "回访时间应在评价之后、现在之前"}}
    followed = post(client, fire, f"/rectifications/{task_id}/follow-up", {
        "version": verified["version"], "contacted_at": now.isoformat(), "method": "phone",
        "applicant_said": "说明清楚了，会按要求整改后重新申请", "satisfied": True})
    assert followed["follow_up"]["method_label"] == "电话"
    assert followed["actions"] == ["follow_up", "close"]
    closed = post(client, fire, f"/rectifications/{task_id}/close",
                  {"version": followed["version"], "note": "已办结"})
    assert closed["status"] == "closed" and closed["actions"] == []
    assert closed["remaining_working_days"] is None and not closed["closed_late"]

    who = staff_get(client, fire, f"/rectifications/{task_id}")["history"]
    fire_name = session.get(StaffAccount, bad_rating["fire_id"]).display_name
    assert [(h["action"], h["actor"]) for h in who] == [
        ("rectification.opened", "系统"),
        ("rectification.verified", f"{fire_name}（审批单位审核人员）"),
        ("rectification.followed_up", f"{fire_name}（审批单位审核人员）"),
        ("rectification.closed", f"{fire_name}（审批单位审核人员）")]
    assert staff_get(client, fire, "/rectifications")["tasks"] == []
    assert [t["id"] for t in staff_get(client, fire, "/rectifications?view=closed")["tasks"]] \
        == [task_id]


def at_ten(day: date) -> datetime:
    return datetime.combine(day, datetime.min.time(), clock.CHINA).replace(hour=10)


def test_overdue_tasks_are_flagged_first_and_in_the_daily_list(
        app, client, bad_rating, session, staff_login, monkeypatch):
    fire, admin = bad_rating["fire"], staff_login("system_admin")[0]
    late = session.scalar(select(RectificationTask))
    # a second task, opened on 27 October (the first one's last day), due weeks later
    frozen(monkeypatch, at_ten(date(2026, 10, 27)))
    fresh = refused(client, bad_rating["applicant"], bad_rating["commissioner"], fire)
    rate(client, bad_rating["applicant"], fresh["id"], level="very_dissatisfied")

    assert staff_get(client, admin, "/rectifications?view=overdue")["tasks"] == []
    on_time = staff_get(client, fire, "/rectifications")["tasks"]
    assert [(t["id"], t["overdue"], t["remaining_working_days"]) for t in on_time][0] == (
        late.id, False, 0)  # due today: not yet overdue

    frozen(monkeypatch, at_ten(date(2026, 10, 28)))  # a working day has passed
    listed = staff_get(client, admin, "/rectifications")["tasks"]
    assert [t["id"] for t in listed][0] == late.id  # overdue first
    assert listed[0]["overdue"] and listed[0]["remaining_working_days"] == -1
    assert not listed[1]["overdue"]
    overdue = staff_get(client, fire, "/rectifications?view=overdue")["tasks"]
    assert [t["id"] for t in overdue] == [late.id]

    assert _tick(app, jobs.overdue_digest, now=at_ten(date(2026, 10, 28)), hour=9) == 2
    for headers in (fire, admin):  # the unit's reviewer and the administrator
        digest = staff_get(client, headers, "/messages")["messages"][0]
        assert digest["event"] == "staff.overdue_digest"
        assert "差评整改" in digest["body"] and "超期 1 个工作日" in digest["body"]
    assert staff_get(client, bad_rating["bureau"], "/messages")["messages"] == []


def test_unit_figures_count_by_level_share_and_task_state(app, login, session):
    """Seeded by hand: ratings of two units over three days, tasks opened and closed around
    the period (1–31 October 2026); the right answers counted on paper."""
    login("seed")
    applicant = session.scalar(select(Application.applicant_id).limit(1)) or _applicant_id(
        session)
    cases = [_bare_application(session, applicant, status="licensed") for _ in range(7)]
    oct_ = date(2026, 10, 1)
    seeded = [  # (unit, score, day); the last is outside the period
        ("fire", 5, oct_), ("fire", 2, oct_ + timedelta(days=3)), ("fire", 1, oct_),
        ("approval_bureau", 4, oct_), ("approval_bureau", 3, oct_ + timedelta(days=30)),
        ("approval_bureau", 2, oct_ + timedelta(days=9)), ("fire", 1, date(2026, 11, 1))]
    rows = []
    for case, (unit, score, day) in zip(cases, seeded, strict=True):
        rows.append(ServiceRating(
            application_id=case.id, applicant_id=applicant, stage="licensed",
            closed_at=utcnow(), score=score, tags=[], comment="", unit_code=unit,
            channel="miniprogram", rated_at=utcnow(), rated_on=day))
    session.add_all(rows)
    session.flush()
    tasks = [  # (rating index, opened, due, closed)
        (1, date(2026, 9, 20), date(2026, 10, 9), date(2026, 10, 8)),   # closed in time
        (2, date(2026, 10, 1), date(2026, 10, 22), date(2026, 10, 30)),  # closed late
        (5, date(2026, 10, 10), date(2026, 10, 30), None),  # open, not yet due on 31 Oct
        (6, date(2026, 10, 2), date(2026, 10, 20), None)]   # its rating: November; overdue
    for index, opened, due, closed in tasks:
        session.add(RectificationTask(
            rating_id=rows[index].id, application_id=rows[index].application_id,
            unit_code=rows[index].unit_code, status="closed" if closed else "open",
            opened_on=opened, opened_at=utcnow(), due_on=due, closed_on=closed))
    session.commit()

    with app.app_context():
        from backend.extensions import db  # noqa: PLC0415

        figures = ratings.unit_figures(db.session, start=oct_, end=date(2026, 10, 31),
                                       today=date(2027, 1, 1))
    assert set(figures) == {"fire", "approval_bureau"}
    fire, bureau = figures["fire"], figures["approval_bureau"]
    assert fire.ratings == {"very_satisfied": 1, "satisfied": 0, "basically_satisfied": 0,
                            "dissatisfied": 1, "very_dissatisfied": 1}
    assert fire.rating_total == 3 and fire.dissatisfied_share == pytest.approx(2 / 3)
    assert (fire.tasks_opened, fire.tasks_open, fire.tasks_overdue, fire.tasks_closed,
            fire.tasks_closed_late) == (2, 1, 1, 2, 1)
    assert bureau.ratings["basically_satisfied"] == 1 and bureau.rating_total == 3
    assert bureau.dissatisfied_share == pytest.approx(1 / 3)
    assert (bureau.tasks_opened, bureau.tasks_open, bureau.tasks_overdue, bureau.tasks_closed,
            bureau.tasks_closed_late) == (1, 1, 0, 0, 0)


def _applicant_id(session) -> int:
    from backend.models import Applicant  # noqa: PLC0415

    row = Applicant(openid="seed-figures")
    session.add(row)
    session.flush()
    return row.id


@pytest.mark.parametrize(("name", "value"), [("RATING_WINDOW_DAYS", "0"),
                                             ("RECTIFICATION_WORKING_DAYS", "0"),
                                             ("RECTIFICATION_WORKING_DAYS", "251")])
def test_a_rating_setting_out_of_range_refuses_to_start(name, value):
    with pytest.raises(SettingsError, match=name):
        load(environ={name: value})
