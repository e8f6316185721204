"""绩效考评 (backend/services/scorecard.py): the month of tests/reform_cases.py scored by hand
with the shipped weights, the weights file checked at start, and the scorecard as Excel and
as a printed PDF."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from openpyxl import load_workbook
from pypdf import PdfReader

from backend.services import scorecard, statistics
from config.settings import PROJECT_ROOT, SettingsError, load
from tests.reform_cases import build

WEIGHTS = scorecard.load_weights(PROJECT_ROOT / "config" / "scorecard.yaml")


@pytest.fixture
def office(app):
    return build(app)[0]


def test_march_scores_by_hand(office, session):
    card = scorecard.monthly(session, staff=office.staff["admin"], weights=WEIGHTS,
                             month="2025-03")
    assert WEIGHTS == {"on_time": 40, "speed": 20, "first_visit_pass": 10,
                       "satisfaction": 20, "rectification_on_time": 10}
    units = {u.code: u for u in card.units}
    fire, bureau = units["fire"], units["approval_bureau"]
    # fire: its one item on time (100), 2 of 3 promised days used (33.3), A's visit passed
    # first time (100); no ratings yet: (40·100 + 20·33.33 + 10·100) / 70 = 81.0
    assert {m.key: m.score for m in fire.marks} == {
        "on_time": 100.0, "speed": 33.3, "first_visit_pass": 100.0, "satisfaction": None,
        "rectification_on_time": None}
    assert fire.score == 81.0
    # the bureau: 2 of 3 on time (66.7), 4.33 of 10 promised days (56.7), A first time and
    # B after rectification (50): (40·66.67 + 20·56.7 + 10·50) / 70 = 61.4
    assert {m.key: m.score for m in bureau.marks} == {
        "on_time": 66.7, "speed": 56.7, "first_visit_pass": 50.0, "satisfaction": None,
        "rectification_on_time": None}
    assert bureau.score == 61.4
    assert [(u.code, u.rank) for u in card.units[:2]] == [("fire", 1), ("approval_bureau", 2)]
    assert units["tobacco"].score is None and units["tobacco"].rank is None  # nothing to score


def test_a_reviewer_gets_their_own_units_card(office, session):
    card = scorecard.monthly(session, staff=office.staff["fire"], weights=WEIGHTS,
                             month="2025-03")
    assert [(u.code, u.score, u.rank) for u in card.units] == [("fire", 81.0, None)]


def test_excel_and_pdf_hold_the_units_and_their_scores(office, session):
    card = scorecard.monthly(session, staff=office.staff["admin"], weights=WEIGHTS,
                             month="2025-03")
    book = load_workbook(io.BytesIO(scorecard.workbook(card)))
    assert book.sheetnames == ["绩效考评", "统计数据"]
    sheet = list(book["绩效考评"].iter_rows(values_only=True))
    header = sheet.index(next(r for r in sheet if r[0] == "排名"))
    assert sheet[header][-1] == "综合得分"
    assert sheet[header + 1][:5] == (1, "消防救援机构", 1, 0, 2) and sheet[header + 1][-1] == 81
    assert sheet[header + 2][:5] == (2, "行政审批服务管理局", 3, 1, 4.33)
    assert sheet[header + 2][-1] == 61.4
    figures = list(book["统计数据"].iter_rows(values_only=True))
    heading = next(r for r in figures if r[0] == "审批单位")
    bureau = next(r for r in figures if r[0] == "行政审批服务管理局")
    assert bureau[heading.index("办件量（件）·收件")] == 4
    assert bureau[heading.index("审批事项办结（工作日）·超期率（%）")] == 33.33
    assert figures[-1][0] == "合计"

    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(
        scorecard.pdf(card))).pages)
    assert "审批单位绩效考评表" in text and "2025年3月" in text
    assert "消防救援机构" in text and "81" in text
    assert "行政审批服务管理局" in text and "61.4" in text


def test_the_weights_file_is_checked_at_start(tmp_path: Path):
    bad = tmp_path / "weights.yaml"
    for content, problem in [("indicators: {on_time: -1}\n", "greater than or equal to 0"),
                             ("indicators: {fastest: 5}\n", "fastest"),
                             ("indicators: {on_time: 0, speed: 0}\n", "every weight is 0"),
                             ("indicators: [\n", "while parsing")]:
        bad.write_text(content, encoding="utf-8")
        with pytest.raises(SettingsError, match=problem):
            load(environ={"SCORECARD_PATH": str(bad)})
    bad.write_text("indicators: {on_time: 3, speed: 1}\n", encoding="utf-8")
    assert scorecard.load_weights(bad) == {"on_time": 3, "speed": 1, "first_visit_pass": 0,
                                           "satisfaction": 0, "rectification_on_time": 0}


def test_a_unit_with_ratings_is_scored_on_them():
    row = statistics.Row("fire", "消防救援机构")
    row.ratings = statistics.Ratings(rated=10, dissatisfied=2, dissatisfied_share=0.2,
                                     rectification_tasks=2, rectification_overdue=1)
    marks, score = scorecard.score_of(row, WEIGHTS)
    # satisfaction 80, rectification 50: (20·80 + 10·50) / 30 = 70
    assert {m.key: m.score for m in marks}["satisfaction"] == 80.0 and score == 70.0
