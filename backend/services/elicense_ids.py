"""证照标识: the identifier of an electronic license (GB/T 36904-2018), computed and checked.

Pure: no database, no request. The form, as real e-license libraries write it::

    1.2.156.3005.2 . <证照类型代码 21> . <颁发机构代码 18> . <流水号> . <版本号 3> . <校验位 1>

- ``1.2.156.3005.2``: the fixed root (an OID). ``1.2.156.3003.2``, written by one bulk-import
  tool in the wild, is a known bug and refused (``ELICENSE_ID_ROOT``).
- 证照类型代码: the 统一社会信用代码 (18) of the body that defines the license type, then a
  3-digit sequence — assigned by the provincial e-license catalog (our catalog file).
- 颁发机构代码: the issuing authority's own 统一社会信用代码 (18).
- 流水号: the issuer's serial, upper-case letters and digits (1–32 here: our serials are the
  printed numbers without their hyphen).
- 版本号: ``001`` at first issue; a change or renewal raises it.
- 校验位: ISO 7064 MOD 37,36 (hybrid system, alphabet 0-9A-Z; python-stdnum's ``mod_37_36``)
  over 类型代码 + 颁发机构代码 + 流水号 + 版本号, concatenated without dots and without the root.

Every refusal is an :class:`IdentifierInvalid` with a stable ``code`` and a Chinese
``message`` (see ``PROBLEMS``). Case and invisible characters pasted with an identifier do
not matter (``backend.identifiers.normalize_identifier``, then upper case).
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass

from stdnum.cn import uscc
from stdnum.iso7064 import mod_37_36

from backend.errors import FieldsInvalid, RuleViolation
from backend.identifiers import normalize_identifier

ROOT = "1.2.156.3005.2"
WRONG_ROOT = "1.2.156.3003.2"  # a known bug of one import tool, never a variant
TYPE_CODE_LENGTH = 21
ISSUER_CODE_LENGTH = 18
SERIAL_MAX = 32
VERSION_MAX = 999
LENGTH = len(ROOT) + TYPE_CODE_LENGTH + ISSUER_CODE_LENGTH + SERIAL_MAX + 3 + 1 + 5  # at most
MAX_LENGTH = 128  # read no further: longer is not an identifier, whatever it holds
_ALNUM = re.compile(r"[0-9A-Z]+", re.ASCII)
_TYPE_CODE = re.compile(r"[0-9A-Z]{18}[0-9]{3}", re.ASCII)
_VERSION = re.compile(r"[0-9]{3}", re.ASCII)
# what an identifier starts with, however wrong the rest: an OID ("1.2.156.…")
_OID_START = re.compile(r"[0-9]+\.[0-9]+\.", re.ASCII)

# stable code → what the holder or clerk is told
PROBLEMS = {
    "ELICENSE_ID_FORMAT": "证照标识格式不正确：应为“1.2.156.3005.2.类型代码.颁发机构代码."
                          "流水号.版本号.校验位”",
    "ELICENSE_ID_ROOT": "证照标识的根应为 1.2.156.3005.2（1.2.156.3003.2 是错误写法）",
    "ELICENSE_ID_TYPE_CODE": "证照类型代码应为21位：定义机构的18位统一社会信用代码加3位数字顺序码",
    "ELICENSE_ID_ISSUER_CODE": "颁发机构代码应为18位统一社会信用代码（数字或大写字母）",
    "ELICENSE_ID_SERIAL": f"流水号应为1至{SERIAL_MAX}位数字或大写字母",
    "ELICENSE_ID_VERSION": "版本号应为3位数字（001起）",
    "ELICENSE_ID_CHECK": "证照标识校验位不正确，请核对",
}


class IdentifierInvalid(RuleViolation):
    """A 证照标识 that is not one: ``code`` in ``PROBLEMS``, ``message`` in Chinese."""

    def __init__(self, code: str):
        super().__init__(code, PROBLEMS[code])

    def as_field(self, field: str) -> FieldsInvalid:
        """The same refusal as an API answer naming the request field that held it:
        422 ``ELICENSE_ID_INVALID`` with ``details.fields = [{field, code, message}]``."""
        return FieldsInvalid("ELICENSE_ID_INVALID",
                             {field: {"code": self.code, "message": self.message}})


@dataclass(frozen=True, order=True)
class ElicenseId:
    """The parts of one 证照标识; ``str()`` is the identifier with its check character."""

    type_code: str
    issuer_code: str
    serial: str
    version: int

    @property
    def version_text(self) -> str:
        return f"{self.version:03d}"

    @property
    def check(self) -> str:
        return check_character(self.type_code, self.issuer_code, self.serial, self.version_text)

    @property
    def definer_code(self) -> str:
        """定义机构代码: the 统一社会信用代码 at the head of the type code."""
        return self.type_code[:18]

    def __str__(self) -> str:
        return ".".join((ROOT, self.type_code, self.issuer_code, self.serial,
                         self.version_text, self.check))

    def next_version(self) -> ElicenseId:
        """The identifier of the next version (a change or renewal), same license."""
        return compute(self.type_code, self.issuer_code, self.serial, self.version + 1)


def check_character(type_code: str, issuer_code: str, serial: str, version: str) -> str:
    """ISO 7064 MOD 37,36 over the four parts concatenated (no dots, no root)."""
    return mod_37_36.calc_check_digit(type_code + issuer_code + serial + version)


def compute(type_code: str, issuer_code: str, serial: str, version: int) -> ElicenseId:
    """The identifier of these parts; any part malformed → :class:`IdentifierInvalid`."""
    _check_parts(type_code, issuer_code, serial, f"{version:03d}" if 0 < version else "")
    return ElicenseId(type_code, issuer_code, serial, version)


def _check_parts(type_code: str, issuer_code: str, serial: str, version: str) -> None:
    if not _TYPE_CODE.fullmatch(type_code):
        raise IdentifierInvalid("ELICENSE_ID_TYPE_CODE")
    if len(issuer_code) != ISSUER_CODE_LENGTH or not _ALNUM.fullmatch(issuer_code):
        raise IdentifierInvalid("ELICENSE_ID_ISSUER_CODE")
    if len(serial) > SERIAL_MAX or not _ALNUM.fullmatch(serial):
        raise IdentifierInvalid("ELICENSE_ID_SERIAL")
    if not _VERSION.fullmatch(version) or version == "000":
        raise IdentifierInvalid("ELICENSE_ID_VERSION")


def canonical(text: str) -> str:
    """What was typed or pasted, as an identifier is written: invisible characters and
    spaces gone, full-width folded, upper case."""
    return normalize_identifier(text).upper()


def looks_like(text: str) -> bool:
    """Whether ``text`` is meant as a 证照标识 (an OID: digits, a dot, digits, a dot …), right
    or wrong — never a license number, credit code or name, which have no such start."""
    return bool(_OID_START.match(canonical(text)))


def parse(text: str) -> ElicenseId:
    """The parts of the identifier ``text``, every rule checked; else IdentifierInvalid."""
    value = canonical(text)
    if len(value) > MAX_LENGTH:
        raise IdentifierInvalid("ELICENSE_ID_FORMAT")
    if value.startswith(WRONG_ROOT + "."):
        raise IdentifierInvalid("ELICENSE_ID_ROOT")
    if not value.startswith(ROOT + "."):
        raise IdentifierInvalid("ELICENSE_ID_ROOT" if looks_like(value)
                                else "ELICENSE_ID_FORMAT")
    parts = value[len(ROOT) + 1:].split(".")
    if len(parts) != 5:
        raise IdentifierInvalid("ELICENSE_ID_FORMAT")
    type_code, issuer_code, serial, version, check = parts
    _check_parts(type_code, issuer_code, serial, version)
    if check != check_character(type_code, issuer_code, serial, version):
        raise IdentifierInvalid("ELICENSE_ID_CHECK")
    return ElicenseId(type_code, issuer_code, serial, int(version))


def is_valid(text: str) -> bool:
    try:
        parse(text)
    except IdentifierInvalid:
        return False
    return True


def placeholder_credit_code(division: str, unit: str) -> str:
    """A well-formed stand-in 统一社会信用代码 (GB 32100 check character included) for a
    body whose real code is not configured yet: ``11`` (机构编制 · 机关) + the 6-digit
    division + 9 characters fixed by the unit's code (CRC-32, so the same unit of the same
    county always gets the same stand-in) + the check character. Always flagged
    ``estimated`` where it is used; never a real body's code."""
    body = f"11{division}{zlib.crc32(unit.encode()) % 10**9:09d}"
    return body + uscc.calc_check_digit(body)


def is_credit_code(code: str) -> bool:
    """Whether ``code`` is a 统一社会信用代码 with a correct check character (GB 32100)."""
    return len(code) == 18 and uscc.is_valid(code)


_ISSUER_KEY = re.compile(r"([0-9]{6})/([a-z][a-z0-9_]{1,63})", re.ASCII)


def parse_issuer_codes(text: str) -> dict[tuple[str, str], str]:
    """The setting ``ELICENSE_ISSUER_CODES``: ``COUNTY/UNIT=CODE`` pairs separated by commas
    (``140105/approval_bureau=11140105MB0123456U,140105/fire=…``), the county a 6-digit
    division code, the unit a catalog unit code, the code the 统一社会信用代码 of that unit in
    that county (GB 32100 check character correct). → ``{(county, unit): code}``;
    ``ValueError`` naming the first bad entry."""
    codes: dict[tuple[str, str], str] = {}
    for entry in filter(None, (e.strip() for e in text.split(","))):
        key, _, code = (part.strip() for part in entry.partition("="))
        match = _ISSUER_KEY.fullmatch(key)
        if match is None:
            raise ValueError(f"{entry!r}: expected COUNTY/UNIT=CODE, e.g. "
                             "140105/approval_bureau=11140105MB0123456U")
        if not is_credit_code(code.upper()):
            raise ValueError(f"{entry!r}: {code!r} is not a 统一社会信用代码 (18 characters, "
                             "GB 32100 check character)")
        codes[(match[1], match[2])] = code.upper()
    return codes
