"""Validators for the shared 经营主体 / 经营场所 section of the application form.

Each takes what the applicant typed and returns the canonical value — after
``backend.identifiers.normalize_identifier`` (full-width folded, invisible characters and
spaces removed, as pasted from a chat app) and the standard's own rules — or raises
``FieldInvalid`` with a stable machine-readable code and a Chinese message the applicant can
act on. Pure: no database, no request; ``id_number`` reads today's date unless given one.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from contextlib import suppress
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from functools import cache
from types import MappingProxyType

import yaml
from stdnum.cn import ric, uscc
from stdnum.exceptions import InvalidChecksum, InvalidLength, ValidationError

from backend.errors import RuleViolation
from backend.identifiers import normalize_identifier
from config.settings import PROJECT_ROOT

DIVISIONS_FILE = PROJECT_ROOT / "config" / "divisions" / "shanxi.yaml"
MAX_FLOOR_AREA = Decimal(100_000)  # m²; far above any one premises, catches unit mix-ups
EARLIEST_BIRTH = dt.date(1900, 1, 1)
ENTITY_KINDS = ("enterprise", "individual")  # 企业, 个体工商户
INDIVIDUAL_PREFIX = "92"  # GB 32100: 9 = market-regulation registration, 2 = 个体工商户

# re.ASCII: after NFKC, digits of other scripts (٣, ३ …) are still \d but no phone has them
_MOBILE = re.compile(r"(?:\+86|0086|86)?(1[3-9]\d{9})", re.ASCII)
_LANDLINE = re.compile(r"(0(?:10|2\d|[3-9]\d{2}))([1-9]\d{6,7})", re.ASCII)  # area + local
_PHONE_SEPARATORS = re.compile(r"[-()]")  # how numbers are grouped; spaces are gone already
_CENT = Decimal("0.01")


class FieldInvalid(RuleViolation):
    """One form field failed validation: ``code`` is stable, ``message`` is for the applicant.

    A ``RuleViolation`` so that, raised from a view, it becomes the usual error envelope.
    """

    def __init__(self, code: str, message: str):
        super().__init__(code, message)


@dataclass(frozen=True)
class Divisions:
    """The province's division table; ``counties`` maps county code → (city code, name)."""

    province_code: str
    province_name: str
    cities: Mapping[str, str]
    counties: Mapping[str, tuple[str, str]]


@dataclass(frozen=True)
class Division:
    """A validated city/county pair with the names needed to show it."""

    province_name: str
    city_code: str
    city_name: str
    county_code: str
    county_name: str

    @property
    def display(self) -> str:
        return f"{self.province_name} {self.city_name} {self.county_name}"


def _text(value: object) -> str:
    """The canonical text of what was typed: see ``normalize_identifier``."""
    return "" if value is None else normalize_identifier(str(value))


def credit_code(value: str | None) -> str:
    """统一社会信用代码 per GB 32100-2015: 18 characters, the last a check character."""
    code = uscc.compact(_text(value))  # also drops hyphens, upper-cases
    if not code:
        raise FieldInvalid("USCC_INVALID", "请填写统一社会信用代码")
    try:
        return uscc.validate(code)
    except InvalidLength:
        raise FieldInvalid("USCC_INVALID", "统一社会信用代码应为18位，请核对营业执照") from None
    except InvalidChecksum:
        raise FieldInvalid(
            "USCC_INVALID", "统一社会信用代码校验位不正确，请核对营业执照") from None
    except ValidationError:
        raise FieldInvalid(
            "USCC_INVALID", "统一社会信用代码含有无效字符，请核对营业执照") from None


def id_number(value: str | None, *, today: dt.date | None = None) -> str:
    """18-digit resident ID number per GB 11643-1999: check digit and a possible birth date.

    The address code is not checked against a list: numbers keep the code of the county
    that issued them, so a list of today's (or the birth year's) counties would reject real
    numbers, e.g. 140105… for someone born before 小店区 existed (1997).
    """
    number = _text(value).upper()
    if not number:
        raise FieldInvalid("ID_NUMBER_INVALID", "请填写身份证号码")
    if not re.fullmatch(r"\d{17}[\dX]", number, re.ASCII):
        raise FieldInvalid("ID_NUMBER_INVALID", "请填写18位居民身份证号码（末位可为X）")
    if ric.calc_check_digit(number) != number[-1]:
        raise FieldInvalid("ID_NUMBER_INVALID", "身份证号码校验位不正确，请核对")
    try:
        born = ric.get_birth_date(number)
    except ValidationError:
        raise FieldInvalid("ID_NUMBER_INVALID", "身份证号码中的出生日期不存在，请核对") from None
    if not EARLIEST_BIRTH <= born <= (today or dt.date.today()):
        raise FieldInvalid("ID_NUMBER_INVALID", "身份证号码中的出生日期不合理，请核对")
    return number


def mobile_phone(value: str | None) -> str:
    """Mainland mobile (returned as 11 digits) or landline with area code ("0351-1234567")."""
    phone = _PHONE_SEPARATORS.sub("", _text(value))
    if not phone:
        raise FieldInvalid("PHONE_INVALID", "请填写联系电话")
    if match := _MOBILE.fullmatch(phone):
        return match.group(1)
    if match := _LANDLINE.fullmatch(phone):
        return "-".join(match.groups())
    raise FieldInvalid("PHONE_INVALID", "请填写11位手机号码，或带区号的固定电话（如0351-1234567）")


@cache
def load_divisions() -> Divisions:
    """config/divisions/shanxi.yaml, read and checked once per process."""
    data = yaml.safe_load(DIVISIONS_FILE.read_text(encoding="utf-8"))
    cities: dict[str, str] = {}
    counties: dict[str, tuple[str, str]] = {}
    for city_code, city in data["cities"].items():
        cities[city_code] = city["name"]
        for county_code, name in city["counties"].items():
            if not (isinstance(county_code, str) and isinstance(city_code, str)
                    and re.fullmatch(r"\d{6}", county_code)
                    and county_code[:4] == city_code[:4]):
                raise ValueError(f"{DIVISIONS_FILE}: county {county_code!r} under {city_code!r}")
            counties[county_code] = (city_code, name)
    province = data["province"]
    return Divisions(province["code"], province["name"],
                     MappingProxyType(cities), MappingProxyType(counties))


def division_code(value: str | None) -> str:
    """A 6-digit administrative division code; whether it exists is checked with its pair."""
    code = _text(value)
    if not re.fullmatch(r"\d{6}", code, re.ASCII):
        raise FieldInvalid("DIVISION_UNKNOWN", "行政区划代码应为6位数字，请重新选择")
    return code


def division(city_code: str | None, county_code: str | None) -> Division:
    """The premises' city and county: both Shanxi codes, the county within the city."""
    table = load_divisions()
    city, county = _text(city_code), _text(county_code)
    if city not in table.cities:
        raise FieldInvalid("DIVISION_UNKNOWN", "所在市不在山西省行政区划内，请重新选择")
    if county not in table.counties:
        raise FieldInvalid("DIVISION_UNKNOWN", "所在区县不在山西省行政区划内，请重新选择")
    parent, county_name = table.counties[county]
    if parent != city:
        raise FieldInvalid(
            "DIVISION_MISMATCH", f"{county_name}不属于{table.cities[city]}，请重新选择区县")
    return Division(table.province_name, city, table.cities[city], county, county_name)


def floor_area(value: str | float | Decimal | None) -> Decimal:
    """经营场所面积 in m², to the hundredth: more than 0, at most 100000."""
    text = _text(value)
    if not text:
        raise FieldInvalid("FLOOR_AREA_INVALID", "请填写经营场所面积")
    with suppress(InvalidOperation):  # Decimal() would also read ٣ or ३ as 3: ASCII only
        if not text.isascii():
            raise InvalidOperation  # not a number, NaN, infinite or absurdly long
        area = Decimal(text).quantize(_CENT, ROUND_HALF_UP)
        if 0 < area <= MAX_FLOOR_AREA:
            return area
    raise FieldInvalid("FLOOR_AREA_INVALID", "经营场所面积应为大于0且不超过100000的数字（平方米）")


def entity_kind(kind: str | None, code: str | None) -> tuple[str, str]:
    """The entity kind and its credit code, consistent with each other.

    Since 2016 (两证整合 for 个体工商户) every individual business also has a 统一社会信用代码,
    so the code is required for both kinds. GB 32100 marks an individual business by its
    first two characters "92"; the kind must agree with them either way. Other prefixes
    (91 企业, 93 农民专业合作社, 52 民办非企业单位 …) all count as "enterprise".
    Returns (kind, normalised credit code).
    """
    kind_text = _text(kind)
    if kind_text not in ENTITY_KINDS:
        raise FieldInvalid("ENTITY_KIND_INVALID", "请选择经营主体类型：企业或个体工商户")
    normalised = credit_code(code)
    if kind_text == "individual" and not normalised.startswith(INDIVIDUAL_PREFIX):
        raise FieldInvalid(
            "ENTITY_KIND_MISMATCH", "个体工商户的统一社会信用代码应以92开头，请核对营业执照")
    if kind_text == "enterprise" and normalised.startswith(INDIVIDUAL_PREFIX):
        raise FieldInvalid(
            "ENTITY_KIND_MISMATCH", "该统一社会信用代码属于个体工商户，请将主体类型选为个体工商户")
    return kind_text, normalised
