"""The two ways out: WeChat subscribe messages and signed department webhooks.

Each sender makes one delivery attempt and classifies its result; it never touches the
database (the worker records the outcome in its own short transaction).

WeChat error classes (reference/wechat-notes.md):

| class        | errcodes                              | what the worker does                     |
|--------------|---------------------------------------|------------------------------------------|
| token        | 40001 40014 42001                     | refresh the token once, retry at once    |
| transient    | -1 45011, HTTP 5xx, network, timeout  | retry later, exponential backoff         |
| daily_limit  | 45009                                 | retry after midnight (Beijing time)      |
| user         | 43101 (quota spent), 40003            | refused for good; 43101 zeroes the quota |
| config       | 40037 47003 41030 (+ unfittable data) | refused for good, logged as an alert     |
| other codes  |                                       | retry later (bounded by max attempts)    |

Webhook: 2xx delivered; 410 Gone refused for good; anything else (5xx, 4xx, timeout,
connection refused) is retried with backoff until NOTIFY_MAX_ATTEMPTS, then ``failed``,
replayable by an administrator, and always in the department's pull feed meanwhile.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from typing import Any

import requests
from wechatpy.exceptions import WeChatClientException

from notifications import signing
from notifications.wechat import WeChatClient

log = logging.getLogger(__name__)

TOKEN_ERRORS = frozenset({40001, 40014, 42001})
RETRY_LATER = frozenset({-1, 45011})
DAILY_LIMIT = frozenset({45009})
USER_DECISION = frozenset({43101, 40003})
CONFIG_ERRORS = frozenset({40037, 47003, 41030})
QUOTA_SPENT = 43101

SENT, RETRY, REFUSED = "sent", "retry", "refused"


@dataclass(frozen=True)
class Result:
    """One attempt's outcome: ``sent``, ``retry`` (with a class choosing the backoff) or
    ``refused`` for good."""

    outcome: str
    error_class: str | None = None
    error: str | None = None
    errcode: int | None = None

    @property
    def quota_spent(self) -> bool:
        return self.errcode == QUOTA_SPENT


# --- WeChat ------------------------------------------------------------------------------------


def send_wechat(client: WeChatClient, *, openid: str, template_id: str,
                data: dict[str, Any], page: str | None, state: str = "formal") -> Result:
    """Send one subscribe message; on a refused token, refresh once and retry once."""
    for attempt in (1, 2):
        try:
            _post_subscribe(client, openid, template_id, data, page, state)
            return Result(SENT)
        except WeChatClientException as error:
            errcode = _errcode(error)
            if errcode in TOKEN_ERRORS and attempt == 1:
                try:
                    client.refresh_access_token()
                except (WeChatClientException, requests.RequestException) as refresh_error:
                    return Result(RETRY, "transient", f"token refresh failed: {refresh_error}")
                continue
            return classify_wechat(error)
        except requests.RequestException as error:
            return Result(RETRY, "transient", f"network: {type(error).__name__}: {error}")
    return Result(RETRY, "transient", "token refused twice")  # pragma: no cover - loop returns


def _post_subscribe(client: WeChatClient, openid: str, template_id: str, data: dict[str, Any],
                    page: str | None, state: str) -> None:
    if state == "formal":
        client.wxa.send_subscribe_message(openid, template_id, data, page=page)
        return
    # wechatpy 1.8.18 has no miniprogram_state argument: post the documented body ourselves
    body = {"touser": openid, "template_id": template_id, "data": data,
            "miniprogram_state": state, "lang": "zh_CN"}
    if page:
        body["page"] = page
    client.post("message/subscribe/send", data=body)


def _errcode(error: WeChatClientException) -> int | None:
    try:
        return int(error.errcode) if error.errcode is not None else None
    except (TypeError, ValueError):
        return None


def classify_wechat(error: WeChatClientException) -> Result:
    errcode = _errcode(error)
    text = f"{errcode}: {error.errmsg}" if errcode is not None else _http_text(error)
    if errcode is None:
        return Result(RETRY, "transient", text)  # HTTP error status from WeChat's front
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


def _http_text(error: WeChatClientException) -> str:
    response = getattr(error, "response", None)
    status = getattr(response, "status_code", None)
    return f"HTTP {status}" if status else "HTTP error"


# --- department webhooks -----------------------------------------------------------------------


def webhook_body(record: dict[str, Any]) -> bytes:
    """The exact bytes signed and sent: compact, key-sorted UTF-8 JSON."""
    return json.dumps(record, ensure_ascii=False, sort_keys=True,
                      separators=(",", ":")).encode()


def send_webhook(http: requests.Session, *, url: str, secret: str, record_id: str, event: str,
                 body: bytes, timeout: float, now: float | None = None) -> Result:
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
        resp = http.post(url, data=body, headers=headers, timeout=timeout,
                         allow_redirects=False)
    except requests.Timeout:
        return Result(RETRY, "transient", f"timeout after {timeout:g}s")
    except requests.RequestException as error:
        return Result(RETRY, "transient", f"network: {type(error).__name__}")
    if 200 <= resp.status_code < 300:
        return Result(SENT)
    text = f"HTTP {resp.status_code}: {resp.text[:200]}"
    if resp.status_code == 410:
        return Result(REFUSED, "gone", text)
    return Result(RETRY, "transient" if resp.status_code >= 500 else "rejected", text)
