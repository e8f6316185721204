"""BagIt bags (RFC 8493) in and out: the container of an archive package (档案).

Bytes in, bytes out, nothing of the database: ``make`` turns ``{path in data/: bytes}`` and
the bag-info fields into a zip holding ONE bag directory, made by the ``bagit`` library
(Library of Congress, ``bagit.py``) with SHA-256 payload and tag manifests, and the detached
signature files the caller computes over ``tagmanifest-sha256.txt`` under ``signature/``
(outside both manifests: a signature cannot cover itself). ``check`` answers, for a zip or
an extracted bag directory, every file that is not as written — by name.

The zip stores every member uncompressed (ZIP_STORED) under ``<bag name>/…``, with a fixed
timestamp, so ``unzip -d x package.zip && bagit.py --validate x/<bag name>`` is all an
auditor needs for the manifests; one changed byte of a member also fails the zip's own
CRC-32, reported with the member's name.
"""

from __future__ import annotations

import hashlib
import io
import logging
import re
import tempfile
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import bagit

# bagit logs every file it hashes at INFO: a package's problems are in the Verdict instead
logging.getLogger("bagit").setLevel(logging.WARNING)

TAGMANIFEST = "tagmanifest-sha256.txt"
SIGNATURE_DIR = "signature"
_FIXED_TIME = (2000, 1, 1, 0, 0, 0)  # members carry no build time: the bag-info says when
_BAG_NAME = re.compile(r"[A-Za-z0-9._-]{1,100}")


@dataclass(frozen=True)
class Problem:
    """One file that is not as the package says: its path inside the bag and why."""

    path: str
    reason: str


@dataclass
class Verdict:
    """The outcome of :func:`check`: ``ok`` only when the bag is complete, every manifest
    entry matches, and ``signatures`` (kid → valid) has at least one valid entry."""

    bag_name: str = ""
    info: dict[str, str] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    signatures: dict[str, bool] = field(default_factory=dict)
    tagmanifest_sha256: str = ""  # of the tag manifest the signatures were checked over

    @property
    def ok(self) -> bool:
        return not self.problems and any(self.signatures.values())

    @property
    def files(self) -> list[str]:
        """The paths named by the problems, once each, in order."""
        return list(dict.fromkeys(p.path for p in self.problems))


# (tag manifest bytes) → {file name under signature/: bytes}
Signer = Callable[[bytes], Mapping[str, bytes]]
# (tag manifest bytes, {file name under signature/: bytes}) → (kid → valid, problems)
SignatureCheck = Callable[[bytes, Mapping[str, bytes]], tuple[dict[str, bool], list[Problem]]]


def make(files: Mapping[str, bytes], *, bag_name: str, info: Mapping[str, str],
         sign: Signer) -> tuple[bytes, bytes]:
    """(zip bytes, the tag manifest's bytes) of a new bag of ``files`` (paths relative to
    ``data/``, POSIX, no ``..``)."""
    if not _BAG_NAME.fullmatch(bag_name):
        raise ValueError(f"bag name {bag_name!r}: 1-100 of A-Z a-z 0-9 . _ -")
    with tempfile.TemporaryDirectory(prefix="bag-") as tmp:
        root = Path(tmp) / bag_name
        root.mkdir()
        for name, content in files.items():
            target = root / _safe(name)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content)
        bagit.make_bag(str(root), dict(info), processes=1, checksums=["sha256"])
        tagmanifest = (root / TAGMANIFEST).read_bytes()
        signatures = root / SIGNATURE_DIR
        signatures.mkdir()
        for name, content in sign(tagmanifest).items():
            (signatures / _safe(name)).write_bytes(content)
        return _zip(root, bag_name), tagmanifest


def _safe(name: str) -> PurePosixPath:
    path = PurePosixPath(name)
    if path.is_absolute() or ".." in path.parts or not path.parts:
        raise ValueError(f"not a relative path: {name!r}")
    return path


def _zip(root: Path, bag_name: str) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as zf:
        for path in sorted(p for p in root.rglob("*") if p.is_file()):
            member = zipfile.ZipInfo(f"{bag_name}/{path.relative_to(root).as_posix()}",
                                     _FIXED_TIME)
            member.external_attr = 0o644 << 16
            zf.writestr(member, path.read_bytes())
    return out.getvalue()


def unzip(data: bytes, dest: Path) -> Path:
    """Extract a package zip under ``dest``; the bag's directory. Directory entries (any zip
    tool writes them) become directories. Refuses members outside one top directory; a
    member leaving it (``..``, an absolute path: zip-slip) is never written, and raises
    :class:`Tampered` naming it, as does a member whose bytes fail the zip's CRC-32."""
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        names = zf.namelist()
        tops = {PurePosixPath(n).parts[0] for n in names if PurePosixPath(n).parts}
        if len(tops) != 1 or not _BAG_NAME.fullmatch(next(iter(tops))):
            raise Tampered([Problem("", "不是一个档案包（应只含一个包目录）")])
        problems = []
        for info in zf.infolist():
            name = info.filename
            try:
                relative = _safe(name)
            except ValueError:
                problems.append(Problem(name, "成员路径越出包目录（zip-slip），未解压"))
                continue
            target = dest.joinpath(*relative.parts)
            if info.is_dir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                target.write_bytes(zf.read(info))
            except zipfile.BadZipFile:
                inner = "/".join(relative.parts[1:])
                problems.append(Problem(inner, "字节被改动（zip CRC-32 不符）"))
        if problems:
            raise Tampered(problems)
    return dest / next(iter(tops))


class Tampered(Exception):
    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("; ".join(f"{p.path}: {p.reason}" for p in problems))
        self.problems = problems


def check(source: bytes | Path, check_signatures: SignatureCheck) -> Verdict:
    """Validate a package: a zip's bytes, a zip file, or an extracted bag directory. Never
    raises for what the package holds: anything that stops the tools is a failed Verdict."""
    try:
        return _check(source, check_signatures)
    except Exception as error:  # noqa: BLE001 - a package that breaks the tools fails
        logging.getLogger(__name__).warning("package check stopped", exc_info=True)
        return Verdict(problems=[Problem("", f"无法校验：{type(error).__name__}: {error}")])


def _check(source: bytes | Path, check_signatures: SignatureCheck) -> Verdict:
    if isinstance(source, Path) and source.is_dir():
        return _check_dir(source, check_signatures)
    data = source.read_bytes() if isinstance(source, Path) else source
    with tempfile.TemporaryDirectory(prefix="bag-check-") as tmp:
        try:
            root = unzip(data, Path(tmp))
        except Tampered as error:
            return Verdict(problems=error.problems)
        except zipfile.BadZipFile as error:
            return Verdict(problems=[Problem("", f"不是有效的 zip 文件：{error}")])
        return _check_dir(root, check_signatures)


def _check_dir(root: Path, check_signatures: SignatureCheck) -> Verdict:
    verdict = Verdict(bag_name=root.name)
    try:
        bag = bagit.Bag(str(root))
        verdict.info = _info(bag)
    except bagit.BagError as error:
        verdict.problems.append(Problem("bagit.txt", str(error)))
        return verdict
    if (root / "fetch.txt").exists():
        verdict.problems.append(Problem("fetch.txt", _FETCH))
    # files missing from or added to data/ are named first: bagit would stop at the
    # Payload-Oxum count (blaming bag-info.txt) or on a fetch.txt before naming them
    verdict.problems += _completeness(root, bag)
    if verdict.problems:
        verdict.problems += _entries(root, bag)
    else:
        try:
            bag.validate(processes=1)
        except bagit.BagValidationError as error:
            details = error.details or []
            verdict.problems += [Problem(str(getattr(d, "path", "")), _reason(d))
                                 for d in details]
            if not details:
                # bagit stopped at the Payload-Oxum count: a file whose size changed is
                # named by its digest; bag-info.txt only when no file is to blame
                verdict.problems += _entries(root, bag) or [
                    Problem("bag-info.txt", str(error.message))]
        except bagit.BagError as error:
            verdict.problems.append(Problem("bagit.txt", str(error)))
    listed = {PurePosixPath(p).as_posix() for p in bag.entries}
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        relative = path.relative_to(root).as_posix()
        if relative in listed or relative == TAGMANIFEST or relative.startswith("data/"):
            continue
        if not relative.startswith(f"{SIGNATURE_DIR}/"):
            verdict.problems.append(Problem(relative, "不在任何清单中的文件"))
    signature_dir = root / SIGNATURE_DIR
    files = {p.name: p.read_bytes() for p in sorted(signature_dir.glob("*")) if p.is_file()
             } if signature_dir.is_dir() else {}
    tagmanifest = (root / TAGMANIFEST).read_bytes() if (root / TAGMANIFEST).is_file() else b""
    verdict.tagmanifest_sha256 = hashlib.sha256(tagmanifest).hexdigest()
    verdict.signatures, problems = check_signatures(tagmanifest, files)
    verdict.problems += problems
    tag_files = {p.path for p in verdict.problems if "/" not in p.path and p.path}
    if not any(verdict.signatures.values()) and tag_files - {TAGMANIFEST}:
        # the signed tag manifest no longer matches the tag files AND its signature fails:
        # the manifest itself was changed (a changed tag file alone keeps the signature)
        verdict.problems.append(Problem(TAGMANIFEST, "签名不符，且所列校验值与标签文件不符："
                                                     "标签清单本身被改动"))
    return verdict


_FETCH = "档案包不应含 fetch.txt：其中的文件要从别处取回，不是包内封存的证据"


def _completeness(root: Path, bag: bagit.Bag) -> list[Problem]:
    """Every file of data/ against the payload manifest: missing and added files, by name."""
    listed = {PurePosixPath(p).as_posix() for p in bag.entries if p.startswith("data/")}
    data = root / "data"
    present = {p.relative_to(root).as_posix() for p in data.rglob("*") if p.is_file()
               } if data.is_dir() else set()
    return ([Problem(p, "清单列出的文件缺失") for p in sorted(listed - present)]
            + [Problem(p, "清单之外多出的文件") for p in sorted(present - listed)])


def _entries(root: Path, bag: bagit.Bag) -> list[Problem]:
    """The SHA-256 of every listed file that is present (payload and tag files)."""
    problems = []
    for path, hashes in sorted(bag.entries.items()):
        target = root / path
        expected = hashes.get("sha256")
        if not target.is_file() or expected is None:
            continue
        found = hashlib.sha256(target.read_bytes()).hexdigest()
        if found != expected.lower():
            problems.append(Problem(PurePosixPath(path).as_posix(),
                                    f"内容与清单不符（SHA-256 应为 {expected}，实为 {found}）"))
    return problems


def read_info(root: Path) -> dict[str, str]:
    """The bag-info fields of an extracted bag (a repeated field joined with "; ")."""
    return _info(bagit.Bag(str(root)))


def _info(bag: bagit.Bag) -> dict[str, str]:
    return {k: v if isinstance(v, str) else "; ".join(v) for k, v in bag.info.items()}


def _reason(detail: bagit.BagValidationError) -> str:
    if isinstance(detail, bagit.ChecksumMismatch):
        return f"内容与清单不符（SHA-256 应为 {detail.expected}，实为 {detail.found}）"
    if isinstance(detail, bagit.FileMissing):
        return "清单列出的文件缺失"
    if isinstance(detail, bagit.UnexpectedFile):
        return "清单之外多出的文件"
    return str(detail)
