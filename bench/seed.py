"""Licenses in bulk for the verification rows: 1 000 000 in a minute or two, not an hour.

Rows go to MariaDB with ``LOAD DATA LOCAL INFILE`` from tab-separated files (the ORM would
spend ~1 ms a row). Each license is what issuing makes: an application behind it, a number
of the real form (county, year, industry, serial, ISO 7064 check character, so a stricter
parser still accepts it), two bundled permits valid for five years, and the e-licenses of the
license and of each permit (a 证照标识 each), and its public record, written from those rows by
the service's own ``public_records.rebuild`` once they are committed (the one row a cold scan
reads). Signed verify paths for wrk are then made with the app's own keyring, so every
request pays the real checks.
"""

from __future__ import annotations

import json
import random
import tempfile
import time
from collections.abc import Iterable
from datetime import date, datetime
from pathlib import Path
from urllib.parse import urlsplit

from sqlalchemy import Engine, Table, create_engine, func, insert, select, text

from backend.models import (
    Applicant,
    Application,
    CatalogVersion,
    Elicense,
    License,
    LicenseItem,
)
from backend.security import signatures
from backend.services import elicense_ids, public_records
from backend.services.licenses import check_character

COUNTY, YEAR, INDUSTRY_NO = "140105", 2026, 1
SERIALS = 10**6  # six digits
# n → serial is a bijection on 0 … 10⁶−1 (7919 is prime to 10), so numbers look random
_STRIDE, _OFFSET = 7919, 123_457
VALID_UNTIL = date(2031, 11, 24)
ITEMS = (  # the restaurant's two standing permits (config/catalog/catalog.yaml)
    {"item_code": "food_business", "item_name": "食品经营许可",
     "approving_unit": "approval_bureau", "supervising_unit": "market"},
    {"item_code": "sewage_discharge", "item_name": "城镇污水排入排水管网许可",
     "approving_unit": "approval_bureau", "supervising_unit": "water"},
)


ELICENSE_TYPES = ("111400000000000003101", "111400000000000003117")  # the catalog's
ELICENSE_NAMES = ("食品经营许可证", "城镇污水排入排水管网许可证")
ISSUER = elicense_ids.placeholder_credit_code(COUNTY, "approval_bureau")
ELICENSE = {  # what every bench e-license shares (backend.services.elicenses.first_versions)
    "type_estimated": True, "definer_name": "山西省审批服务管理局", "issuer_code": ISSUER,
    "issuer_name": "太原市小店区行政审批服务管理局", "issuer_level": "county",
    "issuer_estimated": True, "version": 1, "issued_on": date(2026, 11, 25),
    "valid_from": date(2026, 11, 25), "valid_until": VALID_UNTIL, "division_code": COUNTY,
    "holder_name": "晋味饭店", "holder_code": "91110000600037341L", "holder_code_type": "001",
    "service_item_name": "行业综合许可证核发（一业一证）", "status_code": "01", "extension": {}}


def license_number(n: int) -> str:
    """The n-th bench license number (n < 10⁶), of the form licenses.py issues."""
    body = f"{COUNTY}{YEAR}{INDUSTRY_NO:02d}{(n * _STRIDE + _OFFSET) % SERIALS:06d}"
    return body + check_character(body)


def bulk_engine(database_url: str) -> Engine:
    return create_engine(database_url, connect_args={"local_infile": True})


def settle(engine: Engine, seconds: float = 120) -> float:
    """Wait until InnoDB has written the seeded pages back (at most ``seconds``), so that a
    row measured next does not share the disk with the flushing of the rows before it (the
    bench's MariaDB runs with ``innodb_max_dirty_pages_pct=0``, so it flushes at once)."""
    started = time.monotonic()
    with engine.connect() as conn:
        while time.monotonic() - started < seconds:
            status = dict(conn.execute(text(
                "SHOW GLOBAL STATUS WHERE Variable_name IN"
                " ('Innodb_buffer_pool_pages_dirty', 'Innodb_buffer_pool_pages_total')")).all())
            if int(status["Innodb_buffer_pool_pages_dirty"]) <= \
                    int(status["Innodb_buffer_pool_pages_total"]) // 1000:
                break
            time.sleep(1)
    return time.monotonic() - started


def count(engine: Engine) -> int:
    with engine.connect() as conn:
        return conn.scalar(select(func.count()).select_from(License.__table__))


def seed(engine: Engine, total: int) -> float:
    """Add licenses until there are ``total`` bench licenses; returns the seconds it took."""
    started = datetime.now()
    with engine.begin() as conn:
        have = conn.scalar(select(func.count()).select_from(License.__table__))
        if have >= total:
            return 0.0
        if total > SERIALS:
            raise ValueError(f"at most {SERIALS} bench licenses")
        version_id = conn.scalar(select(func.max(CatalogVersion.id)))
        applicant_id = conn.scalar(select(Applicant.id).where(Applicant.openid == "bench"))
        if applicant_id is None:
            applicant_id = conn.execute(insert(Applicant).values(openid="bench")
                                        ).inserted_primary_key[0]
        app_base = conn.scalar(select(func.coalesce(func.max(Application.id), 0)))
        lic_base = conn.scalar(select(func.coalesce(func.max(License.id), 0)))
        item_base = conn.scalar(select(func.coalesce(func.max(LicenseItem.id), 0)))
        elicense_base = conn.scalar(select(func.coalesce(func.max(Elicense.id), 0)))
        numbers = range(have, total)
        conn.execute(text("SET unique_checks = 0, foreign_key_checks = 0"))
        with tempfile.TemporaryDirectory(prefix="bench-seed-") as tmp:
            _load(conn, Path(tmp), Application.__table__, ["id"],
                  ([app_base + 1 + i] for i in range(len(numbers))),
                  {"applicant_id": applicant_id, "catalog_version_id": version_id,
                   "industry_code": "restaurant", "answers": {}, "form_values": {},
                   "deferred_materials": [], "status": "licensed"})
            _load(conn, Path(tmp), License.__table__, ["id", "application_id", "license_no"],
                  ([lic_base + 1 + i, app_base + 1 + i, license_number(n)]
                   for i, n in enumerate(numbers)),
                  {"industry_code": "restaurant", "industry_name": "饭店",
                   "industry_category": "餐饮", "holder_name": "晋味饭店",
                   "credit_code": "91110000600037341L",
                   "premises_address": "山西省太原市小店区平阳路1号", "county_code": COUNTY,
                   "issuing_authority": "太原市小店区行政审批服务管理局",
                   "issued_on": date(2026, 11, 25), "valid_until": VALID_UNTIL})
            for k, item in enumerate(ITEMS):
                _load(conn, Path(tmp), LicenseItem.__table__,
                      ["id", "license_id", "sub_license_no"],
                      ([item_base + 1 + i * len(ITEMS) + k, lic_base + 1 + i,
                        f"{license_number(n)}-{k + 1:02d}"] for i, n in enumerate(numbers)),
                      item | {"required": True, "valid_until": VALID_UNTIL})
            # their e-licenses: the combined license's and each permit's (the public page
            # reads each 证照标识 in its one query)
            kinds = [("", "111400000000000003001", "行业综合许可证", "")] + [
                (item["item_code"], type_code, name, f"{k + 1:02d}")
                for k, (item, type_code, name) in enumerate(zip(ITEMS, ELICENSE_TYPES,
                                                                 ELICENSE_NAMES, strict=True))]
            for k, (item_code, type_code, name, suffix) in enumerate(kinds):
                _load(conn, Path(tmp), Elicense.__table__,
                      ["id", "license_id", "identifier", "serial", "license_no"],
                      ([elicense_base + 1 + i * len(kinds) + k, lic_base + 1 + i,
                        str(elicense_ids.compute(type_code, ISSUER, license_number(n) + suffix,
                                                 1)),
                        license_number(n) + suffix,
                        license_number(n) + (f"-{suffix}" if suffix else "")]
                       for i, n in enumerate(numbers)),
                      ELICENSE | {"item_code": item_code, "type_code": type_code,
                                  "type_name": name, "name": name})
        conn.execute(text("SET unique_checks = 1, foreign_key_checks = 1"))
    public_records.rebuild(engine, range(lic_base + 1, lic_base + 1 + len(numbers)), 5000)
    return (datetime.now() - started).total_seconds()


def _load(conn, tmp: Path, table: Table, varying: list[str], rows: Iterable[list],
          constants: dict) -> None:
    """One LOAD DATA of ``rows`` (the ``varying`` columns) plus the same ``constants`` and
    column defaults on every row."""
    fixed = _fixed_columns(table, varying, constants)
    suffix = "".join("\t" + _tsv(v) for v in fixed.values()) + "\n"
    path = tmp / f"{table.name}.tsv"
    with path.open("w", encoding="utf-8") as out:
        out.writelines("\t".join(map(str, row)) + suffix for row in rows)
    columns = ", ".join(f"`{c}`" for c in [*varying, *fixed])
    conn.execute(text(f"LOAD DATA LOCAL INFILE '{path}' INTO TABLE `{table.name}` "  # noqa: S608
                      f"CHARACTER SET utf8mb4 ({columns})"))


def _fixed_columns(table: Table, varying: list[str], constants: dict) -> dict:
    """Every other column: a given constant, else the model's default, else NULL."""
    fixed = {}
    for column in table.columns:
        if column.name in varying:
            continue
        if column.name in constants:
            fixed[column.name] = constants[column.name]
        elif column.default is not None and column.default.is_scalar:
            fixed[column.name] = column.default.arg
        elif column.default is not None and column.default.is_callable:
            fixed[column.name] = column.default.arg(None)
        elif column.nullable:
            fixed[column.name] = None
        else:
            raise ValueError(f"{table.name}.{column.name}: no value for the bench rows")
    return fixed


def _tsv(value) -> str:
    if value is None:
        return r"\N"
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, dict | list):
        value = json.dumps(value, ensure_ascii=False)
    if isinstance(value, datetime):
        value = value.strftime("%Y-%m-%d %H:%M:%S.%f")
    if isinstance(value, date):
        value = value.isoformat()
    return str(value).replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")


def verify_paths(keyring: signatures.Keyring, population: int, how_many: int, *,
                 html: bool = False, seed: int = 12) -> list[str]:
    """Signed verify paths of ``how_many`` distinct licenses drawn from the first
    ``population``, in random order (the JSON twin unless ``html``)."""
    picks = random.Random(seed).sample(range(population), min(how_many, population))
    paths = []
    for number in map(license_number, picks):
        query = urlsplit(signatures.build_verify_url("https://x", number, 1, keyring)).query
        paths.append(f"/v/{number}?{query}" if html
                     else f"/api/public/v1/licenses/{number}?{query}")
    return paths
