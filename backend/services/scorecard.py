"""绩效考评: each approving unit's month as a score (晋政办发〔2022〕90号 四（二）: the
provincial approval bureau evaluates each unit's performance).

The month's figures by unit (backend.services.statistics) make five indicators, each scored
0–100; the weights come from config/scorecard.yaml (SCORECARD_PATH), read and checked once
at start. The score is the weighted average of the indicators that have data that month,
rounded to one decimal; units are ranked by it (a unit without data has no score and no
rank). The indicators:

- ``on_time`` 按时办结: 100 × the share of the unit's items decided by their deadline;
- ``speed`` 办理提速: 100 × (1 − average working days used / average promised limit) of
  those items, between 0 and 100 (deciding on the day of acceptance scores 100, using the
  whole promised limit or more 0);
- ``first_visit_pass`` 核查一次通过: 100 × the first-visit pass rate of the joint
  inspections concluded on cases with the unit's items;
- ``satisfaction`` 好差评满意度: 100 × (1 − the share of 不满意 or worse ratings);
- ``rectification_on_time`` 差评按期整改: 100 × (1 − the share of its rectification tasks
  overdue). The last two come from the ratings (``statistics.ratings_by_group``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy.orm import Session

from backend import clock
from backend.models import StaffAccount
from backend.services import statistics
from media import documents, tables

Indicator = Literal["on_time", "speed", "first_visit_pass", "satisfaction",
                    "rectification_on_time"]


def _on_time(row: statistics.Row) -> float | None:
    items = row.items
    return 100 * (items.decided - items.late) / items.decided if items.decided else None


def _speed(row: statistics.Row) -> float | None:
    items = row.items
    if not items.decided or not items.promised_average or items.days.average is None:
        return None
    return 100 * min(1.0, max(0.0, 1 - items.days.average / items.promised_average))


def _first_visit_pass(row: statistics.Row) -> float | None:
    rate = row.inspections.first_visit_pass_rate
    return None if rate is None else 100 * rate


def _satisfaction(row: statistics.Row) -> float | None:
    ratings = row.ratings
    if ratings is None or not ratings.rated:
        return None
    return 100 * (1 - ratings.dissatisfied / ratings.rated)


def _rectification_on_time(row: statistics.Row) -> float | None:
    ratings = row.ratings
    if ratings is None or not ratings.rectification_tasks:
        return None
    return 100 * (1 - ratings.rectification_overdue / ratings.rectification_tasks)


# indicator → (name, how it is scored) in the order a scorecard lists them
INDICATORS: dict[str, tuple[str, Callable[[statistics.Row], float | None]]] = {
    "on_time": ("按时办结", _on_time),
    "speed": ("办理提速", _speed),
    "first_visit_pass": ("核查一次通过", _first_visit_pass),
    "satisfaction": ("好差评满意度", _satisfaction),
    "rectification_on_time": ("差评按期整改", _rectification_on_time),
}


class WeightsFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    indicators: dict[Indicator, Annotated[float, Field(ge=0, le=1000)]]


class WeightsInvalid(ValueError):
    """config/scorecard.yaml (SCORECARD_PATH) cannot be used; the message says why."""


def load_weights(path: Path) -> dict[str, float]:
    """indicator → weight from the YAML file at ``path``, every indicator present (one the
    file leaves out weighs 0). Raises WeightsInvalid naming the problem: not readable, not
    YAML, an unknown indicator, a weight below 0 or above 1000, or all weights 0."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        weights = WeightsFile.model_validate(data).indicators
    except (OSError, yaml.YAMLError) as error:
        raise WeightsInvalid(f"{path}: {error}") from None
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}"
                             for e in error.errors())
        raise WeightsInvalid(f"{path}: {problems}") from None
    if not any(weights.values()):
        raise WeightsInvalid(f"{path}: every weight is 0, nothing would be scored")
    return {name: float(weights.get(name, 0)) for name in INDICATORS}


@dataclass(frozen=True)
class Mark:
    """One indicator of one unit: its score (None: no data this month) and weight."""

    key: str
    name: str
    score: float | None
    weight: float


@dataclass(frozen=True)
class UnitScore:
    code: str
    name: str
    row: statistics.Row
    marks: tuple[Mark, ...]
    score: float | None
    rank: int | None  # 1 = best of the units scored; None for a unit's own view


@dataclass(frozen=True)
class Scorecard:
    period: statistics.Period
    figures: statistics.Figures
    units: tuple[UnitScore, ...]
    weights: dict[str, float]


def score_of(row: statistics.Row, weights: dict[str, float]) -> tuple[tuple[Mark, ...],
                                                                       float | None]:
    """The marks of one unit's figures and its weighted score (None without data)."""
    marks = tuple(Mark(key, name, None if (s := how(row)) is None else round(s, 1),
                       weights[key])
                  for key, (name, how) in INDICATORS.items() if weights[key] > 0)
    scored = [(INDICATORS[m.key][1](row), m.weight) for m in marks if m.score is not None]
    total = sum(w for _, w in scored)
    return marks, (round(sum(s * w for s, w in scored) / total, 1) if total else None)


def monthly(session: Session, *, staff: StaffAccount, weights: dict[str, float],
            month: str | None = None, today: date | None = None) -> Scorecard:
    """The scorecard of ``month`` (YYYY-MM; default this month, CST): every unit of the
    catalog in force for administrators, ranked; a reviewer's own unit only, unranked.
    Raises STATISTICS_PERIOD_INVALID (422), FORBIDDEN_ROLE (403)."""
    period = statistics.period_of("month", month=month, today=today or clock.today())
    figures = statistics.figures(session, staff=staff, period=period, group_by="unit")
    scored = []
    for row in figures.rows:
        marks, score = score_of(row, weights)
        scored.append((row, marks, score))
    ranked = sorted((s for _, _, s in scored if s is not None), reverse=True)
    units = [UnitScore(row.key, row.name, row, marks, score,
                       None if figures.unit or score is None else ranked.index(score) + 1)
             for row, marks, score in scored]
    units.sort(key=lambda u: (u.score is None, -(u.score or 0)))  # stable: catalog order
    return Scorecard(period, figures, tuple(units), weights)


ISSUER = "山西省行政审批服务管理局"  # evaluates the units (晋政办发〔2022〕90号 四（二）)


def _shown(value: float | int | None) -> str:
    return "—" if value is None else f"{value:g}"


def rows(card: Scorecard, *, text: bool) -> list[list]:
    """The scorecard as a table, header first: as text for print (``text``), else numbers
    (None for no data) for a spreadsheet."""
    marks = card.units[0].marks if card.units else ()
    header = ["排名", "审批单位", "办结事项", "超期办结", "平均用时（工作日）",
              *(f"{m.name}（权重 {m.weight:g}）" for m in marks), "综合得分"]
    out: list[list] = [header]
    for unit in card.units:
        values = [unit.rank, unit.name, unit.row.items.decided, unit.row.items.late,
                  unit.row.items.days.average, *(m.score for m in unit.marks), unit.score]
        out.append([v if isinstance(v, str) else _shown(v) for v in values] if text
                   else values)
    return out


def _notes(card: Scorecard) -> tuple[str, ...]:
    return ("各项指标按 0–100 计分；综合得分为本月有数据的指标按权重加权平均，无数据的指标不计入；"
            "“—”表示本月无数据。",
            "按时办结：本单位办结事项中在承诺期限内办结的比例；"
            "办理提速：1 − 平均用时 ÷ 平均承诺时限；"
            "核查一次通过：涉及本单位事项的联合核查首次通过率；"
            "好差评满意度、差评按期整改：依据好差评及整改记录。")


def pdf(card: Scorecard, *, font_path: str | None = None, today: date | None = None) -> bytes:
    """The scorecard printed (media.documents.render_report), landscape A4."""
    today = today or clock.today()
    scope = f"审批单位：{card.figures.unit_name}" if card.figures.unit else "全省各审批单位"
    return documents.render_report(documents.Report(
        title="“一业一证”审批单位绩效考评表",
        lines=(f"考评期间：{card.period.label}　{scope}",),
        rows=tuple(tuple(r) for r in rows(card, text=True)), notes=_notes(card),
        issuer=ISSUER, issued_on=f"{today.year}年{today.month}月{today.day}日"),
        font_path=font_path)


def workbook(card: Scorecard) -> bytes:
    """The scorecard and the month's figures by unit as an Excel workbook (media.tables)."""
    title = f"绩效考评 {card.period.label}"
    return tables.xlsx_bytes([
        tables.Sheet("绩效考评", rows(card, text=False), notes=(title, *_notes(card))),
        tables.Sheet("统计数据", statistics.table(card.figures),
                     notes=(f"统计数据（按审批单位） {card.period.label}",))])
