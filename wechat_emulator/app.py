"""A local stand-in for the WeChat server API, for development and tests only.

It answers like WeChat does (HTTP 200 with a JSON ``errcode``, the real response shapes and
error codes) so that the wechatpy code of the project runs unchanged against it, and it adds
a control API under ``/_emulator`` to inject faults, take the service down and read what it
received.

Login codes: any ``js_code`` starting with ``dev-`` or ``test-`` is valid, once (a second use
answers 40163, like a real ``wx.login()`` code); anything else answers 40029. The text after
the prefix names the user, up to an optional ``.<nonce>``: ``test-alice`` and
``test-alice.2`` are two single-use codes of the same user ``alice`` and give the same
openid, so a test can log one person in twice. ``dev-alice`` is that same user too.

Phone codes (getuserphonenumber): ``POST /_emulator/phone_code {"user": "alice"}`` stands for
the user tapping the getPhoneNumber button and answers the one-time code the button hands the
mini-program; it is valid once and for five minutes (``PHONE_CODE_TTL_SECONDS``), after which
the answer is 40029, as WeChat answers for a code it does not accept. Codes of the login form
(``test-alice.1``) are accepted once too, without an age. Each user gets a fixed 1380000xxxx
number. ``POST /_emulator/advance {"seconds": n}`` moves the emulator's clock forward (code
and token ages), so expiry is tested without waiting.

Access tokens: every ``GET /cgi-bin/token`` issues a new token and invalidates the previous
one, as WeChat does; ``POST /cgi-bin/stable_token`` returns the current one unless
``force_refresh``. Calls that need a token answer 41001 without one, 40001 with a stale one.

Subscribe messages, as WeChat keeps them (``POST /_emulator/config`` switches each on):
``enforce_quota`` — a one-time subscription allows one message per acceptance
(``POST /_emulator/subscribe`` stands for the user tapping "允许" in
``wx.requestSubscribeMessage``); without quota left the answer is 43101. ``templates`` — the
account's template ids; any other answers 40037. ``pages`` — the pages of the released
mini-program; a message opening any other answers 41030. Values breaking their type's rule
answer 47003, as before.

Faults (``POST /_emulator/faults``, see ``Fault``) make the next matching calls fail the ways
WeChat and the network do, including the ones whose outcome the caller cannot know: an answer
later than the caller's timeout (the message still accepted), the connection reset after the
request was read, an answer that is not JSON.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from flask import Flask, Response, jsonify, request

from wechat_emulator import control

TOKEN_TTL_SECONDS = 7200
PHONE_CODE_TTL_SECONDS = 300  # getPhoneNumber: the button's code is valid for five minutes
FAULT_ENDPOINTS = frozenset(
    {"token", "stable_token", "jscode2session", "subscribe_send", "getuserphonenumber", "*"}
)

# errmsg texts as WeChat writes them, before the ", rid: …" it appends to each.
ERRMSG = {
    -1: "system error",
    40001: "invalid credential, access_token is invalid or not latest",
    40002: "invalid grant_type",
    40003: "invalid openid",
    40013: "invalid appid",
    40014: "invalid access_token",
    40029: "invalid code",
    40037: "invalid template_id",
    40125: "invalid appsecret",
    40163: "code been used",
    40164: "invalid ip, not in whitelist",
    40226: "high risk user",
    41001: "access_token missing",
    41002: "appid missing",
    41004: "appsecret missing",
    41008: "missing code",
    41030: "invalid page",
    42001: "access_token expired",
    43101: "user refuse to accept the msg",
    44002: "empty post data",
    45009: "reach max api daily quota limit",
    45011: "api minute-quota reach limit  mustslower  retry next minute",
    47001: "data format error",
    47003: "argument invalid!",
}

_CODE = re.compile(r"(?:dev|test)-(?P<user>[^.]+)(?:\..*)?", re.DOTALL)
_OPENID = re.compile(r"[A-Za-z0-9_-]{28}")
_TEMPLATE_ID = re.compile(r"[A-Za-z0-9_-]+")
_DATA_KEY = re.compile(r"(?P<kind>[a-z_]+?)\d+")
_HAN = "\u4e00-\u9fff"
_SYMBOLS = r"\x21-\x2f\x3a-\x40\x5b-\x60\x7b-\x7e"  # printable ASCII minus letters, digits
_DATE = r"\d{4}(?:年\d{1,2}月\d{1,2}日|-\d{1,2}-\d{1,2}|/\d{1,2}/\d{1,2})"
_CLOCK = r"(?:[01]?\d|2[0-3]):[0-5]\d(?::[0-5]\d)?"
_AMOUNT = re.compile(r"[¥￥$€£]?(?P<digits>\d+(?:\.\d+)?)元?")


def _matches(*patterns: str) -> Callable[[str], bool]:
    compiled = [re.compile(p) for p in patterns]
    return lambda value: any(p.fullmatch(value) for p in compiled)


def _points(pattern: str) -> Callable[[str], bool]:
    """A time or date value: one point, or a range of two joined by ``~``."""
    point = re.compile(pattern)

    def check(value: str) -> bool:
        parts = value.split("~")
        return len(parts) <= 2 and all(point.fullmatch(p.strip()) for p in parts)

    return check


def _amount(value: str) -> bool:
    match = _AMOUNT.fullmatch(value)
    return bool(match) and sum(c.isdigit() for c in match["digits"]) <= 10


# Subscribe-message value rules by the key's type prefix (thing1 → thing), as documented for
# subscribeMessage.send; a value that breaks its rule is refused with 47003.
VALUE_RULES: dict[str, tuple[str, Callable[[str], bool]]] = {
    "thing": ("must be at most 20 characters", lambda v: len(v) <= 20),
    "number": ("must be at most 32 digits", _matches(r"(?=.{1,32}$)\d+(?:\.\d+)?")),
    "letter": ("must be at most 32 letters", _matches(r"[A-Za-z]{1,32}")),
    "symbol": ("must be at most 5 symbols", _matches(f"[{_SYMBOLS}]{{1,5}}")),
    "character_string": (
        "must be at most 32 letters, digits or symbols",
        _matches(f"[A-Za-z0-9{_SYMBOLS}]{{1,32}}"),
    ),
    "phrase": ("must be at most 5 Chinese characters", _matches(f"[{_HAN}]{{1,5}}")),
    "name": (
        "must be at most 10 Chinese characters or 20 letters",
        _matches(f"[{_HAN}·]{{1,10}}", r"[A-Za-z .'-]{1,20}"),
    ),
    "time": (
        "must be a 24-hour time, optionally with a date, or a range of two",
        _points(rf"(?:{_DATE}\s*)?{_CLOCK}"),
    ),
    "date": (
        "must be a date, optionally with a time, or a range of two",
        _points(rf"{_DATE}(?:\s*{_CLOCK})?"),
    ),
    "amount": ("must be a currency sign and at most 10 digits, may end in 元", _amount),
    "phone_number": ("must be at most 17 digits or symbols", _matches(f"[0-9{_SYMBOLS}]{{1,17}}")),
    "car_number": (
        "must be a plate of at most 8 characters",
        _matches(f"(?=.{{1,8}}$)[{_HAN}]?[A-Za-z0-9]+[{_HAN}]?"),
    ),
}
MINIPROGRAM_STATES = frozenset({"developer", "trial", "formal"})
LANGS = frozenset({"zh_CN", "en_US", "zh_HK", "zh_TW"})


def error(errcode: int, detail: str = "") -> dict[str, Any]:
    """A WeChat error body: errcode plus errmsg with the request id WeChat appends."""
    text = ERRMSG.get(errcode, "injected error")
    rid = "-".join(secrets.token_hex(4) for _ in range(3))
    return {"errcode": errcode, "errmsg": f"{text}{' ' + detail if detail else ''}, rid: {rid}"}


def _wechat_id(*parts: str) -> str:
    """28 characters starting with "o", like a real openid or unionid; stable per input."""
    digest = hashlib.sha256(":".join(parts).encode()).digest()
    return ("o" + base64.urlsafe_b64encode(digest).decode())[:28]


def _check_data(data: Any) -> dict[str, Any] | None:
    """Apply WeChat's per-type rules to a subscribe message's ``data``."""
    if not isinstance(data, dict) or not data:
        return error(47003, "data is empty")
    for key, item in data.items():
        value = item.get("value") if isinstance(item, dict) else None
        field = f"data.{key}.value"
        kind = _DATA_KEY.fullmatch(key)
        if not isinstance(value, str) or not value:
            return error(47003, f"{field} is empty")
        if kind is None or kind["kind"] not in VALUE_RULES:
            return error(47003, f"{field} has an unknown type")
        if "\n" in value or "\r" in value:
            return error(47003, f"{field} contains a line break")
        reason, rule = VALUE_RULES[kind["kind"]]
        if not rule(value):
            return error(47003, f"{field} {reason}")
    return None


Handler = Callable[[dict[str, str], Any], dict[str, Any]]


class ResetConnection(ConnectionResetError):
    """Raised past Flask (``resetting``) so that the server resets the client's connection
    (``server.EmulatorServer``) instead of sending the answer."""


RESET_KEY = "wechat_emulator.reset"


@dataclass
class Fault:
    """An armed fault: what the next ``times`` matching calls get instead of an answer.

    ``errcode`` answers that error, ``http_status`` a plain HTTP error; ``delay_seconds``
    holds the answer back (alone: then handles the call as usual — a late answer that
    WeChat still accepted); ``reset_connection`` handles the call, then resets the
    connection instead of answering; ``answer_text`` handles the call, then answers this
    text instead of the JSON. The last two are calls whose outcome the client cannot know.
    """

    endpoint: str
    errcode: int | None = None
    times: int = 1
    touser: str | None = None
    template_id: str | None = None
    delay_seconds: float = 0.0
    http_status: int | None = None
    reset_connection: bool = False
    answer_text: str | None = None

    def matches(self, endpoint: str, body: Any) -> bool:
        if self.endpoint not in ("*", endpoint):
            return False
        if self.touser is None and self.template_id is None:
            return True
        body = body if isinstance(body, dict) else {}
        return (
            endpoint == "subscribe_send"
            and self.touser in (None, body.get("touser"))
            and self.template_id in (None, body.get("template_id"))
        )


def _parse_fault(spec: Any) -> Fault:
    """Validate a fault request; raises ValueError with a reason."""
    fault = control.parse_fault(spec, Fault, FAULT_ENDPOINTS,
                                strings=("touser", "template_id", "answer_text"))
    if (fault.errcode is None and fault.http_status is None and not fault.delay_seconds
            and not fault.reset_connection and fault.answer_text is None):
        raise ValueError("give errcode, http_status, delay_seconds, reset_connection or "
                         "answer_text")
    if fault.errcode is not None and (type(fault.errcode) is not int or fault.errcode == 0):
        raise ValueError("errcode must be a non-zero integer")
    return fault


class Emulator:
    """The emulator's state; every read and write happens under ``lock``."""

    def __init__(self, appid: str, secret: str) -> None:
        self.appid = appid
        self.secret = secret
        self.lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        self.token: str | None = None
        self.token_expires_at = 0.0
        self.used_codes: set[str] = set()
        self.faults: list[Fault] = []
        self.requests: list[dict[str, Any]] = []
        # every call as it arrives, before any delay: a test can act while one is in flight
        self.received: list[dict[str, Any]] = []
        self.messages: list[dict[str, Any]] = []
        self.down_until = 0.0
        self.next_msgid = 1
        self.enforce_quota = False
        self.templates: set[str] | None = None  # None: any well-formed template id
        self.pages: set[str] | None = None  # None: any page
        self.quota: dict[tuple[str, str], int] = {}  # (openid, template id) → messages left
        self.clock_offset = 0.0  # POST /_emulator/advance
        self.phone_codes: dict[str, tuple[str, float]] = {}  # code → (user, issued at)

    def now(self) -> float:
        """The emulator's clock (monotonic, moved on by ``/_emulator/advance``)."""
        return time.monotonic() + self.clock_offset

    def issue_phone_code(self, user: str) -> dict[str, Any]:
        code = "phone-" + secrets.token_urlsafe(24)
        self.phone_codes[code] = (user, self.now())
        return {"code": code, "expires_in": PHONE_CODE_TTL_SECONDS}

    def phone_user(self, code: Any) -> str | None:
        """The user of a phone code, using it up; None when invalid, used or too old."""
        if not isinstance(code, str) or code in self.used_codes:
            return None
        if code in self.phone_codes:
            user, issued_at = self.phone_codes[code]
            if self.now() - issued_at > PHONE_CODE_TTL_SECONDS:
                return None
        elif match := _CODE.fullmatch(code):
            user = match["user"]
        else:
            return None
        self.used_codes.add(code)
        return user

    def issue_token(self) -> dict[str, Any]:
        self.token = secrets.token_urlsafe(48)
        self.token_expires_at = self.now() + TOKEN_TTL_SECONDS
        return {"access_token": self.token, "expires_in": TOKEN_TTL_SECONDS}

    def token_expired(self) -> bool:
        return self.now() >= self.token_expires_at

    def check_token(self, params: dict[str, str]) -> dict[str, Any] | None:
        token = params.get("access_token")
        if not token:
            return error(41001)
        if token != self.token:
            return error(40001)
        if self.token_expired():
            return error(42001)
        return None

    def check_app(self, appid: str | None, secret: str | None) -> dict[str, Any] | None:
        if not appid:
            return error(41002)
        if appid != self.appid:
            return error(40013)
        if not secret:
            return error(41004)
        return None

    def take_fault(self, endpoint: str, body: Any) -> Fault | None:
        return control.take_fault(self.faults, endpoint, body)

    # WeChat endpoints: each takes (params, body) and returns the JSON answer.

    def token_endpoint(self, params: dict[str, str], body: Any) -> dict[str, Any]:
        if params.get("grant_type") != "client_credential":
            return error(40002)
        refused = self.check_app(params.get("appid"), params.get("secret"))
        if refused:
            return refused
        if params["secret"] != self.secret:
            return error(40001)
        return self.issue_token()

    def stable_token(self, params: dict[str, str], body: Any) -> dict[str, Any]:
        body = body if isinstance(body, dict) else {}
        if body.get("grant_type") != "client_credential":
            return error(40002)
        refused = self.check_app(body.get("appid"), body.get("secret"))
        if refused:
            return refused
        if body["secret"] != self.secret:
            return error(40125)
        if body.get("force_refresh") or self.token is None or self.token_expired():
            return self.issue_token()
        remaining = int(self.token_expires_at - self.now())
        return {"access_token": self.token, "expires_in": remaining}

    def jscode2session(self, params: dict[str, str], body: Any) -> dict[str, Any]:
        # Real code2Session needs no access_token; wechatpy sends one anyway, so ignore it.
        if params.get("grant_type") != "authorization_code":
            return error(40002)
        refused = self.check_app(params.get("appid"), params.get("secret"))
        if refused:
            return refused
        if params["secret"] != self.secret:
            return error(40125)
        code = params.get("js_code")
        if not code:
            return error(41008)
        match = _CODE.fullmatch(code)
        if match is None:
            return error(40029)
        if code in self.used_codes:
            return error(40163)
        self.used_codes.add(code)
        user = match["user"]
        return {
            "openid": _wechat_id(self.appid, user),
            # WeChat hands out a fresh session_key on every login.
            "session_key": base64.b64encode(secrets.token_bytes(16)).decode(),
            "unionid": _wechat_id("unionid", user),
        }

    def subscribe_send(self, params: dict[str, str], body: Any) -> dict[str, Any]:
        refused = self.check_token(params)
        if refused:
            return refused
        if body is None:
            return error(44002) if not request.get_data() else error(47001)
        if not isinstance(body, dict):
            return error(47001)
        touser, template_id = body.get("touser"), body.get("template_id")
        if not isinstance(touser, str) or not _OPENID.fullmatch(touser):
            return error(40003)
        if not isinstance(template_id, str) or not _TEMPLATE_ID.fullmatch(template_id):
            return error(40037)
        if self.templates is not None and template_id not in self.templates:
            return error(40037)
        if "page" in body and not isinstance(body["page"], str):
            return error(47001, "page must be a string")
        if (self.pages is not None and body.get("page")
                and body["page"].split("?", 1)[0] not in self.pages):
            return error(41030)
        if body.get("miniprogram_state", "formal") not in MINIPROGRAM_STATES:
            return error(47003, "miniprogram_state")
        if body.get("lang", "zh_CN") not in LANGS:
            return error(47003, "lang")
        refused = _check_data(body.get("data"))
        if refused:
            return refused
        if self.enforce_quota:
            left = self.quota.get((touser, template_id), 0)
            if left <= 0:
                return error(43101)
            self.quota[(touser, template_id)] = left - 1
        msgid = self.next_msgid
        self.next_msgid += 1
        self.messages.append(
            {
                "msgid": msgid,
                "touser": touser,
                "template_id": template_id,
                "page": body.get("page"),
                "data": body["data"],
                "miniprogram_state": body.get("miniprogram_state", "formal"),
                "lang": body.get("lang", "zh_CN"),
                "at": time.time(),
            }
        )
        return {"errcode": 0, "errmsg": "ok", "msgid": msgid}

    def phone_number(self, params: dict[str, str], body: Any) -> dict[str, Any]:
        refused = self.check_token(params)
        if refused:
            return refused
        user = self.phone_user(body.get("code") if isinstance(body, dict) else None)
        if user is None:  # unknown, used or older than five minutes
            return error(40029)
        digest = hashlib.sha256(f"{self.appid}:{user}".encode()).digest()
        number = f"1380000{int.from_bytes(digest[:4]) % 10000:04d}"  # stable per user
        return {
            "errcode": 0,
            "errmsg": "ok",
            "phone_info": {
                "phoneNumber": number,
                "purePhoneNumber": number,
                "countryCode": "86",
                "watermark": {"timestamp": int(time.time()), "appid": self.appid},
            },
        }

    def answer(self, endpoint: str, handler: Handler) -> Response:
        """Run one WeChat call through the down switch, the faults and the log."""
        params = request.args.to_dict()
        body = request.get_json(force=True, silent=True)  # wechatpy sends no content type
        with self.lock:
            self.received.append({"endpoint": endpoint, "at": time.time(), "touser": (
                body.get("touser") if isinstance(body, dict) else None)})
            down = time.monotonic() < self.down_until
            fault = None if down else self.take_fault(endpoint, body)
        # Sleep outside the lock so that other calls go on meanwhile.
        if fault and fault.delay_seconds:
            time.sleep(fault.delay_seconds)
        status, result = 200, None
        with self.lock:
            if down:
                status = 503
            elif fault and fault.http_status:
                status = fault.http_status
            elif fault and fault.errcode is not None:
                result = error(fault.errcode)
            else:
                result = handler(params, body)
            self.requests.append(
                {
                    "endpoint": endpoint,
                    "method": request.method,
                    "params": params | ({"secret": "***"} if "secret" in params else {}),
                    "body": _mask_secret(body),
                    "errcode": result.get("errcode", 0) if result else None,
                    "status": status,
                    "at": time.time(),
                }
            )
        if fault and fault.reset_connection:
            request.environ[RESET_KEY] = True
        if fault and fault.answer_text is not None:
            return Response(fault.answer_text, status=status, mimetype="text/html")
        if result is None:
            return Response(f"HTTP {status}\n", status=status, mimetype="text/plain")
        return jsonify(result)


def _mask_secret(body: Any) -> Any:
    if isinstance(body, dict) and "secret" in body:
        return body | {"secret": "***"}
    return body


def resetting(wsgi_app: Callable[..., Any]) -> Callable[..., Any]:
    """Turn a call marked for a reset (``environ[RESET_KEY]``) into ``ResetConnection``
    before a byte is answered (any emulator served by ``server.EmulatorServer``)."""

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        answer = wsgi_app(environ, start_response)
        if environ.get(RESET_KEY):
            getattr(answer, "close", lambda: None)()
            raise ResetConnection("reset by the emulator's fault")
        return answer

    return app


def create_app(appid: str, secret: str) -> Flask:
    """The emulator as a Flask app, for one mini-program ``appid``/``secret``."""
    app = Flask(__name__)
    app.wsgi_app = resetting(app.wsgi_app)  # type: ignore[method-assign]
    emulator = Emulator(appid, secret)
    app.extensions["wechat_emulator"] = emulator

    routes: tuple[tuple[str, str, str, Handler], ...] = (
        ("GET", "/cgi-bin/token", "token", emulator.token_endpoint),
        ("POST", "/cgi-bin/stable_token", "stable_token", emulator.stable_token),
        ("GET", "/sns/jscode2session", "jscode2session", emulator.jscode2session),
        ("POST", "/cgi-bin/message/subscribe/send", "subscribe_send", emulator.subscribe_send),
        ("POST", "/wxa/business/getuserphonenumber", "getuserphonenumber", emulator.phone_number),
    )
    for method, rule, endpoint, handler in routes:
        view = partial(emulator.answer, endpoint, handler)
        app.add_url_rule(rule, endpoint, view, methods=[method])

    control.add_routes(app, emulator, _parse_fault)

    @app.post("/_emulator/expire_token")
    def expire_token() -> Response:
        """Invalidate the current access token, so the next call answers 40001."""
        with emulator.lock:
            had_token, emulator.token = emulator.token is not None, None
        return jsonify({"expired": had_token})

    @app.post("/_emulator/phone_code")
    def phone_code() -> tuple[Response, int]:
        """The user taps the getPhoneNumber button and allows: the one-time code the button
        gives the mini-program. Body: {"user": name}."""
        spec = request.get_json(force=True, silent=True) or {}
        if not isinstance(spec.get("user"), str) or not spec["user"]:
            return jsonify({"error": "give user"}), 400
        with emulator.lock:
            return jsonify(emulator.issue_phone_code(spec["user"])), 201

    @app.post("/_emulator/advance")
    def advance() -> tuple[Response, int] | Response:
        """Move the emulator's clock forward. Body: {"seconds": n}, 0 < n ≤ 86400."""
        seconds = (request.get_json(force=True, silent=True) or {}).get("seconds")
        if type(seconds) not in (int, float) or not 0 < seconds <= 86400:
            return jsonify({"error": "seconds must be a number from 0 to 86400"}), 400
        with emulator.lock:
            emulator.clock_offset += seconds
            return jsonify({"clock_offset": emulator.clock_offset})

    @app.post("/_emulator/config")
    def configure() -> tuple[Response, int] | Response:
        """Switch WeChat's checks on or off: enforce_quota, templates, pages."""
        spec = request.get_json(force=True, silent=True)
        if not isinstance(spec, dict) or set(spec) - {"enforce_quota", "templates", "pages"}:
            return jsonify({"error": "give enforce_quota, templates and/or pages"}), 400
        for name in ("templates", "pages"):
            value = spec.get(name)
            if value is not None and not (isinstance(value, list)
                                          and all(isinstance(v, str) for v in value)):
                return jsonify({"error": f"{name} must be a list of strings or null"}), 400
        if "enforce_quota" in spec and not isinstance(spec["enforce_quota"], bool):
            return jsonify({"error": "enforce_quota must be true or false"}), 400
        with emulator.lock:
            if "enforce_quota" in spec:
                emulator.enforce_quota = spec["enforce_quota"]
            for name in ("templates", "pages"):
                if name in spec:
                    setattr(emulator, name, None if spec[name] is None else set(spec[name]))
            return jsonify({"enforce_quota": emulator.enforce_quota,
                            "templates": sorted(emulator.templates or []) or None,
                            "pages": sorted(emulator.pages or []) or None})

    @app.post("/_emulator/subscribe")
    def subscribe() -> tuple[Response, int]:
        """The user accepts a template in wx.requestSubscribeMessage: one more message allowed.

        Body: {"touser": openid | "user": name, "template_id": id, "times": 1}.
        """
        spec = request.get_json(force=True, silent=True) or {}
        touser = spec.get("touser") or (
            _wechat_id(emulator.appid, spec["user"]) if isinstance(spec.get("user"), str)
            else None)
        template_id, times = spec.get("template_id"), spec.get("times", 1)
        if not isinstance(touser, str) or not isinstance(template_id, str):
            return jsonify({"error": "give touser (or user) and template_id"}), 400
        if type(times) is not int or not 1 <= times <= 100:
            return jsonify({"error": "times must be an integer from 1 to 100"}), 400
        with emulator.lock:
            key = (touser, template_id)
            emulator.quota[key] = emulator.quota.get(key, 0) + times
            return jsonify({"touser": touser, "template_id": template_id,
                            "remaining": emulator.quota[key]}), 201

    @app.get("/_emulator/log")
    def read_log() -> Response:
        """Every WeChat call answered (and, in ``received``, every call as it arrived), every
        subscribe message accepted, and the subscription quotas."""
        with emulator.lock:
            return jsonify({"requests": emulator.requests, "messages": emulator.messages,
                            "received": emulator.received,
                            "quota": [{"touser": u, "template_id": t, "remaining": n}
                                      for (u, t), n in emulator.quota.items()]})

    return app
