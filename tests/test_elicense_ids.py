"""证照标识 (GB/T 36904): the published identifiers verify; every wrong one is refused with its
own stable code (../shared/reference/e-license.md)."""

from __future__ import annotations

import pytest

from backend.services import elicense_ids as ids

# Published identifiers whose check character verifies (the reference file's test vectors)
VECTORS = [
    ("11100000000013338W011", "11430000006122244L", "20230000403", 1, "U"),
    ("11100000000013338W009", "11330105002500287C", "2025052201", 2, "0"),
    ("11100000000013338W032", "11220000013544541J", "2430599", 1, "F"),
]


@pytest.mark.parametrize(("type_code", "issuer", "serial", "version", "check"), VECTORS)
def test_published_identifiers_compute_and_parse(type_code, issuer, serial, version, check):
    made = ids.compute(type_code, issuer, serial, version)
    text = f"1.2.156.3005.2.{type_code}.{issuer}.{serial}.{version:03d}.{check}"
    assert made.check == check and str(made) == text
    assert ids.parse(text) == made and ids.is_valid(text)
    assert made.definer_code == type_code[:18]
    # pasted from a chat app, in lower case with a zero-width space: the same identifier
    assert ids.parse("\u200b" + text.lower() + " ") == made


def test_the_next_version_keeps_the_license_and_gets_its_own_check():
    first = ids.compute(*VECTORS[0][:4])
    second = first.next_version()
    assert (second.version_text, second.serial, second.type_code) == (
        "002", first.serial, first.type_code)
    assert ids.parse(str(second)) == second


GOOD = "1.2.156.3005.2.11100000000013338W032.11220000013544541J.2430599.001.F"


@pytest.mark.parametrize(("text", "code"), [
    (GOOD[:-1] + "G", "ELICENSE_ID_CHECK"),  # a wrong check character
    (GOOD.replace(".2430599.", ".2430598."), "ELICENSE_ID_CHECK"),  # one digit mistyped
    (GOOD.replace("3005", "3003"), "ELICENSE_ID_ROOT"),  # the import tool's bug
    (GOOD.replace("1.2.156.3005.2", "1.2.840.3005.2"), "ELICENSE_ID_ROOT"),
    (GOOD.replace("W032", "W32"), "ELICENSE_ID_TYPE_CODE"),  # 20 characters
    (GOOD.replace("W032", "W0320"), "ELICENSE_ID_TYPE_CODE"),
    (GOOD.replace("44541J", "4541J"), "ELICENSE_ID_ISSUER_CODE"),  # 17 characters
    (GOOD.replace(".001.", ".01."), "ELICENSE_ID_VERSION"),
    (GOOD.replace(".001.", ".000."), "ELICENSE_ID_VERSION"),
    (GOOD.replace(".2430599.", ".2430-599."), "ELICENSE_ID_SERIAL"),
    (GOOD.replace(".2430599.", "." + "9" * 33 + "."), "ELICENSE_ID_SERIAL"),
    (GOOD.replace(".001.F", ".001"), "ELICENSE_ID_FORMAT"),  # no check character
    (GOOD + ".F", "ELICENSE_ID_FORMAT"),
    ("140105202601000001X", "ELICENSE_ID_FORMAT"),  # a license number is not one
    ("", "ELICENSE_ID_FORMAT"),
    (GOOD + "0" * 200, "ELICENSE_ID_FORMAT"),
])
def test_a_wrong_identifier_is_refused_with_its_own_code(text, code):
    with pytest.raises(ids.IdentifierInvalid) as caught:
        ids.parse(text)
    assert caught.value.code == code and caught.value.message == ids.PROBLEMS[code]
    assert not ids.is_valid(text)
    answer = caught.value.as_field("q")
    assert answer.code == "ELICENSE_ID_INVALID"
    assert answer.details["fields"] == [{"field": "q", "code": code,
                                         "message": ids.PROBLEMS[code]}]


def test_what_is_meant_as_an_identifier():
    assert ids.looks_like(GOOD) and ids.looks_like(GOOD.replace("3005", "3003"))
    assert ids.looks_like("１.２.156")  # full-width, as a phone keyboard types it
    for other in ("140105202601000001X", "91110000600037341L", "晋味便利店", "1.", ""):
        assert not ids.looks_like(other), other


def test_a_placeholder_credit_code_is_well_formed_and_stable():
    code = ids.placeholder_credit_code("140105", "approval_bureau")
    assert ids.is_credit_code(code) and code.startswith("11140105")
    assert code == ids.placeholder_credit_code("140105", "approval_bureau")
    assert code != ids.placeholder_credit_code("140105", "fire")
    assert code != ids.placeholder_credit_code("140106", "approval_bureau")
    assert not ids.is_credit_code(code[:-1] + ("0" if code[-1] != "0" else "1"))
