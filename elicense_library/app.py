"""A local stand-in for the province's e-license library (省电子证照库), for development and
tests only. The interface it answers is documented in ``elicense_library/README.md``.

It holds what is pushed to it, as a library does: each e-license version (证照标识) with its
GB/T 36903 metadata record and its sealed file, and every status change after it, in order.
It checks what a library checks and refuses with a real error answer (``{"code",
"message", "field"}``, an HTTP status): a malformed 证照标识 or a wrong check character
(ISO 7064 MOD 37,36, verified here with python-stdnum, independently of the service's own
code), a status or operation code outside the national vocabulary, an operation that does
not fit the status it claims, a status change for an identifier it does not hold, a new
version whose previous identifier it does not hold, a file whose digest does not match, a
change out of order. A push is idempotent per 证照标识 + 序号 (the identifier names its
version): the same push again answers 200 ``duplicate``; another push under a number already
taken is 409.

The pull API (``GET /api/v1/elicenses``) asks, as national libraries do, for the holder's
code and its type, optionally a license-type code, and always a stated purpose of use
(用证事由); every pull is logged with it.

Faults (``POST /_emulator/faults``, see ``Fault``) make the next matching calls fail as a
library and the network do: an HTTP 5xx, a definitive refusal (4xx with a code), an answer
later than the caller's timeout (the push still held), the connection reset after the push
was held. ``/_emulator/log`` reads back what it holds and every call it answered.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from functools import partial
from typing import Any

from flask import Flask, Response, jsonify, request
from stdnum.iso7064 import mod_37_36

from wechat_emulator import control
from wechat_emulator.app import RESET_KEY, resetting

ROOT = "1.2.156.3005.2"
STATUS_LABELS = {"01": "有效", "02": "暂扣", "03": "撤销", "04": "注销", "05": "失效",
                 "07": "吊销", "99": "其他"}
OPERATION_LABELS = {"01": "新发", "02": "延续", "03": "暂扣", "04": "过期失效",
                    "05": "注销/撤销/吊销", "06": "暂扣发还", "09": "变更"}
# operations that make a new version (a new 证照标识): pushed with the record and the file
VERSION_OPERATIONS = frozenset({"01", "02", "09"})
# status changes of a version already held: the statuses each operation may lead to
STATUS_OPERATIONS = {"02": frozenset({"01"}), "03": frozenset({"02"}),
                     "04": frozenset({"05"}), "05": frozenset({"03", "04", "05", "07"}),
                     "06": frozenset({"01"})}
HOLDER_CODE_TYPES = {"001": "统一社会信用代码", "111": "公民身份号码"}
# the GB/T 36903 fields a record must carry (names as the service's records write them)
REQUIRED = ("identifier", "type_code", "type_name", "license_no", "name", "version",
            "issued_on", "issuer_name", "issuer_code", "issuer_level", "valid_from",
            "valid_until", "division_code", "holder_name", "holder_code", "holder_code_type",
            "service_item_name", "status_code")
FAULT_ENDPOINTS = frozenset({"push", "status", "pull", "*"})
MAX_BODY_BYTES = 32 * 1024 * 1024
_ISSUER = re.compile(r"[0-9A-Z]{18}")
_TYPE = re.compile(r"[0-9A-Z]{18}[0-9]{3}")
_SERIAL = re.compile(r"[0-9A-Z]{1,32}")
_VERSION = re.compile(r"[0-9]{3}")
_DAY = re.compile(r"[0-9]{8}")
_DIVISION = re.compile(r"[0-9]{6}")


class Refused(Exception):
    """An error answer: HTTP ``status``, a stable ``code``, a Chinese ``message`` and the
    ``field`` at fault (its path in the request body), if one is."""

    def __init__(self, status: int, code: str, message: str, field: str | None = None):
        super().__init__(code)
        self.status, self.code, self.message, self.field = status, code, message, field

    def answer(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "field": self.field}


def identifier_problem(text: Any) -> str | None:
    """Why ``text`` is not a 证照标识 (GB/T 36904), in Chinese, or None."""
    if not isinstance(text, str) or not text.startswith(ROOT + "."):
        return "证照标识应以 1.2.156.3005.2 开头"
    parts = text[len(ROOT) + 1:].split(".")
    if len(parts) != 5:
        return "证照标识应为 根.类型代码.颁发机构代码.流水号.版本号.校验位"
    type_code, issuer, serial, version, check = parts
    for value, pattern, what in ((type_code, _TYPE, "证照类型代码"),
                                 (issuer, _ISSUER, "颁发机构代码"),
                                 (serial, _SERIAL, "流水号"), (version, _VERSION, "版本号")):
        if not pattern.fullmatch(value):
            return f"{what}格式不正确"
    if len(check) != 1 or not mod_37_36.is_valid(type_code + issuer + serial + version + check):
        return "证照标识校验位不正确"
    return None


def _text(body: dict[str, Any], name: str, prefix: str = "", *, required: bool = True
          ) -> str | None:
    value = body.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip():
        raise Refused(422, "FIELD_MISSING", f"缺少字段 {prefix}{name}", prefix + name)
    return value


def _sequence(body: dict[str, Any]) -> int:
    value = body.get("sequence")
    if type(value) is not int or value < 1:
        raise Refused(422, "FIELD_INVALID", "sequence 应为从 1 起的整数（该证照标识的第几次变动）",
                      "sequence")
    return value


def _operation(body: dict[str, Any], allowed: frozenset[str] | set[str]) -> str:
    operation = _text(body, "operation_code")
    if operation not in OPERATION_LABELS:
        raise Refused(422, "OPERATION_CODE_UNKNOWN", f"未知的操作类型代码 {operation}",
                      "operation_code")
    if operation not in allowed:
        raise Refused(422, "OPERATION_NOT_ALLOWED",
                      f"操作类型 {operation}（{OPERATION_LABELS[operation]}）不能由此接口提交",
                      "operation_code")
    return operation


def _status(value: Any, field_name: str) -> str:
    if value not in STATUS_LABELS:
        raise Refused(422, "STATUS_CODE_UNKNOWN", f"未知的证照状态代码 {value}", field_name)
    return value


def _check_record(record: Any) -> dict[str, Any]:
    if not isinstance(record, dict):
        raise Refused(422, "FIELD_MISSING", "缺少证照元数据 record", "record")
    for name in REQUIRED:
        _text(record, name, "record.")
    if problem := identifier_problem(record["identifier"]):
        raise Refused(422, "IDENTIFIER_INVALID", problem, "record.identifier")
    version = record["identifier"].split(".")[-2]
    if record["version"] != version:
        raise Refused(422, "FIELD_INVALID", f"版本号应与证照标识一致（{version}）",
                      "record.version")
    if record["type_code"] != record["identifier"].split(".")[5]:
        raise Refused(422, "FIELD_INVALID", "证照类型代码应与证照标识一致", "record.type_code")
    if record["holder_code_type"] not in HOLDER_CODE_TYPES:
        raise Refused(422, "HOLDER_CODE_TYPE_UNKNOWN",
                      "持证主体代码类型应为 001（统一社会信用代码）或 111（公民身份号码）",
                      "record.holder_code_type")
    for name in ("issued_on", "valid_from"):
        if not _DAY.fullmatch(record[name]):
            raise Refused(422, "FIELD_INVALID", f"{name} 应为 yyyymmdd", f"record.{name}")
    if record["valid_until"] != "长期" and not _DAY.fullmatch(record["valid_until"]):
        raise Refused(422, "FIELD_INVALID", "有效期截止应为 yyyymmdd 或“长期”",
                      "record.valid_until")
    if not _DIVISION.fullmatch(record["division_code"]):
        raise Refused(422, "FIELD_INVALID", "所属管辖属地应为6位行政区划代码",
                      "record.division_code")
    _status(record["status_code"], "record.status_code")
    previous = record.get("previous_identifier")
    if previous is not None and (problem := identifier_problem(previous)):
        raise Refused(422, "IDENTIFIER_INVALID", problem, "record.previous_identifier")
    return record


def _check_file(spec: Any) -> dict[str, Any] | None:
    """The sealed file of a version: ``{name, media_type, sha256, size, content_base64}``."""
    if spec is None:
        return None
    if not isinstance(spec, dict):
        raise Refused(422, "FILE_INVALID", "file 应为对象", "file")
    try:
        content = base64.b64decode(spec.get("content_base64") or "", validate=True)
    except (binascii.Error, TypeError, ValueError):
        raise Refused(422, "FILE_INVALID", "文件内容不是 base64", "file.content_base64") from None
    if not content.startswith(b"%PDF-") or spec.get("media_type") != "application/pdf":
        raise Refused(422, "FILE_INVALID", "证照文件应为 PDF（application/pdf）", "file.media_type")
    digest = hashlib.sha256(content).hexdigest()
    if spec.get("sha256") != digest or spec.get("size") != len(content):
        raise Refused(422, "FILE_INVALID", "文件摘要或大小与内容不符", "file.sha256")
    return {"name": spec.get("name"), "media_type": "application/pdf", "sha256": digest,
            "size": len(content), "content": content}


@dataclass
class Held:
    """One version of an e-license, as the library holds it."""

    record: dict[str, Any]
    status_code: str
    status_description: str | None
    file: dict[str, Any] | None
    changes: list[dict[str, Any]] = field(default_factory=list)  # sequence 1, 2, …
    superseded_by: str | None = None

    def view(self) -> dict[str, Any]:
        return {"record": self.record | {"status_code": self.status_code,
                                         "status_label": STATUS_LABELS[self.status_code],
                                         "status_description": self.status_description},
                "changes": self.changes, "superseded_by": self.superseded_by,
                "file": ({k: v for k, v in self.file.items() if k != "content"}
                         if self.file else None)}


@dataclass
class Fault:
    """An armed fault: what the next ``times`` matching calls get instead of an answer.

    ``http_status`` answers that status without holding anything (5xx: the library is in
    trouble; 4xx: a definitive refusal, with ``code`` and ``message``); ``delay_seconds``
    holds the answer back (alone: the push is held, the answer comes late — a timeout for a
    client that waits less); ``reset_connection`` holds the push, then resets the connection
    instead of answering. ``identifier`` limits it to pushes of that 证照标识."""

    endpoint: str
    times: int = 1
    http_status: int | None = None
    code: str | None = None
    message: str | None = None
    delay_seconds: float = 0.0
    reset_connection: bool = False
    identifier: str | None = None

    def matches(self, endpoint: str, identifier: str | None) -> bool:
        return (self.endpoint in ("*", endpoint)
                and self.identifier in (None, identifier))


def _parse_fault(spec: Any) -> Fault:
    """Validate a fault request; raises ValueError with a reason."""
    fault = control.parse_fault(spec, Fault, FAULT_ENDPOINTS,
                                strings=("code", "message", "identifier"))
    if fault.http_status is None and not fault.delay_seconds and not fault.reset_connection:
        raise ValueError("give http_status, delay_seconds or reset_connection")
    return fault


Handler = Callable[[dict[str, Any], str | None], tuple[int, dict[str, Any]]]


class Library:
    """The library's holdings; every read and write happens under ``lock``."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        self.held: dict[str, Held] = {}
        self.faults: list[Fault] = []
        self.requests: list[dict[str, Any]] = []
        self.received: list[dict[str, Any]] = []  # as they arrive, before any delay
        self.pulls: list[dict[str, Any]] = []
        self.down_until = 0.0

    def take_fault(self, endpoint: str, identifier: str | None) -> Fault | None:
        return control.take_fault(self.faults, endpoint, identifier)

    # --- the library's endpoints: (body, identifier in the path) → (status, answer) ------------

    def push(self, body: dict[str, Any], _: str | None) -> tuple[int, dict[str, Any]]:
        """A new version: 01 新发, 02 延续 or 09 变更, its record and its sealed file."""
        operation = _operation(body, VERSION_OPERATIONS)
        sequence = _sequence(body)
        record = _check_record(body.get("record"))
        identifier = record["identifier"]
        if sequence != 1:
            raise Refused(422, "FIELD_INVALID", "新版本的 sequence 应为 1", "sequence")
        previous = record.get("previous_identifier")
        if operation == "01" and previous is not None:
            raise Refused(422, "FIELD_INVALID", "新发的证照没有上一版本",
                          "record.previous_identifier")
        if operation != "01" and previous is None:
            raise Refused(422, "FIELD_MISSING", "延续、变更须给出上一版本的证照标识",
                          "record.previous_identifier")
        if identifier in self.held:
            return self._again(identifier, sequence, operation, record["status_code"])
        if previous is not None and previous not in self.held:
            raise Refused(409, "PREVIOUS_UNKNOWN", f"库中没有上一版本 {previous}",
                          "record.previous_identifier")
        sealed = _check_file(body.get("file"))
        held = Held(record=dict(record), status_code=record["status_code"],
                    status_description=record.get("status_description"), file=sealed)
        held.changes.append(self._change(body, sequence, operation, record["status_code"]))
        self.held[identifier] = held
        if previous is not None:
            self.held[previous].superseded_by = identifier
        return 201, {"identifier": identifier, "sequence": sequence, "duplicate": False}

    def status_change(self, body: dict[str, Any], identifier: str | None
                      ) -> tuple[int, dict[str, Any]]:
        """A status change of a version held: 03 暂扣, 04 过期失效, 05 注销/撤销/吊销,
        06 暂扣发还, 02 延续 (valid again, same identifier)."""
        if problem := identifier_problem(identifier):
            raise Refused(422, "IDENTIFIER_INVALID", problem, "identifier")
        operation = _operation(body, set(STATUS_OPERATIONS))
        sequence = _sequence(body)
        status = _status(body.get("status_code"), "status_code")
        if status not in STATUS_OPERATIONS[operation]:
            raise Refused(422, "STATUS_OPERATION_MISMATCH",
                          f"操作类型 {OPERATION_LABELS[operation]} 不会使证照成为"
                          f"“{STATUS_LABELS[status]}”", "status_code")
        held = self.held.get(identifier or "")
        if held is None:
            raise Refused(404, "ELICENSE_UNKNOWN", f"库中没有证照 {identifier}", "identifier")
        if sequence <= len(held.changes):
            return self._again(identifier, sequence, operation, status)
        if sequence != len(held.changes) + 1:
            raise Refused(409, "SEQUENCE_GAP", f"该证照已收到 {len(held.changes)} 次变动，"
                          f"第 {sequence} 次须在第 {len(held.changes) + 1} 次之后", "sequence")
        held.status_code, held.status_description = status, body.get("status_description")
        held.changes.append(self._change(body, sequence, operation, status))
        return 201, {"identifier": identifier, "sequence": sequence, "duplicate": False}

    def _again(self, identifier: str, sequence: int, operation: str, status: str
               ) -> tuple[int, dict[str, Any]]:
        """A push under a number already taken: the same one again (a retry) or a conflict."""
        seen = self.held[identifier].changes[sequence - 1]
        if (seen["operation_code"], seen["status_code"]) != (operation, status):
            was = OPERATION_LABELS[seen["operation_code"]]
            raise Refused(409, "SEQUENCE_CONFLICT", f"该证照第 {sequence} 次变动已是{was}"
                          f"（{STATUS_LABELS[seen['status_code']]}）", "sequence")
        return 200, {"identifier": identifier, "sequence": sequence, "duplicate": True}

    @staticmethod
    def _change(body: dict[str, Any], sequence: int, operation: str, status: str
                ) -> dict[str, Any]:
        return {"sequence": sequence, "operation_code": operation,
                "operation_label": OPERATION_LABELS[operation], "status_code": status,
                "occurred_at": body.get("occurred_at"), "reason": body.get("reason"),
                "received_at": datetime.now().astimezone().isoformat(timespec="seconds")}

    def pull(self, params: dict[str, str], _: str | None) -> tuple[int, dict[str, Any]]:
        """The holder's current e-licenses: holder code + its type (+ a type code), with a
        stated purpose of use (用证事由)."""
        holder, kind = params.get("holder_code"), params.get("holder_code_type")
        purpose = (params.get("purpose") or "").strip()
        if not holder:
            raise Refused(422, "FIELD_MISSING", "缺少持证主体代码 holder_code", "holder_code")
        if kind not in HOLDER_CODE_TYPES:
            raise Refused(422, "HOLDER_CODE_TYPE_UNKNOWN", "持证主体代码类型应为 001 或 111",
                          "holder_code_type")
        if not 2 <= len(purpose) <= 200:
            raise Refused(422, "PURPOSE_REQUIRED", "请说明用证事由（2至200字）", "purpose")
        type_code = params.get("type_code")
        found = [h.view()["record"] for h in self.held.values()
                 if h.superseded_by is None and h.record["holder_code"] == holder
                 and h.record["holder_code_type"] == kind
                 and type_code in (None, h.record["type_code"])]
        self.pulls.append({"holder_code": holder, "holder_code_type": kind,
                           "type_code": type_code, "purpose": purpose, "found": len(found),
                           "at": time.time()})
        return 200, {"total": len(found), "elicenses": found}

    def answer(self, endpoint: str, handler: Handler, identifier: str | None = None
               ) -> Response:
        """Run one call through the down switch, the faults and the log."""
        body: Any = (request.args.to_dict() if request.method == "GET"
                     else request.get_json(silent=True))
        record = body.get("record") if isinstance(body, dict) else None
        target = identifier or (record.get("identifier") if isinstance(record, dict) else None)
        with self.lock:
            self.received.append({"endpoint": endpoint, "identifier": target,
                                  "at": time.time()})
            down = time.monotonic() < self.down_until
            fault = None if down else self.take_fault(endpoint, target)
        if fault and fault.delay_seconds:  # outside the lock: other calls go on meanwhile
            time.sleep(fault.delay_seconds)
        with self.lock:
            if down or (fault and fault.http_status):
                status = 503 if down else fault.http_status
                refused = Refused(status, (fault.code if fault and fault.code else
                                           "SERVICE_UNAVAILABLE" if status >= 500
                                           else "INJECTED_REFUSAL"),
                                  (fault.message if fault and fault.message else
                                   "证照库暂不可用" if status >= 500 else "证照库拒绝该请求"))
                status, result = status, refused.answer()
            elif not isinstance(body, dict):
                status, result = 400, Refused(400, "REQUEST_MALFORMED",
                                              "请求体应为 JSON 对象").answer()
            else:
                try:
                    status, result = handler(body, identifier)
                except Refused as refused:
                    status, result = refused.status, refused.answer()
            self.requests.append({
                "endpoint": endpoint, "identifier": target, "status": status,
                "code": result.get("code"), "duplicate": result.get("duplicate"),
                "operation_code": body.get("operation_code") if isinstance(body, dict) else None,
                "sequence": body.get("sequence") if isinstance(body, dict) else None,
                "at": time.time()})
        if fault and fault.reset_connection:
            request.environ[RESET_KEY] = True
        return Response(_json(result), status=status, mimetype="application/json")

    def log(self) -> dict[str, Any]:
        return {"held": {k: h.view() for k, h in self.held.items()},
                "requests": self.requests, "received": self.received, "pulls": self.pulls,
                "faults": [asdict(f) for f in self.faults]}


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)  # UTF-8, as a Chinese library answers


def create_app() -> Flask:
    """The library emulator as a Flask app."""
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    app.wsgi_app = resetting(app.wsgi_app)  # type: ignore[method-assign]
    library = Library()
    app.extensions["elicense_library"] = library

    app.add_url_rule("/api/v1/elicenses", "push", partial(library.answer, "push", library.push),
                     methods=["POST"])
    app.add_url_rule("/api/v1/elicenses", "pull", partial(library.answer, "pull", library.pull),
                     methods=["GET"])

    @app.post("/api/v1/elicenses/<identifier>/status-changes")
    def status_change(identifier: str) -> Response:
        return library.answer("status", library.status_change, identifier)

    @app.get("/api/v1/elicenses/<identifier>/file")
    def file(identifier: str) -> Response | tuple[Response, int]:
        """The sealed file of a version held."""
        with library.lock:
            held = library.held.get(identifier)
            content = held.file["content"] if held and held.file else None
        if content is None:
            return jsonify(Refused(404, "FILE_UNKNOWN", "库中没有该证照的文件").answer()), 404
        return Response(content, mimetype="application/pdf")

    @app.get("/")
    def index() -> Response:
        with library.lock:
            return jsonify({"service": "省电子证照库（模拟）", "held": len(library.held)})

    control.add_routes(app, library, _parse_fault)

    @app.get("/_emulator/log")
    def read_log() -> Response:
        """What the library holds (each version: record, status, changes in order, file
        digest) and every call it answered (``requests``) or received (``received``)."""
        with library.lock:
            return Response(_json(library.log()), mimetype="application/json")

    return app
