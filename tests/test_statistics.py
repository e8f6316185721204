"""改革成效统计 (backend/services/statistics.py) over the office month of tests/reform_cases.py,
whose right answers are worked out by hand in the comments: counts, working days, shares
and the reform's dividend by county, unit and in total; period boundaries in China time;
who may see which unit; and a fixed number of queries whatever the number of cases."""

from __future__ import annotations

import json
import re
from dataclasses import asdict

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.errors import FieldsInvalid, NotFound, PermissionDenied, RuleViolation
from backend.extensions import db
from backend.models import Application, StatisticsDay
from backend.services import staff as staff_service
from backend.services import statistics, statistics_summary
from tests.conftest import STAFF_PASSWORD
from tests.reform_cases import BOOKSHOP, XIAODIAN, YINGZE, build, day
from tests.test_app import assert_envelope, bad_fields
from tests.test_workflow import STAFF, statements

MARCH = statistics.month_period(2025, 3)


@pytest.fixture
def office(app):
    """The office of tests/reform_cases.py, summarised by the worker's step: the figures
    below are read from the summary tables (statistics_summary)."""
    office = build(app)[0]
    assert summarise(app) > 0
    return office


def summarise(app, **options) -> int:
    """The worker's summary step, in a transaction of its own."""
    with app.app_context(), Session(db.engine) as own:
        days = statistics_summary.summarise(own, **options)
        own.commit()
    return days


def by_key(figures: statistics.Figures) -> dict[str, statistics.Row]:
    return {row.key: row for row in figures.rows}


def test_march_by_county_and_in_total(office, session):
    figures = statistics.figures(session, staff=office.staff["admin"], period=MARCH,
                                 group_by="county")
    rows = by_key(figures)
    assert [r.name for r in figures.rows] == ["太原市小店区", "太原市迎泽区"]
    xiaodian, yingze, total = rows[XIAODIAN], rows[YINGZE], figures.total

    # 收件: A 03-03, C 03-01 00:30 CST, E | D; B (02-27) and H (04-01 00:10 CST) are not March's
    # 受理 A, C | B; 发证 A | B; 不予许可 C; 不予受理 D; 撤回 E (F was only a draft)
    assert asdict(xiaodian.applications) == {"received": 3, "accepted": 2, "licensed": 1,
                                             "refused": 1, "not_accepted": 0, "withdrawn": 1}
    assert asdict(yingze.applications) == {"received": 1, "accepted": 1, "licensed": 1,
                                           "refused": 0, "not_accepted": 1, "withdrawn": 0}
    assert asdict(total.applications) == {"received": 4, "accepted": 3, "licensed": 2,
                                          "refused": 1, "not_accepted": 1, "withdrawn": 1}

    # the window: closed A, C, E | B, D; A had a 补正 notice; B was accepted with 3 容缺
    assert asdict(xiaodian.window) == {
        "closed": 3, "with_supplements": 1, "supplement_share": 0.3333,
        "deferred_cases": 0, "deferred_materials": 0, "deferred_share": 0.0}
    assert asdict(yingze.window) == {
        "closed": 2, "with_supplements": 0, "supplement_share": 0.0,
        "deferred_cases": 1, "deferred_materials": 3, "deferred_share": 1.0}
    assert asdict(total.window) == {
        "closed": 5, "with_supplements": 1, "supplement_share": 0.2,
        "deferred_cases": 1, "deferred_materials": 3, "deferred_share": 0.3333}

    # joint inspections concluded: A passed at the first visit; B only after rectification
    assert asdict(xiaodian.inspections) == {"concluded": 1, "passed_first_visit": 1,
                                            "first_visit_pass_rate": 1.0}
    assert asdict(yingze.inspections) == {"concluded": 1, "passed_first_visit": 0,
                                          "first_visit_pass_rate": 0.0}
    assert total.inspections.first_visit_pass_rate == 0.5

    # acceptance to license: A 03-05 → 03-18 = 9 working days (limits 15 / 35);
    # B 03-03 → 03-17 = 10, less 3 paused = 7 (limits 5 / 10)
    assert asdict(xiaodian.license_time) == {
        "days": {"count": 1, "average": 9.0, "p90": 9}, "promised_limit_average": 15.0,
        "legal_limit_average": 35.0, "within_promised": 1}
    assert asdict(yingze.license_time) == {
        "days": {"count": 1, "average": 7.0, "p90": 7}, "promised_limit_average": 5.0,
        "legal_limit_average": 10.0, "within_promised": 0}
    assert asdict(total.license_time) == {
        "days": {"count": 2, "average": 8.0, "p90": 9}, "promised_limit_average": 10.0,
        "legal_limit_average": 22.5, "within_promised": 1}

    # items decided: A fire 2 days (limit 3, legal 10), A 网吧 5 (15, 35), C 书店 2 (10, 20);
    # B food 6 net, decided 03-14 after its deadline 03-13 (5, 10)
    assert asdict(xiaodian.items) == {
        "decided": 3, "late": 0, "late_share": 0.0,
        "days": {"count": 3, "average": 3.0, "p90": 5},
        "promised_average": 9.33, "legal_average": 21.67}
    assert asdict(yingze.items) == {
        "decided": 1, "late": 1, "late_share": 1.0,
        "days": {"count": 1, "average": 6.0, "p90": 6},
        "promised_average": 5.0, "legal_average": 10.0}
    assert asdict(total.items) == {
        "decided": 4, "late": 1, "late_share": 0.25,
        "days": {"count": 4, "average": 3.75, "p90": 6},
        "promised_average": 8.25, "legal_average": 18.75}

    # the dividend: A online, 10 materials once against 13 apart, 9 days against 35 + 10;
    # B one trip to the window, 7 against 7, 7 days against 10
    assert asdict(xiaodian.dividend) == {
        "cases": 1, "trips_average": 0.0, "online_cases": 1, "materials_average": 10.0,
        "separate_materials_average": 13.0, "working_days_average": 9.0,
        "legal_days_sum_average": 45.0, "working_days_saved_average": 36.0}
    assert asdict(yingze.dividend) == {
        "cases": 1, "trips_average": 1.0, "online_cases": 0, "materials_average": 7.0,
        "separate_materials_average": 7.0, "working_days_average": 7.0,
        "legal_days_sum_average": 10.0, "working_days_saved_average": 3.0}
    assert asdict(total.dividend) == {
        "cases": 2, "trips_average": 0.5, "online_cases": 1, "materials_average": 8.5,
        "separate_materials_average": 10.0, "working_days_average": 8.0,
        "legal_days_sum_average": 27.5, "working_days_saved_average": 19.5}
    assert total.ratings is None and xiaodian.ratings is None  # no ratings service answers
    for row in figures.rows + [total]:  # plain numbers on every database (no DECIMAL)
        assert_plain_numbers(asdict(row))


def assert_plain_numbers(values: dict) -> None:
    for name, value in values.items():
        if isinstance(value, dict):
            assert_plain_numbers(value)
        elif name not in {"key", "name"}:
            assert value is None or type(value) in {int, float}, (name, value)


def test_march_by_unit_counts_a_case_under_each_of_its_units(office, session):
    figures = statistics.figures(session, staff=office.staff["catalog"], period=MARCH)
    rows = by_key(figures)
    assert figures.rows[0].key == "approval_bureau"  # every unit, in the catalog's order
    assert {"market", "tobacco", "ecology"} <= set(rows)
    bureau, fire = rows["approval_bureau"], rows["fire"]
    # every case has an item of the approval bureau; only A one of fire
    assert asdict(bureau.applications) == asdict(figures.total.applications)
    assert asdict(fire.applications) == {"received": 1, "accepted": 1, "licensed": 1,
                                         "refused": 0, "not_accepted": 0, "withdrawn": 0}
    assert fire.window.supplement_share == 1.0 and fire.inspections.concluded == 1
    # each unit's own items: the bureau 5 (A), 6 late (B), 2 (C); fire 2 (A)
    assert asdict(bureau.items) == {
        "decided": 3, "late": 1, "late_share": 0.3333,
        "days": {"count": 3, "average": 4.33, "p90": 6},
        "promised_average": 10.0, "legal_average": 21.67}
    assert asdict(fire.items) == {
        "decided": 1, "late": 0, "late_share": 0.0,
        "days": {"count": 1, "average": 2.0, "p90": 2},
        "promised_average": 3.0, "legal_average": 10.0}
    assert fire.license_time.days.average == 9.0 and fire.dividend.trips_average == 0.0
    assert asdict(rows["tobacco"].applications)["received"] == 0
    assert figures.total.applications.received == 4  # each case once


@pytest.mark.parametrize(("kind", "values", "received", "licensed", "decided"), [
    # 03-01 00:30 CST is 02-28 16:30 UTC: March's, and that day's only
    ("day", {"day": day(3, 1)}, 1, 0, 0),
    ("month", {"month": "2025-02"}, 1, 0, 0),  # B on 02-27; not C
    ("month", {"month": "2025-04"}, 1, 0, 0),  # H at 04-01 00:10 CST (03-31 in UTC)
    ("year", {"year": 2025}, 6, 2, 4),
    ("range", {"since": day(3, 14), "until": day(3, 17)}, 1, 1, 1),  # D; B; B's food item
])
def test_period_boundaries_are_china_days(office, session, kind, values, received, licensed,
                                          decided):
    period = statistics.period_of(kind, **values)
    total = statistics.figures(session, staff=office.staff["admin"], period=period,
                               group_by="province").total
    assert (total.applications.received, total.applications.licensed,
            total.items.decided) == (received, licensed, decided)


def test_period_requests_are_checked():
    assert statistics.period_of("month", month="2025-12").last == day(12, 31)
    assert statistics.period_of("year", year=2024).label == "2024年"
    for kind, values, field in [("month", {"month": "2025-13"}, "month"),
                                ("range", {"since": day(3, 2)}, "until"),
                                ("range", {"since": day(3, 2), "until": day(3, 1)}, "until"),
                                ("range", {"since": day(1, 1), "until": day(12, 31).replace(
                                    year=2028)}, "until"),
                                ("week", {}, "period")]:
        with pytest.raises(FieldsInvalid) as refused:
            statistics.period_of(kind, **values)
        assert refused.value.code == "STATISTICS_PERIOD_INVALID"
        assert [f["field"] for f in refused.value.details["fields"]] == [field]


def test_a_unit_reviewer_sees_only_their_own_unit(office, session):
    fire = office.staff["fire"]
    figures = statistics.figures(session, staff=fire, period=MARCH, group_by="county")
    assert figures.unit == "fire" and figures.unit_name == "消防救援机构"
    # only A (网吧, 小店区) holds a fire item
    assert [r.key for r in figures.rows] == [XIAODIAN]
    assert figures.total.applications.received == 1
    assert figures.total.items.decided == 1  # the fire item only, not A's 网吧 item
    own = statistics.figures(session, staff=fire, period=MARCH, unit="fire")
    assert [r.key for r in own.rows] == ["fire"]
    for other in ("approval_bureau", "no-such-unit"):
        with pytest.raises(NotFound) as hidden:
            statistics.figures(session, staff=fire, period=MARCH, unit=other)
        assert hidden.value.code == "STATISTICS_UNIT_NOT_FOUND"
    with pytest.raises(NotFound):
        statistics.figures(session, staff=office.staff["admin"], period=MARCH,
                           unit="no-such-unit")
    with pytest.raises(PermissionDenied):
        statistics.figures(session, staff=office.staff["window"], period=MARCH)


def test_query_count_does_not_grow_with_the_cases(app, office, session):
    admin = office.staff["admin"]
    statistics.figures(session, staff=admin, period=MARCH)  # the staff row and catalog read
    for group_by in statistics.GROUPINGS:
        one_case = statements(app, lambda g=group_by: statistics.figures(
            session, staff=admin, period=statistics.period_of("day", day=day(3, 18)),
            group_by=g))
        every_case = statements(app, lambda g=group_by: statistics.figures(
            session, staff=admin, period=MARCH, group_by=g))
        # 10, 2 for 告知承诺 (by group and the total), and 3 for 好差评 by group and again for
        # the total
        assert len(every_case) == len(one_case) <= 18, "\n".join(s[:70] for s in every_case)


def staff_token(client, username: str) -> dict[str, str]:
    resp = client.post("/api/staff/v1/auth/login",
                       json={"username": username, "password": STAFF_PASSWORD})
    assert resp.status_code == 200, resp.json
    return {"Authorization": f"Bearer {resp.json['token']}"}


def test_the_staff_api_answers_the_same_figures(office, client, session):
    admin = staff_token(client, "stat-admin")
    resp = client.get(f"{STAFF}/statistics?period=month&month=2025-03&group_by=county",
                      headers=admin)
    assert resp.status_code == 200, resp.json
    same = statistics.figures(session, staff=office.staff["admin"], period=MARCH,
                              group_by="county")
    assert resp.json["period"] == {"kind": "month", "first": "2025-03-01",
                                   "last": "2025-03-31", "label": "2025年3月"}
    assert resp.json["rows"] == [asdict(r) for r in same.rows]
    assert resp.json["total"] == asdict(same.total) and resp.json["unit"] is None
    assert resp.json["total"]["dividend"]["separate_materials_average"] == 10.0

    fire = staff_token(client, "stat-fire")
    own = client.get(f"{STAFF}/statistics?month=2025-03", headers=fire).json
    assert own["unit"] == {"code": "fire", "name": "消防救援机构"}
    assert [r["key"] for r in own["rows"]] == ["fire"]
    assert_envelope(client.get(f"{STAFF}/statistics?unit=approval_bureau", headers=fire),
                    404, "STATISTICS_UNIT_NOT_FOUND")
    fields = bad_fields(client.get(f"{STAFF}/statistics?period=range&since=2025-03-02",
                                   headers=admin), 422, "STATISTICS_PERIOD_INVALID")
    assert {name: f["code"] for name, f in fields.items()} == {"until": "DATE_REQUIRED"}
    assert_envelope(client.get(f"{STAFF}/statistics?month=2025-13", headers=admin),
                    422, "REQUEST_INVALID")
    assert_envelope(client.get(f"{STAFF}/statistics", headers=staff_token(
        client, "stat-coordinator")), 403, "FORBIDDEN_ROLE")


def test_industries_with_few_cases_are_flagged_for_the_catalog_administrator(
        office, client, set_settings):
    set_settings(STATISTICS_LOW_VOLUME_CASES=2)
    catalog_admin = staff_token(client, "stat-catalog")
    resp = client.get(f"{STAFF}/catalog/low-volume?year=2025", headers=catalog_admin)
    assert resp.status_code == 200, resp.json
    body = resp.json
    assert body["threshold"] == 2 and body["period"]["label"] == "2025年"
    by_code = {i["code"]: i for i in body["industries"]}
    # 2025: 书店 C, D, E, H (4: kept); 网吧 A and 咖啡馆 B (1 each); the rest none
    assert by_code["bookstore"]["flagged"] is False
    assert by_code["bookstore"]["figures"]["applications"]["received"] == 4
    assert (by_code["internet_cafe"]["flagged"], by_code["cafe"]["flagged"]) == (True, True)
    assert by_code["internet_cafe"]["figures"]["license_time"]["days"]["average"] == 9.0
    assert by_code["ktv"]["flagged"] and by_code["ktv"]["figures"]["applications"][
        "received"] == 0
    assert body["industries"][-1]["code"] == "bookstore"  # the flagged first, fewest first
    assert len(body["industries"]) == 28
    assert_envelope(client.get(f"{STAFF}/catalog/low-volume", headers=staff_token(
        client, "stat-fire")), 403, "FORBIDDEN_ROLE")


def test_the_summary_gives_the_figures_the_scan_gives(app, office, session):
    """Every grouping, in total and limited to each unit, for a day, the month and a range
    across its edge: the summed days and the scan of the cases agree to the last figure."""
    periods = [MARCH, statistics.period_of("day", day=day(3, 18)),
               statistics.period_of("range", since=day(2, 27), until=day(4, 1))]
    for period in periods:
        for group_by in statistics.GROUPINGS:
            for unit in (None, "fire", "approval_bureau", "market_regulation"):
                read = {source: statistics.compute(session, period=period, group_by=group_by,
                                                   unit=unit, source=source)
                        for source in ("summary", "scan")}
                assert asdict(read["summary"]) == asdict(read["scan"]), (period, group_by, unit)


def summary_rows(session) -> list[tuple]:
    session.expire_all()
    return sorted((row.span, row.day, row.grouping, row.key, json.dumps(row.tally, sort_keys=True))
                  for row in session.scalars(select(StatisticsDay)))


def test_the_bulk_rebuild_writes_the_rows_the_day_by_day_upkeep_writes(app, office, session):
    """The worker's first round built the summary set-based (a month at a time); recomputing
    every day one by one, as the worker's later rounds do, gives the same rows — and so does
    `flask statistics rebuild`."""
    built = summary_rows(session)
    days = sorted({day for span, day, *_ in built if span == "day"})
    assert len(days) > 5 and {"unit", "county_unit", "province"} <= {r[2] for r in built}
    with app.app_context(), Session(db.engine) as own:
        for one in days:
            statistics_summary.summarise_day(own, one)
        for first in sorted({one.replace(day=1) for one in days}):
            statistics_summary.summarise_month(own, first)
        own.commit()
    assert summary_rows(session) == built
    result = app.test_cli_runner().invoke(args=["statistics", "rebuild"])
    assert result.exit_code == 0, result.output
    assert f"statistics summary rebuilt: {len(days)} days" in result.output
    assert summary_rows(session) == built


def test_late_events_are_scanned_until_the_worker_summarises_their_day(app, office, session):
    before = statistics.compute(session, period=MARCH, group_by="county", unit=None)
    with app.app_context(), Session(db.engine, expire_on_commit=False) as own:
        office.session = own  # an event stored after its day was summarised (clock moved)
        with office.on(day(3, 10)):
            office.online("late", BOOKSHOP, YINGZE)
    pending = statistics.compute(session, period=MARCH, group_by="county", unit=None)
    assert pending.total.applications.received == before.total.applications.received + 1
    assert summarise(app, overlap=0) == 1  # its day only, once
    assert summarise(app) == 0
    stored = session.scalars(select(StatisticsDay.grouping).where(
        StatisticsDay.day == day(3, 10))).all()
    assert "county" in stored
    after = statistics.compute(session, period=MARCH, group_by="county", unit=None)
    assert asdict(after) == asdict(pending)
    assert by_key(after)[YINGZE].applications.received == 2


def test_public_results_show_counts_and_days_per_industry_and_no_personal_data(
        app, office, client, session):
    resp = client.get("/results?year=2025")
    assert resp.status_code == 200 and resp.mimetype == "text/html"
    assert resp.headers["Cache-Control"] == "public, max-age=600"
    html = resp.get_data(as_text=True)

    def cells(industry: str) -> list[str]:
        row = re.search(rf'<tr data-industry="{industry}">(.*?)</tr>', html, re.S).group(1)
        return [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<t[hd][^>]*>.*?</t[hd]>",
                                                                        row, re.S)]

    # 2025: 网吧 A licensed in 9 working days (45 legal − 9 = 36 saved); 咖啡馆 B in 7
    # (10 − 7 = 3); 书店 C, D, E, H received, none licensed
    assert cells("internet_cafe")[2:] == ["1", "1", "9.0", "36.0"]
    assert cells("cafe")[2:] == ["1", "1", "7.0", "3.0"]
    assert cells("bookstore")[2:] == ["4", "0", "—", "—"]
    people = [value for application in session.scalars(select(Application))
              for name, value in application.form_values.items()
              if isinstance(value, str) and any(part in name for part in (
                  "name", "phone", "mobile", "id_number", "address", "credit"))]
    assert people and not [value for value in people if value in html]
    assert "孙丽" not in html and not re.search(r"1[3-9]\d{9}", html)
    assert client.get("/results?year=2025").get_data(as_text=True) == html  # cached


@pytest.fixture
def office_cases(app):
    office, cases = build(app)
    assert summarise(app) > 0
    return office, {name: case.id for name, case in cases.items()}


def behind(session, staff, **query) -> set[int]:
    found = statistics.cases_behind(session, staff=staff, period=MARCH, **query)
    assert found.total == len(found.cases)
    return {case.id for case in found.cases}


def test_drill_down_lists_exactly_the_cases_a_count_counts(office_cases, session):
    office, ids = office_cases
    admin = office.staff["admin"]
    named = {v: k for k, v in ids.items()}

    def names(**query) -> set[str]:
        return {named[i] for i in behind(session, admin, **query)}

    assert names(group_by="county", key=XIAODIAN, figure="received") == {"A", "C", "E"}
    assert names(group_by="county", key=YINGZE, figure="received") == {"D"}
    assert names(group_by="county", key=YINGZE, figure="accepted") == {"B"}
    assert names(group_by="province", key=statistics.PROVINCE, figure="licensed") == {"A", "B"}
    assert names(group_by="county", key=XIAODIAN, figure="withdrawn") == {"E"}  # F: a draft
    assert names(group_by="industry", key="bookstore", figure="refused") == {"C"}
    # every count of every group has exactly as many cases behind it
    for group_by in ("unit", "county", "industry"):
        figures = statistics.figures(session, staff=admin, period=MARCH, group_by=group_by)
        for row in [*figures.rows, figures.total]:
            for figure in statistics.DRILL_FIGURES:
                key = row.key if row is not figures.total else statistics.PROVINCE
                group = group_by if row is not figures.total else "province"
                assert len(behind(session, admin, group_by=group, key=key, figure=figure)) \
                    == getattr(row.applications, figure), (group_by, row.key, figure)
    page = statistics.cases_behind(session, staff=admin, period=MARCH, group_by="county",
                                   key=XIAODIAN, figure="received", page=2, per_page=2)
    assert page.total == 3 and len(page.cases) == 1


def test_a_reviewer_drills_only_into_their_own_units_cases(office_cases, session):
    office, ids = office_cases
    fire = office.staff["fire"]
    for other in ("approval_bureau", "no-such-unit"):
        with pytest.raises(NotFound) as hidden:
            statistics.cases_behind(session, staff=fire, period=MARCH, group_by="unit",
                                    key=other, figure="received")
        assert hidden.value.code == "STATISTICS_UNIT_NOT_FOUND"
        with pytest.raises(NotFound):
            statistics.cases_behind(session, staff=fire, period=MARCH, group_by="county",
                                    key=XIAODIAN, figure="received", unit=other)
    # by county, only the cases with a fire item: A (C and E are bookshops)
    assert behind(session, fire, group_by="county", key=XIAODIAN,
                  figure="received") == {ids["A"]}
    assert behind(session, fire, group_by="unit", key="fire", figure="licensed") == {ids["A"]}


def test_a_countys_figures_by_unit_come_from_the_summary_as_the_scan_gives_them(
        office, session):
    """小店区's March by unit: its cases A, C, E (and F, a draft) only — the bureau decided
    A's item in 5 working days and C's in 2, fire A's in 2; B (6, late) is 迎泽区's."""
    for source in ("summary", "scan"):
        xiaodian = statistics.compute(session, period=MARCH, group_by="unit", unit=None,
                                      county=XIAODIAN, source=source)
        assert xiaodian.county_name == "太原市小店区"
        bureau, fire = by_key(xiaodian)["approval_bureau"], by_key(xiaodian)["fire"]
        assert (bureau.items.decided, bureau.items.late, bureau.items.days.average) == \
            (2, 0, 3.5)
        assert (fire.items.decided, fire.items.days.average) == (1, 2.0)
        assert asdict(xiaodian.total.applications) == {
            "received": 3, "accepted": 2, "licensed": 1, "refused": 1, "not_accepted": 0,
            "withdrawn": 1}
        yingze = statistics.compute(session, period=MARCH, group_by="unit", unit="fire",
                                    county=YINGZE, source=source)
        assert [r.key for r in yingze.rows] == ["fire"] and not yingze.total.items.decided
        bureau = by_key(statistics.compute(session, period=MARCH, group_by="unit", unit=None,
                                           county=YINGZE, source=source))["approval_bureau"]
        assert (bureau.items.decided, bureau.items.late, bureau.items.days.p90) == (1, 1, 6)


def test_county_level_staff_see_their_county_and_administrators_pick_one(office, session):
    county_admin = staff_service.create(
        session, username="stat-county", display_name="小店区统计", role="system_admin",
        unit_code=None, password=STAFF_PASSWORD, county_code=XIAODIAN)
    board = statistics.dashboard(session, staff=county_admin, month="2025-03")
    assert board.figures.county == XIAODIAN and board.figures.county_name == "太原市小店区"
    assert board.trend[-1][1].applications.received == 3
    with pytest.raises(NotFound) as refused:
        statistics.dashboard(session, staff=county_admin, month="2025-03", county=YINGZE)
    assert refused.value.code == "STATISTICS_COUNTY_NOT_FOUND"
    admin = office.staff["admin"]
    assert statistics.dashboard(session, staff=admin, month="2025-03").figures.county is None
    picked = statistics.dashboard(session, staff=admin, month="2025-03", county=YINGZE)
    assert picked.figures.county_name == "太原市迎泽区"
    with pytest.raises(NotFound):
        statistics.dashboard(session, staff=admin, month="2025-03", county="999999")
    with pytest.raises(RuleViolation, match="没有该县"):
        staff_service.create(session, username="stat-nowhere", display_name="无县",
                             role="system_admin", unit_code=None, password=STAFF_PASSWORD,
                             county_code="999999")


def test_the_slowest_unit_of_a_month_and_the_items_that_made_it_slow(office, session):
    """March: the bureau took 4.33 working days an item (B 6, late; A 5; C 2), fire 2 —
    the bureau is the slowest, B's item first and late; in 小店区 it is A's then C's."""
    admin = office.staff["admin"]
    slowest = statistics.dashboard(session, staff=admin, month="2025-03").slowest
    assert (slowest.key, slowest.items.days.average, slowest.items.late) == \
        ("approval_bureau", 4.33, 1)
    found = statistics.items_behind(session, staff=admin, period=MARCH,
                                    unit="approval_bureau")
    assert (found.total, found.late) == (3, 1)
    assert [i.working_days for i in found.items] == [6, 5, 2]
    assert found.items[0].late_days > 0 and not any(i.late_days for i in found.items[1:])
    in_county = statistics.items_behind(session, staff=admin, period=MARCH,
                                        unit="approval_bureau", county=XIAODIAN)
    assert [i.working_days for i in in_county.items] == [5, 2] and in_county.late == 0
    with pytest.raises(NotFound):  # a unit's reviewer: their own unit only
        statistics.items_behind(session, staff=office.staff["fire"], period=MARCH,
                                unit="approval_bureau")
