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
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError
from pypinyin import Style, lazy_pinyin
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from backend.catalog_format import CatalogDocument, Industry, ReferenceProblems, reference_problems
from backend.errors import NotFound, RuleViolation
from backend.models import CatalogIndustry, CatalogPermitItem, CatalogVersion, StaffAccount
from backend.security import permissions


class CatalogFileInvalid(ValueError):
    """The data file does not satisfy the catalog format; nothing was loaded. ``problems``
    lists every error found, each as :class:`Problem`."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("; ".join(map(str, problems)))
        self.problems = problems


@dataclass(frozen=True)
class Problem:
    """One error of a catalog file: where (a path of keys, or a line), its code, in Chinese,
    and the line of the file it is on (None: unknown)."""

    where: str
    code: str
    message: str
    line: int | None = None

    def __str__(self) -> str:
        line = f"（第 {self.line} 行）" if self.line else ""
        return f"{self.where}{line}: {self.message} ({self.code})"


# pydantic's error types in Chinese; ``{…}`` from the error's context
_MESSAGES = {
    "missing": "缺少必填项",
    "extra_forbidden": "格式中没有此项（拼写错误或多余的字段）",
    "string_pattern_mismatch": "代码须以小写字母开头，只含 a–z、0–9、_，共 2–64 位",
    "string_too_short": "不能为空",
    "string_too_long": "过长（最多 {max_length} 个字符）",
    "string_type": "应为文字",
    "int_parsing": "应为整数", "int_type": "应为整数", "int_from_float": "应为整数",
    "float_parsing": "应为数字", "float_type": "应为数字",
    "bool_parsing": "应为 true 或 false", "bool_type": "应为 true 或 false",
    "literal_error": "只能是 {expected}",
    "greater_than_equal": "不能小于 {ge}", "less_than_equal": "不能大于 {le}",
    "dict_type": "应为“键: 值”的映射", "model_type": "应为“键: 值”的映射",
    "model_attributes_type": "应为“键: 值”的映射", "list_type": "应为列表",
}


def _where(path: tuple) -> str:
    return " › ".join(str(part) for part in path) or "整个文件"


def _problems_of(error: ValidationError) -> list[tuple[tuple, Problem]]:
    """pydantic's errors, each with its path of keys."""
    problems = []
    for e in error.errors():
        cause = e.get("ctx", {}).get("error")
        if isinstance(cause, ReferenceProblems):
            problems += [(p.path, Problem(_where(p.path), p.code, p.message))
                         for p in cause.problems]
            continue
        if e["type"] == "value_error":
            message = str(cause) if cause is not None else e["msg"]
        else:
            template = _MESSAGES.get(e["type"])
            try:
                message = template.format(**e.get("ctx", {})) if template else "格式不正确"
            except (KeyError, IndexError):
                message = "格式不正确"
        problems.append((e["loc"], Problem(_where(e["loc"]), e["type"], message)))
    return problems


def _read(text: str) -> tuple[Any, dict[tuple[str, ...], int], list[tuple[tuple, Problem]]]:
    """The file's data (as yaml.safe_load reads it), the line of every key and list element
    (by path, each part as text), and every key given twice in one mapping (YAML keeps the
    last silently: a second entry with the code of the first would replace it unseen)."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        lines: dict[tuple[str, ...], int] = {}
        duplicates: list[tuple[tuple, Problem]] = []
        if node is None:
            return None, lines, duplicates
        _walk(node, (), lines, duplicates, set())
        return loader.construct_document(node), lines, duplicates
    finally:
        loader.dispose()


def _walk(node: yaml.Node, path: tuple[str, ...], lines: dict, duplicates: list,
          open_: set[int]) -> None:
    lines.setdefault(path, node.start_mark.line + 1)
    if id(node) in open_:  # an alias of an enclosing node
        return
    open_.add(id(node))
    if isinstance(node, yaml.MappingNode):
        seen: dict[str, int] = {}
        for key, value in node.value:
            if key.tag == "tag:yaml.org,2002:merge" or not isinstance(key, yaml.ScalarNode):
                continue
            line = key.start_mark.line + 1
            if key.value in seen:
                duplicates.append(((*path, key.value), Problem(
                    _where((*path, key.value)), "duplicate_key",
                    f"“{key.value}”重复（第 {seen[key.value]} 行已有；只会保留后一个）", line)))
            seen.setdefault(key.value, line)
            lines[(*path, key.value)] = line
            _walk(value, (*path, key.value), lines, duplicates, open_)
    elif isinstance(node, yaml.SequenceNode):
        for i, element in enumerate(node.value):
            _walk(element, (*path, str(i)), lines, duplicates, open_)
    open_.discard(id(node))


def _line_of(path: tuple, lines: dict[tuple[str, ...], int]) -> int | None:
    """The line of ``path``, or of the nearest enclosing entry present (a missing key)."""
    parts = tuple(str(part) for part in path)
    for end in range(len(parts), -1, -1):
        if parts[:end] in lines:
            return lines[parts[:end]]
    return None


# the YAML parser's English problems in Chinese (by how they begin); anything else is named
# by its place only
_YAML_PROBLEMS = (
    ("mapping values are not allowed", "此处不能出现“键: 值”（检查缩进，或给含冒号的文字加引号）"),
    ("could not find expected ':'", "缺少冒号“:”"),
    ("found character '\\t'", "不能用制表符（Tab）缩进，请改用空格"),
    ("found character", "含有不能作为开头的字符（可给这段文字加引号）"),
    ("expected <block end>", "缩进不一致"),
    ("did not find expected key", "缩进不一致或缺少键名"),
    ("did not find expected '-'", "列表项缩进不一致"),
    ("found unexpected end of stream", "文件意外结束（引号或括号未闭合）"),
    ("found unexpected ':'", "多余的冒号“:”"),
    ("found undefined alias", "引用了未定义的锚点（*别名）"),
    ("found duplicate anchor", "锚点（&名称）重复"),
    ("found unacceptable character", "含有不可接受的字符（文件须为 UTF-8 文本）"),
    ("could not determine a constructor", "不支持的 YAML 标签（!! 开头的类型）"),
    ("expected ',' or ']'", "方括号列表缺少逗号或“]”"),
    ("expected ',' or '}'", "花括号映射缺少逗号或“}”"),
)


def _yaml_problem(error: yaml.YAMLError) -> str:
    problem = str(getattr(error, "problem", None) or "")
    return next((chinese for english, chinese in _YAML_PROBLEMS
                 if problem.startswith(english)), "无法解析此处的内容")


def check(text: str) -> tuple[CatalogDocument | None, list[Problem]]:
    """The document, or None and EVERY error of the file at once, in file order, each with
    its line: YAML syntax (one), else each key given twice, each field pydantic finds and
    each cross-reference that does not resolve — the references also while fields are
    wrong, so that one "validate" lists them all."""
    try:
        data, lines, found = _read(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"第 {mark.line + 1} 行第 {mark.column + 1} 列" if mark else "整个文件"
        return None, [Problem(where, "yaml_syntax", f"YAML 语法错误：{_yaml_problem(error)}",
                              mark.line + 1 if mark else None)]
    try:
        document = CatalogDocument.model_validate(data)
    except ValidationError as error:
        document = None
        found += _problems_of(error)
        # with a field wrong the model's own reference check did not run: run its rules on
        # the data as read (where a field error already stands, it says enough)
        wrong = {tuple(map(str, path)) for path, _ in found}
        found += [(p.path, Problem(_where(p.path), p.code, p.message))
                  for p in reference_problems(data) if tuple(map(str, p.path)) not in wrong]
    problems = list(dict.fromkeys(  # each once, in file order
        replace(problem, line=problem.line or _line_of(path, lines)) for path, problem in found))
    problems.sort(key=lambda p: p.line or 0)
    return (None if problems else document), problems


def parse(text: str) -> CatalogDocument:
    document, problems = check(text)
    if problems:
        raise CatalogFileInvalid(problems)
    return document


def load(session: Session, path: Path, *, loaded_by: str) -> tuple[CatalogVersion, bool]:
    """Load the file as a new version unless an identical one exists. Returns (version, created)."""
    return load_text(session, path.read_text(encoding="utf-8"), source=path.name,
                     loaded_by=loaded_by)


def load_text(session: Session, text: str, *, source: str, loaded_by: str
              ) -> tuple[CatalogVersion, bool]:
    """``load`` of a file's text (`flask catalog load`, or an upload in the console).
    Raises CatalogFileInvalid, with every problem, before anything is stored."""
    document = parse(text)
    canonical = document.model_dump(mode="json")
    checksum = hashlib.sha256(
        json.dumps(canonical, ensure_ascii=False, sort_keys=True).encode()
    ).hexdigest()
    existing = session.scalar(select(CatalogVersion).where(CatalogVersion.checksum == checksum))
    if existing is not None:
        return existing, False
    number = (session.scalar(select(func.max(CatalogVersion.number))) or 0) + 1
    version = CatalogVersion(
        number=number, checksum=checksum, title=document.title, source=source[:500],
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

    def get(self, key: Hashable) -> Any | None:
        """The cached answer for ``key``, or None."""
        with self._lock:
            value = self._answers.get(key)
            if value is not None:
                self._answers.move_to_end(key)
            return value

    def answer(self, key: Hashable, compute: Callable[[], Any]) -> Any:
        """The cached answer for ``key`` (which must name the version), else ``compute()``.
        An error raised by ``compute`` is not cached."""
        value = self.get(key)
        if value is not None:
            return value
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
    """Facts still marked estimated, with what was checked, for administrators to verify:
    ``{permit_items, industries, elicense_types, commitments}``, each a list of ``{code,
    name, notes, sources}`` (an e-license type also its 21-character ``type_code``; a
    commitment, keyed by its item, its ``post_check_days``)."""
    document = document_of(version)

    def rows(table) -> list[dict[str, object]]:
        return [{"code": code, "name": getattr(entry, "name", code),
                 "notes": entry.verification.notes,
                 "sources": list(entry.verification.sources)}
                for code, entry in table.items() if entry is not None and entry.estimated]

    # e-license types (证照类型代码): the combined license's and each permit item's, keyed by
    # what carries them ("combined_license" or the item's code), each with its type code
    types = {"combined_license": document.combined_license} | {
        code: item.elicense for code, item in document.permit_items.items()}
    # 告知承诺: the text and post-check window of each item allowing it, named by the item
    commitments = {code: item.commitment for code, item in document.permit_items.items()}
    names = {code: item.name for code, item in document.permit_items.items()}
    return {"permit_items": rows(document.permit_items),
            "industries": rows(document.industries),
            "commitments": [row | {"name": names[row["code"]],
                                   "post_check_days": commitments[row["code"]].post_check_days}
                            for row in rows(commitments)],
            "elicense_types": [row | {"type_code": types[row["code"]].code}
                               for row in rows(types)]}


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


# --- administrators: versions, estimates, upload, and the difference between two versions ---

SECTIONS = {"industries": "行业", "permit_items": "许可事项", "materials": "材料",
            "fields": "表单字段", "questions": "情形问题", "units": "单位",
            "windows": "办理窗口"}


def versions_for(session: Session, *, staff: StaffAccount) -> list[CatalogVersion]:
    permissions.require(staff, "catalog.view")
    return list_versions(session)


def estimates_for(session: Session, *, staff: StaffAccount, number: int | None = None
                  ) -> tuple[CatalogVersion, dict[str, list[dict[str, object]]]]:
    """The version (default: in force) and its facts still marked estimated."""
    permissions.require(staff, "catalog.view")
    version = get_version(session, number)
    return version, estimates(version)


@dataclass(frozen=True)
class Upload:
    """A checked file: what it holds, and the version it became (None: only checked)."""

    title: str
    industries: int
    permit_items: int
    version: CatalogVersion | None = None
    created: bool = False


def upload(session: Session, *, staff: StaffAccount, data: bytes, filename: str,
           store: bool) -> Upload:
    """Check an uploaded catalog file and, when ``store``, load it (as `flask catalog load`
    does). Any error → RuleViolation CATALOG_FILE_INVALID listing EVERY problem in
    ``details.problems`` (``{where, code, message}``); nothing is stored."""
    permissions.require(staff, "catalog.load")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        problems = [Problem(f"第 {error.start + 1} 个字节", "encoding",
                            "文件须为 UTF-8 编码的 YAML")]
    else:
        document, problems = check(text)
    if problems:
        raise RuleViolation("CATALOG_FILE_INVALID",
                            f"目录文件有 {len(problems)} 处错误，未保存任何内容",
                            {"problems": [vars(p) for p in problems]})
    summary = {"title": document.title, "industries": len(document.industries),
               "permit_items": len(document.permit_items)}
    if not store:
        return Upload(**summary)
    version, created = load_text(session, text, source=filename or "upload.yaml",
                                 loaded_by=staff.username)
    return Upload(**summary, version=version, created=created)


@dataclass(frozen=True)
class FieldChange:
    """One attribute of an entry that differs: a list shows what joined and what left."""

    field: str
    old: str = ""
    new: str = ""
    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()


@dataclass(frozen=True)
class EntryChange:
    code: str
    name: str
    changes: tuple[FieldChange, ...]


@dataclass(frozen=True)
class SectionDiff:
    key: str
    label: str
    added: tuple[tuple[str, str], ...]  # (code, name)
    removed: tuple[tuple[str, str], ...]
    changed: tuple[EntryChange, ...]

    @property
    def empty(self) -> bool:
        return not (self.added or self.removed or self.changed)


@dataclass(frozen=True)
class CatalogDiff:
    old: CatalogVersion
    new: CatalogVersion
    sections: tuple[SectionDiff, ...]
    other: tuple[FieldChange, ...]  # the title and the common part


def diff(session: Session, *, staff: StaffAccount, old: int, new: int) -> CatalogDiff:
    """What changed from version ``old`` to ``new``, read from the stored documents:
    per section, the entries added, removed, and for each changed one every attribute
    that differs (a list as the elements that joined and left)."""
    permissions.require(staff, "catalog.view")
    return compare(session, old=old, new=new)


def compare(session: Session, *, old: int, new: int) -> CatalogDiff:
    """``diff`` for anyone: the catalog is public (the published changelog of the guides).
    NotFound CATALOG_VERSION_NOT_FOUND for a version that does not exist."""
    before, after = get_version(session, old), get_version(session, new)
    a = document_of(before).model_dump(mode="json")
    b = document_of(after).model_dump(mode="json")
    sections = tuple(_section_diff(key, label, a[key], b[key])
                     for key, label in SECTIONS.items())
    other = tuple(_attribute_changes({"title": a["title"], "common": a["common"]},
                                     {"title": b["title"], "common": b["common"]}))
    return CatalogDiff(old=before, new=after, sections=sections, other=other)


def _section_diff(key: str, label: str, a: dict[str, Any], b: dict[str, Any]) -> SectionDiff:
    def name(entry: dict[str, Any] | list) -> str:
        if isinstance(entry, list):  # a county's windows
            return "、".join(str(w.get("name", "")) for w in entry)
        return str(entry.get("name") or entry.get("label") or entry.get("text") or "")

    return SectionDiff(
        key=key, label=label,
        added=tuple((code, name(b[code])) for code in b if code not in a),
        removed=tuple((code, name(a[code])) for code in a if code not in b),
        changed=tuple(EntryChange(code, name(b[code]), tuple(_attribute_changes(
            *(e if isinstance(e, dict) else {"windows": e} for e in (a[code], b[code])))))
                      for code in b if code in a and a[code] != b[code]))


def _attribute_changes(a: dict[str, Any], b: dict[str, Any]) -> list[FieldChange]:
    changes = []
    for field in [*a, *(f for f in b if f not in a)]:
        old, new = a.get(field), b.get(field)
        if old == new:
            continue
        if _scalar_list(old) and _scalar_list(new):
            changes.append(FieldChange(field, added=tuple(_show(v) for v in new if v not in old),
                                       removed=tuple(_show(v) for v in old if v not in new)))
        else:
            changes.append(FieldChange(field, old=_show(old), new=_show(new)))
    return changes


def _scalar_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str | int | float | bool)
                                           for v in value)


def _show(value: Any) -> str:
    """A value as the page shows it: text as it is, anything else as compact JSON."""
    if value is None:
        return "（无）"
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)
