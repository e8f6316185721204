"""The industry catalog: load versions from the data file, read and search them.

晋政办发〔2022〕90号 三（三）动态调整目录: the catalog grows and shrinks over time. Each load of a
changed file makes a new immutable version; older versions stay readable, and an industry
is retired by a version that marks it so, never by deleting what applications point at.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError
from pypinyin import Style, lazy_pinyin
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from backend.catalog_format import CatalogDocument, Industry
from backend.errors import NotFound
from backend.models import CatalogIndustry, CatalogPermitItem, CatalogVersion


class CatalogFileInvalid(ValueError):
    """The data file does not satisfy the catalog format; nothing was loaded."""


def parse(text: str) -> CatalogDocument:
    try:
        return CatalogDocument.model_validate(yaml.safe_load(text))
    except (yaml.YAMLError, ValidationError) as error:
        raise CatalogFileInvalid(str(error)) from error


def load(session: Session, path: Path, *, loaded_by: str) -> tuple[CatalogVersion, bool]:
    """Load the file as a new version unless an identical one exists. Returns (version, created)."""
    document = parse(path.read_text(encoding="utf-8"))
    canonical = document.model_dump(mode="json")
    checksum = hashlib.sha256(
        json.dumps(canonical, ensure_ascii=False, sort_keys=True).encode()
    ).hexdigest()
    existing = session.scalar(select(CatalogVersion).where(CatalogVersion.checksum == checksum))
    if existing is not None:
        return existing, False
    number = (session.scalar(select(func.max(CatalogVersion.number))) or 0) + 1
    version = CatalogVersion(
        number=number, checksum=checksum, title=document.title, source=path.name,
        document=canonical, loaded_by=loaded_by,
    )
    version.industries = [_industry_row(document, code, ind) for code, ind in
                          document.industries.items()]
    version.permit_items = [
        CatalogPermitItem(
            code=code, name=item.name, approving_unit=item.approving_unit,
            supervising_unit=item.supervising_unit, legal_days=item.legal_days,
            promised_days=item.promised_days, onsite_check=item.onsite_check,
            estimated=item.estimated,
        )
        for code, item in document.permit_items.items()
    ]
    session.add(version)
    session.flush()
    versions_changed()
    return version, True


def _industry_row(document: CatalogDocument, code: str, industry: Industry) -> CatalogIndustry:
    items = [document.permit_items[i] for i in industry.items]
    return CatalogIndustry(
        code=code, name=industry.name, category=industry.category,
        pinyin_initials="".join(lazy_pinyin(industry.name, style=Style.FIRST_LETTER)).lower(),
        pinyin_full="".join(lazy_pinyin(industry.name)).lower(),
        item_count=len(items),
        promised_days=max((i.promised_days for i in items), default=0),
        retired=industry.retired,
        estimated=industry.estimated or any(i.estimated for i in items),
    )


def current_version(session: Session) -> CatalogVersion:
    version = session.scalar(select(CatalogVersion).order_by(CatalogVersion.number.desc()))
    if version is None:
        raise NotFound("CATALOG_EMPTY", "行业目录尚未发布")
    return version


def get_version(session: Session, number: int | None = None) -> CatalogVersion:
    """The numbered version, or the one in force when ``number`` is None."""
    if number is None:
        return current_version(session)
    version = session.scalar(select(CatalogVersion).where(CatalogVersion.number == number))
    if version is None:
        raise NotFound("CATALOG_VERSION_NOT_FOUND", f"行业目录第 {number} 版不存在")
    return version


@dataclass(frozen=True)
class VersionRef:
    """A version without its document: what answers cached per version are keyed by."""

    id: int
    number: int
    checksum: str


_REF_COLUMNS = (CatalogVersion.id, CatalogVersion.number, CatalogVersion.checksum)
_loads_here = 0  # changes of versions seen by this process; each ends every cached "in force"


def versions_changed() -> None:
    """Every answer cache of this process asks again which version is in force: this process
    loaded a version (or, in tests, removed one)."""
    global _loads_here  # noqa: PLW0603 - a counter shared by every app of the process
    _loads_here += 1


def version_ref(session: Session, number: int | None = None) -> VersionRef:
    """The numbered version or the one in force, in one small query (no document)."""
    query = select(*_REF_COLUMNS)
    query = (query.order_by(CatalogVersion.number.desc()).limit(1) if number is None
             else query.where(CatalogVersion.number == number))
    row = session.execute(query).first()
    if row is None:
        if number is None:
            raise NotFound("CATALOG_EMPTY", "行业目录尚未发布")
        raise NotFound("CATALOG_VERSION_NOT_FOUND", f"行业目录第 {number} 版不存在")
    return VersionRef(*row)


class AnswerCache:
    """Answers that depend only on a catalog version, computed once per version and process.

    A version never changes, so its answers (the industry list, a detail, a tailored notice)
    stay right for as long as it is in force. Which version is in force is asked of the
    database at most every ``check_seconds`` (a version loaded by another process, e.g.
    `flask catalog load`, is served within that time) and at once after this process loaded
    one. The answers are kept in a bounded LRU, since search text and answers come from
    clients.
    """

    def __init__(self, check_seconds: float, size: int = 512) -> None:
        self.check_seconds = check_seconds
        self.size = size
        self._lock = threading.Lock()
        self._in_force: tuple[float, int, VersionRef] | None = None
        self._answers: OrderedDict[Hashable, Any] = OrderedDict()

    def in_force(self, session: Session) -> VersionRef:
        held, now = self._in_force, time.monotonic()
        if held is not None and now - held[0] < self.check_seconds and held[1] == _loads_here:
            return held[2]
        loads = _loads_here
        ref = version_ref(session)
        self._in_force = (now, loads, ref)
        return ref

    def answer(self, key: Hashable, compute: Callable[[], Any]) -> Any:
        """The cached answer for ``key`` (which must name the version), else ``compute()``.
        An error raised by ``compute`` is not cached."""
        with self._lock:
            if key in self._answers:
                self._answers.move_to_end(key)
                return self._answers[key]
        value = compute()
        with self._lock:
            self._answers[key] = value
            while len(self._answers) > self.size:
                self._answers.popitem(last=False)
        return value


def list_versions(session: Session) -> list[CatalogVersion]:
    return list(session.scalars(select(CatalogVersion).order_by(CatalogVersion.number)))


_documents: dict[str, CatalogDocument] = {}


def document_of(version: CatalogVersion) -> CatalogDocument:
    """The parsed document; versions never change, so each is parsed once per process."""
    document = _documents.get(version.checksum)
    if document is None:
        document = _documents[version.checksum] = CatalogDocument.model_validate(version.document)
    return document


def estimates(version: CatalogVersion) -> dict[str, list[dict[str, object]]]:
    """Facts still marked estimated, with what was checked, for administrators to verify."""
    document = document_of(version)

    def rows(table) -> list[dict[str, object]]:
        return [{"code": code, "name": entry.name, "notes": entry.verification.notes,
                 "sources": list(entry.verification.sources)}
                for code, entry in table.items() if entry.estimated]

    return {"permit_items": rows(document.permit_items),
            "industries": rows(document.industries)}


def search_industries(session: Session, *, q: str | None, version: CatalogVersion,
                      ) -> list[CatalogIndustry]:
    """Industries open for application, matched on name, category or pinyin (e.g. "fd" → 饭店)."""
    query = select(CatalogIndustry).where(
        CatalogIndustry.version_id == version.id, CatalogIndustry.retired.is_(False)
    )
    if q:
        needle = q.strip().lower()
        query = query.where(or_(
            CatalogIndustry.name.contains(needle, autoescape=True),
            CatalogIndustry.category.contains(needle, autoescape=True),
            CatalogIndustry.pinyin_initials.startswith(needle, autoescape=True),
            CatalogIndustry.pinyin_full.startswith(needle, autoescape=True),
            CatalogIndustry.code == needle,
        ))
    return list(session.scalars(query.order_by(CatalogIndustry.id)))


def get_industry(version: CatalogVersion, code: str, *, allow_retired: bool = False,
                 ) -> tuple[CatalogDocument, Industry]:
    """An industry of a version; a retired one only for those who already applied under it."""
    document = document_of(version)
    industry = document.industries.get(code)
    if industry is None:
        raise NotFound("INDUSTRY_NOT_FOUND", f"目录中没有行业“{code}”",
                       {"industry": code, "catalog_version": version.number})
    if industry.retired and not allow_retired:
        raise NotFound("INDUSTRY_RETIRED",
                       f"“{industry.name}”已调整出“一业一证”目录，不再受理新申请",
                       {"industry": code, "catalog_version": version.number})
    return document, industry
