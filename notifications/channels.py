"""The two ways out: WeChat subscribe messages and signed department webhooks.

Each sender makes one delivery attempt and classifies its result; it never touches the
database (the worker records the outcome in its own short transaction).

WeChat answers (reference/wechat-notes.md):

| class        | errcodes                              | what the worker does                     |
|--------------|---------------------------------------|------------------------------------------|
| token        | 40001 40014 42001                     | refresh the token once, retry at once    |
| transient    | -1 45011                              | retry later, exponential backoff         |
| daily_limit  | 45009                                 | retry after midnight (Beijing time)      |
| user         | 43101 (quota spent), 40003            | refused for good; 43101 zeroes the quota |
| config       | 40037 47003 41030 (+ unfittable data) | refused for good, logged as an alert     |
| other codes  |                                       | retry later (bounded by max attempts)    |

A WeChat send that failed without such an answer is classified by ``classify_failure``, the
one place that decides whether the request may have reached WeChat. WeChat has no
idempotency key, so a send that may have arrived must never be sent again automatically:

- **retry** — nothing can have reached WeChat: the connection was refused or never made
  (unreachable, DNS, a timeout while connecting); the token fetch before the send failed;
  WeChat's front answered HTTP 503, 429 or 408 (it says it did not act on the request).
- **uncertain** — the request may have been read: a read timeout (WeChat answering later
  than our timeout), the connection reset or closed after the request was sent, a broken
  body, any other HTTP error status, an answer that is not WeChat's JSON.

``uncertain`` rows keep their quota unit spent and wait for an administrator, who may replay
them knowingly (``admin.replay``). No layer below retries either: requests' default adapter
(``Retry(0, read=False)``) never resends, and ``wechat.WeChatClient`` keeps it.

Webhook: 2xx delivered; 410 Gone refused for good; anything else (5xx, 4xx, timeout,
connection refused or reset, a late answer) is retried with backoff until NOTIFY_MAX_ATTEMPTS,
then ``failed``, replayable by an administrator, and always in the department's pull feed
meanwhile. Resending is safe there: every delivery carries the record's idempotency id.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

import requests
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError
from wechatpy.exceptions import WeChatClientException

from backend.security import addresses
from notifications import signing
from notifications.wechat import WeChatClient

log = logging.getLogger(__name__)

TOKEN_ERRORS = frozenset({40001, 40014, 42001})
RETRY_LATER = frozenset({-1, 45011})
DAILY_LIMIT = frozenset({45009})
USER_DECISION = frozenset({43101, 40003})
CONFIG_ERRORS = frozenset({40037, 47003, 41030})
QUOTA_SPENT = 43101
NOT_HANDLED = frozenset({408, 429, 503})  # HTTP statuses saying the request was not acted on

SENT, RETRY, REFUSED, UNCERTAIN = "sent", "retry", "refused", "uncertain"


@dataclass(frozen=True)
class Result:
    """One attempt's outcome: ``sent``, ``retry`` (with a class choosing the backoff),
    ``refused`` for good, or ``uncertain`` (may have reached the user; never resent)."""

    outcome: str
    error_class: str | None = None
    error: str | None = None
    errcode: int | None = None

    @property
    def quota_spent(self) -> bool:
        return self.errcode == QUOTA_SPENT


# --- WeChat ------------------------------------------------------------------------------------


class UnreadableAnswer(Exception):
    """WeChat's front answered 200 with something that is not WeChat's JSON answer."""


def send_wechat(client: WeChatClient, *, openid: str, template_id: str,
                data: dict[str, Any], page: str | None, state: str = "formal") -> Result:
    """Send one subscribe message; on a refused token, refresh once and retry once.

    The token is fetched first, on its own, so that its failures (nothing sent yet) are
    retried; every failure of the send itself goes through ``classify_failure``.
    """
    try:
        client.access_token  # noqa: B018 - fetched (and cached) before anything is sent
    except (WeChatClientException, requests.RequestException) as error:
        return Result(RETRY, "transient", f"token fetch failed: {error}")
    for attempt in (1, 2):
        try:
            answer = _post_subscribe(client, openid, template_id, data, page, state)
            if not isinstance(answer, dict) or answer.get("errcode") != 0:
                raise UnreadableAnswer(_answer_text(answer))
            return Result(SENT)
        except WeChatClientException as error:
            errcode = _errcode(error)
            if errcode in TOKEN_ERRORS and attempt == 1:
                try:
                    client.refresh_access_token()
                except (WeChatClientException, requests.RequestException) as refresh_error:
                    return Result(RETRY, "transient", f"token refresh failed: {refresh_error}")
                continue
            return classify_failure(error)
        except (requests.RequestException, UnreadableAnswer) as error:
            return classify_failure(error)
    return Result(RETRY, "transient", "token refused twice")  # pragma: no cover - loop returns


def _post_subscribe(client: WeChatClient, openid: str, template_id: str, data: dict[str, Any],
                    page: str | None, state: str) -> Any:
    """WeChat's decoded answer (wechatpy hands back the raw response if it is not JSON)."""
    if state == "formal":
        return client.wxa.send_subscribe_message(openid, template_id, data, page=page)
    # wechatpy 1.8.18 has no miniprogram_state argument: post the documented body ourselves
    body = {"touser": openid, "template_id": template_id, "data": data,
            "miniprogram_state": state, "lang": "zh_CN"}
    if page:
        body["page"] = page
    return client.post("message/subscribe/send", data=body)


def _answer_text(answer: Any) -> str:
    if isinstance(answer, requests.Response):
        return f"HTTP {answer.status_code}, not JSON: {answer.text[:200]!r}"
    return f"not WeChat's answer: {str(answer)[:200]!r}"


def _errcode(error: WeChatClientException) -> int | None:
    try:
        return int(error.errcode) if error.errcode is not None else None
    except (TypeError, ValueError):
        return None


def nothing_sent(error: requests.RequestException) -> bool:
    """Whether the failure proves the request never left: it failed while connecting —
    refused, unreachable, DNS (urllib3's NewConnectionError, NameResolutionError) or a
    connect timeout. Everything else happened once the connection was up, so the request
    may have been read."""
    if isinstance(error, requests.ConnectTimeout):
        return True
    cause = error.args[0] if error.args else None  # requests wraps urllib3's MaxRetryError
    return isinstance(getattr(cause, "reason", cause), (ConnectTimeoutError, NewConnectionError))


def classify_failure(error: Exception) -> Result:
    """What a failed WeChat send means: the one place deciding retry, refusal or uncertain
    (the tables in the module docstring)."""
    if isinstance(error, WeChatClientException) and _errcode(error) is not None:
        return _classify_errcode(error)
    if isinstance(error, WeChatClientException):  # an HTTP error status from WeChat's front
        status = getattr(getattr(error, "response", None), "status_code", None)
        text = f"HTTP {status}" if status else "HTTP error"
        if status in NOT_HANDLED:
            return Result(RETRY, "transient", text)
        return Result(UNCERTAIN, "unknown_outcome", f"{text}: may have been delivered")
    if isinstance(error, requests.RequestException) and nothing_sent(error):
        return Result(RETRY, "transient", f"not connected: {type(error).__name__}: {error}")
    return Result(UNCERTAIN, "unknown_outcome",
                  f"may have been delivered, not resent: {type(error).__name__}: {error}")


def _classify_errcode(error: WeChatClientException) -> Result:
    errcode = _errcode(error)
    text = f"{errcode}: {error.errmsg}"
    if errcode in RETRY_LATER or errcode in TOKEN_ERRORS:
        return Result(RETRY, "transient", text, errcode)
    if errcode in DAILY_LIMIT:
        return Result(RETRY, "daily_limit", text, errcode)
    if errcode in USER_DECISION:
        return Result(REFUSED, "user", text, errcode)
    if errcode in CONFIG_ERRORS:
        log.error("ALERT: WeChat refuses our configuration; fix templates.yaml and replay",
                  extra={"errcode": errcode, "errmsg": error.errmsg})
        return Result(REFUSED, "config", text, errcode)
    return Result(RETRY, "transient", text, errcode)


# --- department webhooks -----------------------------------------------------------------------


def webhook_body(record: dict[str, Any]) -> bytes:
    """The exact bytes signed and sent: compact, key-sorted UTF-8 JSON."""
    return json.dumps(record, ensure_ascii=False, sort_keys=True,
                      separators=(",", ":")).encode()


def send_webhook(http: requests.Session, *, url: str, secret: str, record_id: str, event: str,
                 body: bytes, timeout: float, now: float | None = None,
                 allow_private: bool = False) -> Result:
    """One signed POST. Unless ``allow_private``, a URL whose host is (or now resolves to) a
    non-public address is refused for good without sending (backend/security/addresses.py;
    ``http`` should be ``addresses.guard``ed, which checks the address actually connected).
    The error recorded is the status and its standard reason only: the receiver's body never
    reaches last_error (an administrator reads it)."""
    if not allow_private:
        try:
            addresses.check_url(url)
        except addresses.Unresolvable:
            return Result(RETRY, "transient", "network: the host name does not resolve")
        except addresses.ForbiddenAddress as error:
            return _forbidden(error)
    timestamp = str(int(now if now is not None else time.time()))
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        "User-Agent": "yiye-yizheng-notifier/1",
        signing.EVENT_HEADER: event,
        signing.DELIVERY_HEADER: record_id,
        "Idempotency-Key": record_id,
        signing.TIMESTAMP_HEADER: timestamp,
        signing.SIGNATURE_HEADER: signing.sign(secret, timestamp, body),
    }
    try:
        resp = post_once(http, url, body=body, headers=headers, timeout=timeout)
    except addresses.ForbiddenAddress as error:
        return _forbidden(error)
    if isinstance(resp, Result):
        return resp
    text = status_text(resp.status_code)
    if resp.status_code == 410:
        return Result(REFUSED, "gone", text)
    return Result(RETRY, "transient" if resp.status_code >= 500 else "rejected", text)


def post_once(http: requests.Session, url: str, *, body: bytes, headers: dict[str, str],
              timeout: float) -> requests.Response | Result:
    """One POST to a receiver that dedupes (a department, the e-license library), redirects
    not followed: ``sent`` on a 2xx, ``retry`` when the network failed (a timeout, the
    connection refused, reset or dropped: resending is safe), else the answer, for the
    caller to classify by its status."""
    try:
        resp = http.post(url, data=body, headers=headers, timeout=timeout,
                         allow_redirects=False)
    except requests.Timeout:
        return Result(RETRY, "transient", f"timeout after {timeout:g}s")
    except requests.RequestException as error:
        return Result(RETRY, "transient", f"network: {type(error).__name__}")
    return Result(SENT) if 200 <= resp.status_code < 300 else resp


def status_text(status: int) -> str:
    """``HTTP 503 Service Unavailable``: the status and its standard reason."""
    return f"HTTP {status} {_phrase(status)}".rstrip()


def _forbidden(error: addresses.ForbiddenAddress) -> Result:
    return Result(REFUSED, "forbidden_address",
                  f"推送地址指向{error.kind}（{error.address}），已拒绝发送；请改为公网地址后重发")


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""
