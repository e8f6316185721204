"""经营主体 / 经营场所 validators and the masking of personal information. Pure: no app, no DB."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from stdnum.cn import ric, uscc

from backend.errors import RuleViolation
from backend.identifiers import clean_text, normalize_identifier
from backend.security.masking import mask_id_number, mask_name, mask_openid, mask_phone
from backend.services import entity
from backend.services.entity import FieldInvalid

VALID_USCC = "91110000600037341L"
VALID_ID = "360426199101010071"


def with_uscc_check(body: str) -> str:
    return body + uscc.calc_check_digit(body)


def with_id_check(body: str) -> str:
    return body + ric.calc_check_digit(body + "0")  # the function ignores the last character


def flip(check: str, alphabet: str) -> str:
    return alphabet[(alphabet.index(check) + 1) % len(alphabet)]


def invalid(call, *args, **kwargs) -> FieldInvalid:
    with pytest.raises(FieldInvalid) as caught:
        call(*args, **kwargs)
    return caught.value


INDIVIDUAL_USCC = with_uscc_check("92140105MA0K12345")
USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"


def test_field_invalid_carries_code_and_message_and_becomes_an_envelope():
    error = FieldInvalid("USCC_INVALID", "统一社会信用代码校验位不正确，请核对营业执照")
    assert isinstance(error, Exception) and isinstance(error, RuleViolation)
    assert (error.code, error.message, error.status) == (
        "USCC_INVALID", "统一社会信用代码校验位不正确，请核对营业执照", 422)


# --- 统一社会信用代码 (GB 32100) ---

@pytest.mark.parametrize("raw", [
    VALID_USCC, " 91110000600037341l ", "9111 0000 6000 3734 1L", "91110000-600037341L",
    "９１１１００００６０００３７３４１Ｌ",  # full-width, as some keyboards type it
])
def test_credit_code_valid_is_normalised(raw):
    assert entity.credit_code(raw) == VALID_USCC


def test_credit_code_computed_with_stdnum_is_valid():
    assert entity.credit_code(INDIVIDUAL_USCC) == INDIVIDUAL_USCC


def test_credit_code_wrong_check_character():
    wrong = VALID_USCC[:-1] + flip(VALID_USCC[-1], USCC_ALPHABET)
    error = invalid(entity.credit_code, wrong)
    assert error.code == "USCC_INVALID"
    assert "校验位" in error.message


@pytest.mark.parametrize(("raw", "fragment"), [
    ("91110000600037341", "18位"),
    ("91110000600037341LL", "18位"),
    ("9111000060003734IO", "无效字符"),  # I and O are not in the GB 32100 alphabet
    ("A1110000600037341L", "无效字符"),
    ("", "请填写"),
    (None, "请填写"),
])
def test_credit_code_malformed(raw, fragment):
    error = invalid(entity.credit_code, raw)
    assert error.code == "USCC_INVALID"
    assert fragment in error.message


# --- 居民身份证号码 (GB 11643) ---

def test_id_number_valid():
    assert entity.id_number(VALID_ID) == VALID_ID
    assert entity.id_number(f"  {VALID_ID} ") == VALID_ID


def test_id_number_accepts_lowercase_x():
    number = next(n for n in (with_id_check(f"14010519850101{i:03d}") for i in range(1000))
                  if n.endswith("X"))
    assert entity.id_number(number.lower()) == number


def test_id_number_address_code_newer_than_birth_is_accepted():
    # 小店区 exists since 1997; people born earlier got 140105 when their ID was issued there
    number = with_id_check("14010519900101001")
    assert entity.id_number(number) == number


def test_id_number_wrong_check_digit():
    error = invalid(entity.id_number, VALID_ID[:-1] + flip(VALID_ID[-1], "0123456789X"))
    assert error.code == "ID_NUMBER_INVALID"
    assert "校验位" in error.message


@pytest.mark.parametrize("body", [
    "36042619910230007",  # 30 February
    "36042619911301007",  # month 13
    "36042619910100007",  # day 0
])
def test_id_number_impossible_birth_date(body):
    error = invalid(entity.id_number, with_id_check(body))
    assert error.code == "ID_NUMBER_INVALID"
    assert "出生日期不存在" in error.message


def test_id_number_future_birth_date():
    number = with_id_check("14010520250102001")
    error = invalid(entity.id_number, number, today=dt.date(2025, 1, 1))
    assert error.code == "ID_NUMBER_INVALID"
    assert "出生日期不合理" in error.message
    assert entity.id_number(number, today=dt.date(2025, 1, 2)) == number


def test_id_number_birth_before_1900():
    error = invalid(entity.id_number, with_id_check("14010518991231001"))
    assert "出生日期不合理" in error.message


@pytest.mark.parametrize("raw", ["360426910101007", "36042619910101007", "36042619910101007Y",
                                 "3604261991010100X1", "", None])
def test_id_number_malformed(raw):
    assert invalid(entity.id_number, raw).code == "ID_NUMBER_INVALID"


# --- 联系电话 ---

@pytest.mark.parametrize(("raw", "expected"), [
    ("13812345678", "13812345678"),
    ("+86 138 1234 5678", "13812345678"),
    ("138-1234-5678", "13812345678"),
    ("19912345678", "19912345678"),
    ("0351-1234567", "0351-1234567"),
    ("0351 7654321", "0351-7654321"),
    ("(0351)7654321", "0351-7654321"),
    ("03517654321", "0351-7654321"),
    ("010-12345678", "010-12345678"),
])
def test_phone_valid(raw, expected):
    assert entity.mobile_phone(raw) == expected


@pytest.mark.parametrize("raw", ["12812345678", "1381234567", "138123456789", "7654321",
                                 "0351-0123456", "0351-123456", "phone", "", None])
def test_phone_invalid(raw):
    assert invalid(entity.mobile_phone, raw).code == "PHONE_INVALID"


# --- values pasted from a chat app ---

@pytest.mark.parametrize(("raw", "expected"), [
    ("\u202d13812345678\u202c", "13812345678"),  # LRO … PDF around a number (WeChat)
    ("138\u200b1234\u200b5678", "13812345678"),  # zero-width spaces
    ("\ufeff１３８\u00a0１２３４\u30005678\u2060", "13812345678"),  # BOM, NBSP, U+3000, WJ
    ("140105 19900307 104x", "14010519900307104x"),  # case is the identifier's own rule
    ("0351-1234567\n", "0351-1234567"),
])
def test_normalize_identifier_removes_what_chat_apps_add(raw, expected):
    assert normalize_identifier(raw) == expected


def test_clean_text_drops_invisible_characters_but_keeps_spaces_and_punctuation():
    assert clean_text("\u202d 太原市小店区平阳路 1 号（东门），\u200b二层\u3000") == \
        "太原市小店区平阳路 1 号（东门），二层"


@pytest.mark.parametrize(("validator", "raw", "expected"), [
    (entity.id_number, "\u202d360426199101010071\u202c", VALID_ID),
    (entity.id_number, "360426 19910101 0071", VALID_ID),
    (entity.credit_code, "911100006000\u200b37341L", VALID_USCC),
    (entity.mobile_phone, "\u202d138-1234-5678\u202c", "13812345678"),
    (entity.division_code, "\u202d１４０１０５\u202c", "140105"),
    (entity.floor_area, "\u202d１２０．５\u202c", Decimal("120.50")),
])
def test_validators_accept_pasted_values_and_return_them_canonical(validator, raw, expected):
    assert validator(raw) == expected


@pytest.mark.parametrize(("validator", "raw", "code"), [
    # digits of other scripts survive NFKC and match Python's \d, but belong in no identifier
    (entity.id_number, "٣٦٠٤٢٦١٩٩١٠١٠١٠٠٧1", "ID_NUMBER_INVALID"),
    (entity.mobile_phone, "13٨١٢٣٤٥٦٧٨", "PHONE_INVALID"),
    (entity.division_code, "١٤٠١٠٥", "DIVISION_UNKNOWN"),
    (entity.division_code, "14010", "DIVISION_UNKNOWN"),
    (entity.division_code, "\u200b", "DIVISION_UNKNOWN"),
])
def test_validators_refuse_identifiers_that_are_still_wrong(validator, raw, code):
    assert invalid(validator, raw).code == code


# --- 行政区划 ---

def test_divisions_cover_all_of_shanxi():
    table = entity.load_divisions()
    assert (table.province_code, table.province_name) == ("140000", "山西省")
    assert len(table.cities) == 11
    assert table.cities["140100"] == "太原市" and table.cities["141100"] == "吕梁市"
    assert len(table.counties) >= 110
    for county, (city, _name) in table.counties.items():
        assert county[:4] == city[:4]
    assert entity.load_divisions() is table


@pytest.mark.parametrize(("code", "name"), [
    ("140215", "云州区"), ("140213", "平城区"), ("140214", "云冈区"), ("140403", "潞州区"),
    ("140404", "上党区"), ("140405", "屯留区"), ("140406", "潞城区"), ("140681", "怀仁市"),
    ("140703", "太谷区"),
])
def test_divisions_reflect_recent_changes(code, name):
    assert entity.load_divisions().counties[code][1] == name


@pytest.mark.parametrize("retired", ["140227", "140421", "140424", "140624", "140726"])
def test_divisions_drop_retired_codes(retired):
    # 大同县, 长治县, 屯留县, 怀仁县, 太谷县
    assert retired not in entity.load_divisions().counties


def test_division_valid_pair():
    place = entity.division("140100", " 140105 ")
    assert (place.city_code, place.county_code) == ("140100", "140105")
    assert place.display == "山西省 太原市 小店区"


@pytest.mark.parametrize(("city", "county"), [
    ("140100", "140215"),  # 云州区 is in 大同市
    ("140500", "140302"),  # 阳泉's 城区, not 晋城's (140502)
])
def test_division_county_of_another_city(city, county):
    assert invalid(entity.division, city, county).code == "DIVISION_MISMATCH"


@pytest.mark.parametrize(("city", "county"), [
    ("130100", "130102"),  # 石家庄, not Shanxi
    ("140100", "140199"),
    ("140100", "140726"),  # the former 太谷县
    ("", ""),
    (None, None),
])
def test_division_unknown(city, county):
    assert invalid(entity.division, city, county).code == "DIVISION_UNKNOWN"


# --- 经营场所面积 ---

@pytest.mark.parametrize(("raw", "expected"), [
    ("120.5", Decimal("120.50")), (80, Decimal("80.00")), (35.25, Decimal("35.25")),
    (" 100000 ", Decimal("100000.00")), (Decimal("0.01"), Decimal("0.01")),
])
def test_floor_area_valid(raw, expected):
    assert entity.floor_area(raw) == expected


@pytest.mark.parametrize("raw", ["0", -5, "0.001", "100000.01", 1e30, "abc", "NaN", "Infinity",
                                 "", None, True])
def test_floor_area_invalid(raw):
    assert invalid(entity.floor_area, raw).code == "FLOOR_AREA_INVALID"


# --- 主体类型 ---

def test_entity_kind_enterprise_and_individual():
    assert entity.entity_kind("enterprise", VALID_USCC.lower()) == ("enterprise", VALID_USCC)
    assert entity.entity_kind("individual", INDIVIDUAL_USCC) == ("individual", INDIVIDUAL_USCC)


@pytest.mark.parametrize(("kind", "code"), [
    ("individual", VALID_USCC), ("enterprise", INDIVIDUAL_USCC)])
def test_entity_kind_must_agree_with_code(kind, code):
    assert invalid(entity.entity_kind, kind, code).code == "ENTITY_KIND_MISMATCH"


def test_entity_kind_unknown_or_code_missing():
    assert invalid(entity.entity_kind, "company", VALID_USCC).code == "ENTITY_KIND_INVALID"
    assert invalid(entity.entity_kind, "individual", None).code == "USCC_INVALID"


# --- masking ---

def test_mask_id_number():
    assert mask_id_number("140105199001011234") == "1401**********1234"
    assert mask_id_number(entity.id_number(VALID_ID)) == "3604**********0071"
    assert mask_id_number("140105900101123") == "1401*******1123"
    assert mask_id_number("12345") == "*****"
    assert mask_id_number(None) == ""


def test_mask_phone():
    assert mask_phone("13812345678") == "138****5678"
    assert mask_phone("0351-1234567") == "0351-***4567"
    assert mask_phone("010-12345678") == "010-****5678"
    assert mask_phone(entity.mobile_phone("(0351)7654321")) == "0351-***4321"
    assert mask_phone("12") == "**"
    assert mask_phone(None) == ""


def test_mask_name():
    assert mask_name("张三") == "张*"
    assert mask_name("欧阳娜娜") == "欧***"
    assert mask_name("张") == "*"
    assert mask_name("") == ""


def test_mask_openid():
    assert mask_openid("oAbC1234567890defGhIjK") == "oAbC****hIjK"
    assert mask_openid("short") == "*****"
    assert mask_openid(None) == ""
