"""The WeChat emulator, exercised the way the project uses it: real wechatpy over real HTTP."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests
from wechatpy.exceptions import WeChatClientException

from notifications.wechat import WeChatClient, make_client
from wechat_emulator.__main__ import main
from wechat_emulator.server import EmulatorServer, serve_in_thread

APPID, SECRET = "wx-emulator-test", "emulator-secret"
TEMPLATE = "tmpl-application-submitted"
ClientFactory = Callable[..., WeChatClient]


@pytest.fixture(scope="module")
def emulator() -> Iterator[EmulatorServer]:
    with serve_in_thread(APPID, SECRET) as server:
        yield server


@pytest.fixture(autouse=True)
def _reset_emulator(emulator: EmulatorServer) -> None:
    control(emulator, "reset")


@pytest.fixture
def new_client(emulator: EmulatorServer) -> Iterator[ClientFactory]:
    """Build clients against the emulator (appid, secret, timeout overridable); closes them."""
    clients: list[WeChatClient] = []

    def build(**overrides: Any) -> WeChatClient:
        options = {"appid": APPID, "secret": SECRET, "timeout": 5} | overrides
        clients.append(make_client(base_url=emulator.base_url, **options))
        return clients[-1]

    yield build
    for client in clients:
        client.close()


@pytest.fixture
def wechat(new_client: ClientFactory) -> WeChatClient:
    return new_client()


def control(emulator: EmulatorServer, action: str, **body: Any) -> dict[str, Any]:
    resp = requests.post(f"{emulator.base_url}_emulator/{action}", json=body, timeout=5)
    resp.raise_for_status()
    return resp.json()


def emulator_log(emulator: EmulatorServer) -> dict[str, Any]:
    resp = requests.get(f"{emulator.base_url}_emulator/log", timeout=5)
    resp.raise_for_status()
    return resp.json()


def openid_of(wechat: WeChatClient, user: str) -> str:
    return wechat.wxa.code_to_session(f"test-{user}.{time.monotonic_ns()}")["openid"]


def send(wechat: WeChatClient, touser: str, **data: str) -> dict[str, Any]:
    values = {key: {"value": value} for key, value in (data or {"thing1": "营业执照"}).items()}
    return wechat.wxa.send_subscribe_message(touser, TEMPLATE, values, page="pages/index")


def wechat_error(call: Any, *args: Any, **kwargs: Any) -> WeChatClientException:
    with pytest.raises(WeChatClientException) as caught:
        call(*args, **kwargs)
    return caught.value


def test_login_with_test_code_returns_openid_and_session_key(wechat: WeChatClient) -> None:
    result = wechat.wxa.code_to_session("test-alice")

    assert result["openid"].startswith("o") and len(result["openid"]) == 28
    assert result["session_key"]
    assert result["unionid"]


def test_login_with_used_code_is_refused_with_40163(wechat: WeChatClient) -> None:
    wechat.wxa.code_to_session("dev-alice")

    error = wechat_error(wechat.wxa.code_to_session, "dev-alice")

    assert error.errcode == 40163
    assert error.errmsg.startswith("code been used, rid: ")


def test_login_with_unknown_code_is_refused_with_40029(wechat: WeChatClient) -> None:
    error = wechat_error(wechat.wxa.code_to_session, "061a2b3c4d")

    assert error.errcode == 40029
    assert error.errmsg.startswith("invalid code")


def test_concurrent_logins_with_one_code_succeed_once(emulator: EmulatorServer) -> None:
    params = {"appid": APPID, "secret": SECRET, "js_code": "test-carol"}
    params["grant_type"] = "authorization_code"

    def login(_: int) -> int:
        url = f"{emulator.base_url}sns/jscode2session"
        return requests.get(url, params=params, timeout=5).json().get("errcode", 0)

    with ThreadPoolExecutor(max_workers=8) as pool:
        errcodes = sorted(pool.map(login, range(16)))

    assert errcodes == [0] + [40163] * 15


def test_login_codes_of_one_user_give_one_openid(wechat: WeChatClient) -> None:
    first = wechat.wxa.code_to_session("test-alice")["openid"]
    again = wechat.wxa.code_to_session("test-alice.2")["openid"]
    other = wechat.wxa.code_to_session("test-bob")["openid"]

    assert first == again
    assert other != first


def test_login_with_wrong_secret_fails_at_token_with_40001(new_client: ClientFactory) -> None:
    client = new_client(secret="wrong")

    error = wechat_error(client.wxa.code_to_session, "test-alice")

    assert error.errcode == 40001


def test_login_with_wrong_appid_fails_with_40013(new_client: ClientFactory) -> None:
    client = new_client(appid="wx-other")

    error = wechat_error(client.wxa.code_to_session, "test-alice")

    assert error.errcode == 40013


def test_injected_system_error_hits_once_then_login_succeeds(
    emulator: EmulatorServer, wechat: WeChatClient
) -> None:
    control(emulator, "faults", endpoint="jscode2session", errcode=-1)

    error = wechat_error(wechat.wxa.code_to_session, "test-alice")
    result = wechat.wxa.code_to_session("test-alice")

    assert error.errcode == -1 and error.errmsg.startswith("system error")
    assert result["openid"]


def test_expired_token_is_refreshed_and_send_succeeds(
    emulator: EmulatorServer, wechat: WeChatClient
) -> None:
    alice = openid_of(wechat, "alice")
    control(emulator, "expire_token")

    result = send(wechat, alice)

    assert result["errcode"] == 0
    calls = [(r["endpoint"], r["errcode"]) for r in emulator_log(emulator)["requests"]]
    assert calls[-3:] == [("subscribe_send", 40001), ("token", 0), ("subscribe_send", 0)]


def test_each_token_fetch_invalidates_the_previous_token(
    emulator: EmulatorServer, wechat: WeChatClient, new_client: ClientFactory
) -> None:
    alice = openid_of(wechat, "alice")
    new_client().fetch_access_token()

    stale = requests.post(
        f"{emulator.base_url}cgi-bin/message/subscribe/send",
        params={"access_token": wechat.session.get(wechat.access_token_key)},
        json={"touser": alice, "template_id": TEMPLATE, "data": {"thing1": {"value": "x"}}},
        timeout=5,
    ).json()

    assert stale["errcode"] == 40001


def test_send_without_access_token_is_refused_with_41001(emulator: EmulatorServer) -> None:
    resp = requests.post(f"{emulator.base_url}cgi-bin/message/subscribe/send", json={}, timeout=5)

    assert resp.status_code == 200
    assert resp.json()["errcode"] == 41001


def test_clients_sharing_redis_fetch_the_token_once(
    emulator: EmulatorServer, new_client: ClientFactory
) -> None:
    redis = _DictRedis()

    for n in range(2):
        new_client(redis=redis).wxa.code_to_session(f"test-alice.{n}")

    endpoints = [r["endpoint"] for r in emulator_log(emulator)["requests"]]
    assert endpoints.count("token") == 1
    assert any(key.startswith("wechatpy:") for key in redis.data)


def test_stable_token_is_kept_unless_force_refresh(emulator: EmulatorServer) -> None:
    url = f"{emulator.base_url}cgi-bin/stable_token"
    body = {"grant_type": "client_credential", "appid": APPID, "secret": SECRET}

    first = requests.post(url, json=body, timeout=5).json()
    second = requests.post(url, json=body, timeout=5).json()
    forced = requests.post(url, json=body | {"force_refresh": True}, timeout=5).json()

    assert first["access_token"] == second["access_token"] != forced["access_token"]


def test_thing_of_21_characters_is_refused_with_47003(wechat: WeChatClient) -> None:
    alice = openid_of(wechat, "alice")

    error = wechat_error(send, wechat, alice, thing1="营" * 21)

    assert error.errcode == 47003
    assert error.errmsg.startswith("argument invalid! data.thing1.value")


@pytest.mark.parametrize(
    ("key", "value", "accepted"),
    [
        ("thing1", "营" * 20, True),
        ("thing1", "两行\n文字", False),
        ("number2", "12345.67", True),
        ("number2", "12a", False),
        ("letter3", "ABC", True),
        ("symbol4", "%%%%%%", False),
        ("character_string5", "SX-2024-000123", True),
        ("character_string5", "晋字001", False),
        ("phrase6", "已受理", True),
        ("phrase6", "已经受理完毕了", False),
        ("name7", "张三", True),
        ("name7", "Zhang San", True),
        ("time8", "2024年10月1日 15:01", True),
        ("time8", "15:01~17:30", True),
        ("time8", "25:00", False),
        ("date9", "2024年10月1日", True),
        ("date9", "明天", False),
        ("amount10", "¥100.50", True),
        ("amount10", "100元", True),
        ("amount10", "¥12345678901", False),
        ("phone_number11", "0351-1234567", True),
        ("car_number12", "晋A12345", True),
        ("car_number12", "晋A123456789", False),
        ("keyword1", "old template style", False),
    ],
)
def test_data_values_follow_wechat_type_rules(
    wechat: WeChatClient, key: str, value: str, accepted: bool
) -> None:
    alice = openid_of(wechat, "alice")

    if accepted:
        assert send(wechat, alice, **{key: value})["errcode"] == 0
    else:
        error = wechat_error(send, wechat, alice, **{key: value})
        assert error.errcode == 47003
        assert f"data.{key}.value" in error.errmsg


def test_send_to_malformed_openid_is_refused_with_40003(wechat: WeChatClient) -> None:
    assert wechat_error(send, wechat, "not-an-openid").errcode == 40003


def test_refusal_fault_hits_only_the_targeted_user(
    emulator: EmulatorServer, wechat: WeChatClient
) -> None:
    alice, bob = openid_of(wechat, "alice"), openid_of(wechat, "bob")
    control(emulator, "faults", endpoint="subscribe_send", errcode=43101, touser=alice)

    assert send(wechat, bob)["errcode"] == 0
    error = wechat_error(send, wechat, alice)
    assert send(wechat, alice)["errcode"] == 0  # the fault was for one call only

    assert error.errcode == 43101
    assert error.errmsg.startswith("user refuse to accept the msg")


def test_delay_fault_makes_the_client_time_out(
    emulator: EmulatorServer, new_client: ClientFactory
) -> None:
    client = new_client(timeout=0.5)
    alice = openid_of(client, "alice")
    control(emulator, "faults", endpoint="subscribe_send", delay_seconds=1.5)

    with pytest.raises(requests.Timeout):
        send(client, alice)

    _wait_for_log(emulator, lambda calls: calls[-1]["endpoint"] == "subscribe_send")


def test_reset_fault_accepts_the_message_and_resets_the_connection(
    emulator: EmulatorServer, wechat: WeChatClient
) -> None:
    alice = openid_of(wechat, "alice")
    control(emulator, "faults", endpoint="subscribe_send", reset_connection=True)

    with pytest.raises(requests.ConnectionError) as caught:
        send(wechat, alice)

    assert isinstance(caught.value.args[0].args[1], ConnectionResetError)
    log = emulator_log(emulator)
    assert [m["touser"] for m in log["messages"]] == [alice]  # it arrived all the same
    assert [r["endpoint"] for r in log["received"]].count("subscribe_send") == 1  # no retry
    assert send(wechat, alice)["errcode"] == 0  # the next call is answered


def test_answer_text_fault_accepts_the_message_and_answers_no_json(
    emulator: EmulatorServer, wechat: WeChatClient
) -> None:
    alice = openid_of(wechat, "alice")
    control(emulator, "faults", endpoint="subscribe_send", answer_text="<html>502</html>")

    answer = send(wechat, alice)

    assert isinstance(answer, requests.Response) and answer.text == "<html>502</html>"
    assert [m["touser"] for m in emulator_log(emulator)["messages"]] == [alice]


def test_token_fetch_has_a_timeout_too(emulator: EmulatorServer, new_client: ClientFactory) -> None:
    client = new_client(timeout=0.5)
    control(emulator, "faults", endpoint="token", delay_seconds=1.5)

    with pytest.raises(requests.Timeout):
        client.wxa.code_to_session("test-alice")

    _wait_for_log(emulator, lambda calls: calls[-1]["endpoint"] == "token")


def test_emulator_down_answers_503_until_cleared(
    emulator: EmulatorServer, wechat: WeChatClient
) -> None:
    control(emulator, "down", seconds=30)

    error = wechat_error(wechat.wxa.code_to_session, "test-alice")
    control(emulator, "down", seconds=0)

    assert error.errcode is None and error.response.status_code == 503
    assert wechat.wxa.code_to_session("test-alice")["openid"]


def test_http_status_fault_answers_a_plain_http_error(
    emulator: EmulatorServer, wechat: WeChatClient
) -> None:
    control(emulator, "faults", endpoint="*", http_status=500)

    error = wechat_error(wechat.wxa.code_to_session, "test-alice")

    assert error.errcode is None and error.response.status_code == 500


def test_log_records_accepted_messages_and_hides_the_secret(
    emulator: EmulatorServer, wechat: WeChatClient
) -> None:
    alice = openid_of(wechat, "alice")

    send(wechat, alice, thing1="营业执照", time2="2024年10月1日 15:01")

    log = emulator_log(emulator)
    (message,) = log["messages"]
    assert message["touser"] == alice and message["template_id"] == TEMPLATE
    assert message["page"] == "pages/index"
    assert message["data"]["time2"] == {"value": "2024年10月1日 15:01"}
    assert all(r["params"].get("secret") in (None, "***") for r in log["requests"])


def test_phone_number_code_gives_a_stable_fake_number(wechat: WeChatClient) -> None:
    url = wechat.base_url + "wxa/business/getuserphonenumber"

    first = wechat.post(url, data={"code": "test-alice.1"})["phone_info"]
    again = wechat.post(url, data={"code": "test-alice.2"})["phone_info"]
    error = wechat_error(wechat.post, url)

    assert first["phoneNumber"] == again["phoneNumber"] == first["purePhoneNumber"]
    assert first["phoneNumber"].startswith("1380000") and len(first["phoneNumber"]) == 11
    assert first["countryCode"] == "86"
    assert error.errcode == 40029


def test_phone_code_from_the_button_is_valid_once(
    emulator: EmulatorServer, wechat: WeChatClient
) -> None:
    url = wechat.base_url + "wxa/business/getuserphonenumber"
    code = control(emulator, "phone_code", user="alice")["code"]

    first = wechat.post(url, data={"code": code})["phone_info"]
    reused = wechat_error(wechat.post, url, data={"code": code})

    assert first["purePhoneNumber"].startswith("1380000")
    assert reused.errcode == 40029


def test_phone_code_older_than_five_minutes_is_refused(
    emulator: EmulatorServer, wechat: WeChatClient
) -> None:
    url = wechat.base_url + "wxa/business/getuserphonenumber"
    fresh = control(emulator, "phone_code", user="alice")["code"]
    old = control(emulator, "phone_code", user="alice")["code"]
    control(emulator, "advance", seconds=299)
    assert wechat.post(url, data={"code": fresh})["phone_info"]["countryCode"] == "86"

    control(emulator, "advance", seconds=2)

    assert wechat_error(wechat.post, url, data={"code": old}).errcode == 40029


def test_phone_number_needs_the_current_access_token(
    emulator: EmulatorServer, wechat: WeChatClient
) -> None:
    url = wechat.base_url + "wxa/business/getuserphonenumber"
    wechat.post(url, data={"code": "test-alice.1"})
    control(emulator, "expire_token")

    again = wechat.post(url, data={"code": "test-alice.2"})  # wechatpy refreshes, retries once

    assert again["phone_info"]["phoneNumber"].startswith("1380000")
    assert [r["errcode"] for r in emulator_log(emulator)["requests"]
            if r["endpoint"] == "getuserphonenumber"] == [0, 40001, 0]


def test_fault_with_unknown_endpoint_is_rejected(emulator: EmulatorServer) -> None:
    resp = requests.post(
        f"{emulator.base_url}_emulator/faults", json={"endpoint": "nope", "errcode": -1}, timeout=5
    )

    assert resp.status_code == 400


@pytest.mark.parametrize("fault", [{"endpoint": "token"}, {"endpoint": "token",
                                   "reset_connection": "yes"}, {"endpoint": "token",
                                   "answer_text": 502}])
def test_fault_without_a_valid_effect_is_rejected(
    emulator: EmulatorServer, wechat: WeChatClient, fault: dict[str, Any]
) -> None:
    resp = requests.post(f"{emulator.base_url}_emulator/faults", json=fault, timeout=5)

    assert resp.status_code == 400
    assert wechat.wxa.code_to_session("test-alice")["openid"]  # nothing was armed


def test_emulator_refuses_non_loopback_addresses() -> None:
    with pytest.raises(ValueError, match="loopback"):
        serve_in_thread(APPID, SECRET, host="0.0.0.0")  # noqa: S104
    with pytest.raises(SystemExit):
        main(["--host", "0.0.0.0"])  # noqa: S104


class _DictRedis:
    """Just the get/set/delete that wechatpy's RedisStorage uses."""

    def __init__(self) -> None:
        self.data: dict[str, bytes] = {}

    def get(self, key: str) -> bytes | None:
        return self.data.get(key)

    def set(self, key: str, value: str, ex: int | None = None) -> None:
        self.data[key] = value.encode()

    def delete(self, key: str) -> None:
        self.data.pop(key, None)


def _wait_for_log(emulator: EmulatorServer, done: Callable[[list[Any]], bool]) -> None:
    """A delayed answer lands in the log late; wait so it cannot leak into the next test."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        calls = emulator_log(emulator)["requests"]
        if calls and done(calls):
            return
        time.sleep(0.05)
    raise AssertionError("the delayed call never finished")
