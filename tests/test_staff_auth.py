"""Staff login with lockout, staff tokens, the role table, and binding an inspector's WeChat."""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta

import pytest
from argon2 import PasswordHasher
from sqlalchemy import select

from backend.app import create_app
from backend.errors import Conflict, PermissionDenied, RuleViolation
from backend.models import AccessToken, Applicant, StaffAccount, StaffBindingCode
from backend.models.base import utcnow
from backend.security import permissions
from backend.services import staff as staff_service
from tests.test_app import assert_envelope, production_settings

FAST = {"time_cost": 1, "memory_cost": 1024, "parallelism": 1}
FAST_HASHER = PasswordHasher(**FAST)
PASSWORD = "correct-horse-42"


class CountingHasher(PasswordHasher):
    """Counts argon2 verifications, to show unknown users cost the same work."""

    verified = 0

    def verify(self, hash, password):
        CountingHasher.verified += 1
        return super().verify(hash, password)


@pytest.fixture(autouse=True)
def _fast_hasher(monkeypatch):
    monkeypatch.setattr(staff_service, "_hasher", FAST_HASHER)


@pytest.fixture
def make_staff(session):
    def _make(username: str = "window1", role: str = "window_commissioner",
              unit_code: str | None = None) -> StaffAccount:
        account = staff_service.create(session, username=username, display_name=f"{username}测试",
                                       role=role, unit_code=unit_code, password=PASSWORD)
        session.commit()
        return account

    return _make


def staff_login(client, username: str, password: str = PASSWORD):
    return client.post("/api/staff/v1/auth/login",
                       json={"username": username, "password": password})


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def staff_headers(client, username: str) -> dict[str, str]:
    resp = staff_login(client, username)
    assert resp.status_code == 200, resp.json
    return bearer(resp.json["token"])


def reloaded(session, account: StaffAccount) -> StaffAccount:
    session.expire_all()
    return session.get(StaffAccount, account.id)


def without_request_id(body: dict) -> dict:
    return body | {"details": {k: v for k, v in body["details"].items() if k != "request_id"}}


def test_login_returns_a_staff_token_and_profile(client, session, make_staff):
    account = make_staff()
    resp = staff_login(client, "window1")
    assert resp.status_code == 200
    body = resp.json
    assert set(body) == {"token", "token_type", "expires_at", "staff"}
    assert body["token_type"] == "Bearer"
    assert body["staff"] == {"id": account.id, "username": "window1",
                             "display_name": "window1测试", "role": "window_commissioner",
                             "role_label": "窗口服务专员", "unit": None}
    token = session.scalars(select(AccessToken)).one()
    assert token.subject_kind == "staff" and token.token_hash != body["token"]
    assert timedelta(hours=11, minutes=59) < token.expires_at - utcnow() <= timedelta(hours=12)
    me = client.get("/api/staff/v1/me", headers=bearer(body["token"]))
    assert me.json["username"] == "window1"


def test_a_unit_is_one_code_and_name_object_as_on_items(client, make_staff):
    make_staff("fire1", role="unit_reviewer", unit_code="fire")
    body = staff_login(client, "fire1").json
    assert body["staff"]["unit"] == {"code": "fire", "name": "消防救援机构"}
    me = client.get("/api/staff/v1/me", headers=bearer(body["token"])).json
    assert me["unit"] == body["staff"]["unit"]


def lock(client, username: str) -> None:
    for _ in range(staff_service.MAX_FAILED_LOGINS):
        assert staff_login(client, username, "wrong-password").status_code == 401


def test_unknown_wrong_inactive_and_locked_get_one_answer_after_equal_work(
        client, session, make_staff, monkeypatch):
    """Which usernames exist must not show: not in status, code, message, headers, nor in
    the argon2 work done (one verification each; the locked account's with the RIGHT
    password)."""
    make_staff("window1")
    make_staff("locked1")
    retired = make_staff("retired1")
    retired.active = False
    session.commit()
    lock(client, "locked1")
    counting = CountingHasher(**FAST)
    monkeypatch.setattr(staff_service, "_hasher", counting)
    answers = {}
    for case, username, password in [("unknown", "nobody", PASSWORD),
                                     ("wrong password", "window1", "wrong-password"),
                                     ("inactive", "retired1", PASSWORD),
                                     ("locked", "locked1", PASSWORD)]:
        before = CountingHasher.verified
        resp = client.post("/api/staff/v1/auth/login",
                           json={"username": username, "password": password},
                           headers={"X-Request-ID": "probe-1"})
        assert CountingHasher.verified - before == 1, case
        answers[case] = (resp.status_code, sorted(resp.headers.items()), resp.get_data())
    assert len(set(map(repr, answers.values()))) == 1, answers
    status, headers, body = answers["locked"]
    assert status == 401 and "Retry-After" not in dict(headers)
    assert json.loads(body)["code"] == "STAFF_LOGIN_FAILED"
    assert "锁定" in json.loads(body)["message"]  # a locked-out colleague learns to wait


def test_five_failures_lock_even_the_right_password_out(client, session, make_staff):
    account = make_staff()
    lock(client, "window1")
    locked_until = reloaded(session, account).locked_until
    assert timedelta(minutes=14) < locked_until - utcnow() <= timedelta(minutes=15)
    assert_envelope(staff_login(client, "window1"), 401, "STAFF_LOGIN_FAILED")
    assert session.scalars(select(AccessToken)).first() is None
    # trying while locked neither unlocks nor extends the lock
    assert reloaded(session, account).locked_until == locked_until


def test_success_resets_the_failure_count(client, session, make_staff):
    account = make_staff()
    for _ in range(4):
        staff_login(client, "window1", "wrong-password")
    assert reloaded(session, account).failed_logins == 4
    assert staff_login(client, "window1").status_code == 200
    assert reloaded(session, account).failed_logins == 0
    for _ in range(4):
        staff_login(client, "window1", "wrong-password")
    assert staff_login(client, "window1").status_code == 200


def test_lock_expires(client, session, make_staff):
    account = make_staff()
    for _ in range(5):
        staff_login(client, "window1", "wrong-password")
    account = reloaded(session, account)
    account.locked_until = utcnow() - timedelta(seconds=1)
    session.commit()
    assert staff_login(client, "window1").status_code == 200
    account = reloaded(session, account)
    assert (account.failed_logins, account.locked_until) == (0, None)


def test_login_rehashes_when_argon2_parameters_change(client, session, make_staff,
                                                      monkeypatch):
    account = make_staff()
    assert "t=1," in account.password_hash
    monkeypatch.setattr(staff_service, "_hasher", PasswordHasher(**FAST | {"time_cost": 2}))
    assert staff_login(client, "window1").status_code == 200
    assert "t=2," in reloaded(session, account).password_hash
    assert staff_login(client, "window1").status_code == 200


@pytest.mark.parametrize("limit", [3, 7])
def test_login_is_rate_limited_per_client_by_its_setting(client, set_settings, limit):
    set_settings(LOGIN_RATE_LIMIT=f"{limit} per minute")
    statuses = [staff_login(client, f"nobody{i}").status_code for i in range(limit)]
    assert statuses == [401] * limit
    assert_envelope(staff_login(client, "nobody"), 429, "RATE_LIMITED")


def test_binding_is_rate_limited_per_wechat_user_by_its_setting(client, login, set_settings):
    set_settings(BIND_RATE_LIMIT="2 per minute")
    alice, bob = login("alice"), login("bob")
    assert [bind(client, alice, "00000000").status_code for _ in range(2)] == [422, 422]
    assert_envelope(bind(client, alice, "00000000"), 429, "RATE_LIMITED")
    assert bind(client, bob, "00000000").status_code == 422  # counted per WeChat user


def test_logout_revokes_only_the_presented_token(client, make_staff):
    make_staff()
    first, second = staff_headers(client, "window1"), staff_headers(client, "window1")
    assert client.post("/api/staff/v1/auth/logout", headers=first).status_code == 204
    assert_envelope(client.get("/api/staff/v1/me", headers=first), 401, "AUTH_REQUIRED")
    assert client.get("/api/staff/v1/me", headers=second).status_code == 200


def test_staff_and_applicant_tokens_do_not_cross(client, make_staff, login):
    make_staff()
    assert_envelope(client.get("/api/mp/v1/me", headers=staff_headers(client, "window1")), 401,
                    "AUTH_REQUIRED")
    assert_envelope(client.get("/api/staff/v1/me", headers=login("alice")), 401,
                    "AUTH_REQUIRED")


def get_binding_code(client, username: str) -> str:
    resp = client.post("/api/staff/v1/auth/binding-code", headers=staff_headers(client, username))
    assert resp.status_code == 200, resp.json
    return resp.json["code"]


def bind(client, headers: dict[str, str], code: str):
    return client.post("/api/mp/v1/staff/bind", json={"code": code}, headers=headers)


def test_inspector_binds_wechat_and_uses_the_staff_api_from_the_mini_program(
        client, session, make_staff, login):
    inspector = make_staff("inspector1", "inspector", "market")
    wechat = login("ivan")
    assert_envelope(client.post("/api/mp/v1/staff/session", headers=wechat), 403,
                    "STAFF_NOT_BOUND")
    code = get_binding_code(client, "inspector1")
    assert len(code) == 8 and code.isdigit()
    stored = session.scalars(select(StaffBindingCode)).one()
    assert stored.code_hash == hashlib.sha256(code.encode()).hexdigest()
    assert timedelta(minutes=9) < stored.expires_at - utcnow() <= timedelta(minutes=10)

    resp = bind(client, wechat, code)
    assert resp.status_code == 200
    assert resp.json["username"] == "inspector1" and resp.json["role_label"] == "现场核查人员"
    openid = session.scalars(select(Applicant.openid)).one()
    assert reloaded(session, inspector).wechat_openid == openid

    resp = client.post("/api/mp/v1/staff/session", headers=wechat)
    assert resp.status_code == 200
    assert resp.json["staff"]["username"] == "inspector1"
    me = client.get("/api/staff/v1/me", headers=bearer(resp.json["token"]))
    assert me.json["role"] == "inspector"
    assert me.json["unit"] == {"code": "market", "name": "市场监督管理局"}


def test_binding_code_works_once(client, make_staff, login):
    make_staff("inspector1", "inspector", "market")
    code = get_binding_code(client, "inspector1")
    assert bind(client, login("ivan"), code).status_code == 200
    assert_envelope(bind(client, login("judy"), code), 422, "STAFF_BINDING_CODE_INVALID")


def test_binding_code_pasted_from_a_chat_app_is_accepted(client, make_staff, login):
    make_staff("inspector1", "inspector", "market")
    code = get_binding_code(client, "inspector1")
    pasted = f"\u202d{code[:4]}\u200b\u3000{code[4:]}\u202c"
    resp = bind(client, login("ivan"), pasted)
    assert resp.status_code == 200, resp.json
    assert resp.json["username"] == "inspector1"


def test_username_is_stored_and_matched_canonical(client, session, make_staff):
    account = make_staff("\u202dwindow2\u200b ")
    assert reloaded(session, account).username == "window2"
    resp = staff_login(client, "ｗｉｎｄｏｗ２\u2060")  # full-width, word joiner
    assert resp.status_code == 200, resp.json
    assert resp.json["staff"]["username"] == "window2"


def test_expired_binding_code_is_refused(client, session, make_staff, login):
    make_staff("inspector1", "inspector", "market")
    code = get_binding_code(client, "inspector1")
    stored = session.scalars(select(StaffBindingCode)).one()
    stored.expires_at = utcnow() - timedelta(seconds=1)
    session.commit()
    assert_envelope(bind(client, login("ivan"), code), 422, "STAFF_BINDING_CODE_INVALID")


def test_a_new_code_invalidates_the_unused_one(client, make_staff, login):
    make_staff("coordinator1", "inspection_coordinator")
    first, second = get_binding_code(client, "coordinator1"), get_binding_code(client,
                                                                               "coordinator1")
    wechat = login("ivan")
    assert_envelope(bind(client, wechat, first), 422, "STAFF_BINDING_CODE_INVALID")
    assert bind(client, wechat, second).status_code == 200


def test_malformed_and_unknown_codes_are_refused(client, make_staff, login):
    wechat = login("ivan")
    assert_envelope(bind(client, wechat, "12ab"), 422, "REQUEST_INVALID")
    assert_envelope(bind(client, wechat, "12345678"), 422, "STAFF_BINDING_CODE_INVALID")


def test_one_wechat_user_binds_one_staff_account(client, make_staff, login):
    make_staff("inspector1", "inspector", "market")
    make_staff("inspector2", "inspector", "fire")
    wechat = login("ivan")
    assert bind(client, wechat, get_binding_code(client, "inspector1")).status_code == 200
    code = get_binding_code(client, "inspector2")
    assert_envelope(bind(client, wechat, code), 409, "STAFF_WECHAT_ALREADY_BOUND")
    assert bind(client, login("judy"), code).status_code == 200  # refused, so not used up


def test_session_refused_once_the_bound_account_is_deactivated(client, session, make_staff,
                                                               login):
    inspector = make_staff("inspector1", "inspector", "market")
    wechat = login("ivan")
    bind(client, wechat, get_binding_code(client, "inspector1"))
    inspector = reloaded(session, inspector)
    inspector.active = False
    session.commit()
    assert_envelope(client.post("/api/mp/v1/staff/session", headers=wechat), 403,
                    "STAFF_NOT_BOUND")


def test_a_reviewer_cannot_get_a_binding_code(client, make_staff):
    make_staff("market1", "unit_reviewer", "market")
    resp = client.post("/api/staff/v1/auth/binding-code",
                       headers=staff_headers(client, "market1"))
    body = assert_envelope(resp, 403, "FORBIDDEN_ROLE")
    assert body["details"]["action"] == "staff.binding_code"


def test_every_action_names_known_roles_and_every_role_can_do_something():
    for action, roles in permissions.ACTIONS.items():
        assert roles, action
        assert roles <= set(staff_service.ROLES), action
    assert set().union(*permissions.ACTIONS.values()) == set(staff_service.ROLES)


@pytest.mark.parametrize(("role", "action", "expected"), [
    ("window_commissioner", "application.accept", True),
    ("unit_reviewer", "application.accept", False),
    ("unit_reviewer", "review.decide", True),
    ("inspector", "review.decide", False),
    ("inspector", "inspection.record_result", True),
    ("inspection_coordinator", "staff.binding_code", True),
    ("system_admin", "review.decide", False),
    ("system_admin", "no.such_action", False),
])
def test_allowed_is_the_table(role, action, expected):
    assert permissions.allowed(role, action) is expected


def test_require_denies_with_forbidden_role():
    staff = StaffAccount(role="catalog_admin")
    permissions.require(staff, "calendar.edit")
    with pytest.raises(PermissionDenied) as raised:
        permissions.require(staff, "staff.manage")
    assert (raised.value.code, raised.value.details) == ("FORBIDDEN_ROLE",
                                                         {"action": "staff.manage"})


STRONG_PASSWORD = "river-lantern-quietly-47"


@pytest.mark.parametrize(("username", "display_name", "password", "reason"), [
    ("window9", "窗口九", "aaaaaaaaaa", "重复"),            # ten identical letters
    ("window9", "窗口九", "password123", "常用"),
    ("window9", "窗口九", "password-123", "常用"),           # the old test fixture's
    ("zhangwei2026", "张伟", "zhangwei2026", "用户名"),     # the username itself
    ("window9", "Zhang Wei", "ZhangWei2026", "姓名"),       # the display name
    ("window9", "窗口九", "qwertyuiop", "常用"),            # keyboard walks
    ("window9", "窗口九", "asdfghjkl;'", "键盘"),
    ("window9", "窗口九", "1qaz2wsx3edc", "常用"),
    ("window9", "窗口九", "abcabcabcabc", "重复"),
    ("window9", "窗口九", staff_service.DEMO_PASSWORD, "演示密码"),  # public in the README
    # near-copies of the demo password, and the service's and the province's own words
    ("window9", "窗口九", "demo-password-2", "演示密码"),
    ("window9", "窗口九", "Demo-Password-2026", "演示密码"),
    ("window9", "窗口九", "demo_password_42!", "演示密码"),
    ("window9", "窗口九", "yiyeyizheng2026", "常见词"),
    ("window9", "窗口九", "YiYe-YiZheng-2026!", "常见词"),
    ("window9", "窗口九", "shanxi-taiyuan-2026", "常见词"),
    ("window9", "窗口九", "Taiyuan.Shanxi.2025", "常见词"),
    ("window9", "窗口九", "datong-linfen-2026", "常见词"),
    ("window9", "窗口九", "inspector-fire-2026", "常见词"),       # a role and a unit
    ("window9", "窗口九", "window_commissioner1", "常见词"),
    ("window9", "窗口九", "Kq7#mZ2", "10–128"),             # too short to estimate
    ("window9", "窗口九", "x7Kq-" * 26, "10–128"),          # longer than login accepts
])
def test_weak_staff_passwords_are_refused(session, username, display_name, password, reason):
    with pytest.raises(RuleViolation) as raised:
        staff_service.create(session, username=username, display_name=display_name,
                             role="window_commissioner", unit_code=None, password=password)
    assert raised.value.code == "STAFF_PASSWORD_WEAK"
    assert reason in raised.value.message
    session.rollback()
    assert session.scalars(select(StaffAccount)).first() is None


@pytest.mark.parametrize("password", [STRONG_PASSWORD, "amber-falcon-7-meadow",
                                      "campfire-orbit-lemon-47"])  # "fire" is a unit code
def test_a_strong_passphrase_is_accepted_and_logs_in(client, session, password):
    staff_service.create(session, username="window9", display_name="窗口九",
                         role="window_commissioner", unit_code=None, password=password)
    session.commit()
    assert staff_login(client, "window9", password).status_code == 200


def create_account(session, username: str = "window9", display_name: str = "窗口九",
                   role: str = "window_commissioner", unit_code: str | None = None):
    return staff_service.create(session, username=username, display_name=display_name,
                                role=role, unit_code=unit_code, password=STRONG_PASSWORD)


@pytest.mark.parametrize(("fields", "code"), [
    ({"username": "  "}, "STAFF_USERNAME_INVALID"),
    ({"username": "\u200b"}, "STAFF_USERNAME_INVALID"),
    ({"username": "ab"}, "STAFF_USERNAME_INVALID"),
    ({"username": "a" * 33}, "STAFF_USERNAME_INVALID"),
    ({"username": "a/b<script>"}, "STAFF_USERNAME_INVALID"),
    ({"username": "casé"}, "STAFF_USERNAME_INVALID"),
    ({"username": "张伟"}, "STAFF_USERNAME_INVALID"),
    ({"username": "zhang@wei"}, "STAFF_USERNAME_INVALID"),
    ({"display_name": ""}, "STAFF_DISPLAY_NAME_INVALID"),
    ({"display_name": " \u3000\u200b "}, "STAFF_DISPLAY_NAME_INVALID"),
    ({"display_name": "张" * 65}, "STAFF_DISPLAY_NAME_INVALID"),
    ({"display_name": "\x07\r\n\x1b"}, "STAFF_DISPLAY_NAME_INVALID"),
    ({"role": "inspector", "unit_code": "nosuchunit"}, "STAFF_UNIT_UNKNOWN"),
    ({"role": "unit_reviewer", "unit_code": "FIRE"}, "STAFF_UNIT_UNKNOWN"),
    ({"role": "inspector"}, "STAFF_UNIT_MISMATCH"),
    ({"unit_code": "fire"}, "STAFF_UNIT_MISMATCH"),
])
def test_bad_accounts_are_refused_with_a_code_and_nothing_stored(session, fields, code):
    with pytest.raises(RuleViolation) as raised:
        create_account(session, **fields)
    assert raised.value.code == code and raised.value.message
    session.rollback()
    assert session.scalars(select(StaffAccount)).first() is None


def test_accepted_names_are_stored_canonical(client, session):
    account = create_account(session, username="Inspector.Fire_2-x", display_name=" 王 五\u200b ",
                             role="inspector", unit_code=" fire\u200b")
    session.commit()
    account = reloaded(session, account)
    assert (account.username, account.display_name, account.unit_code) == \
        ("inspector.fire_2-x", "王 五", "fire")
    resp = staff_login(client, "INSPECTOR.FIRE_2-X", STRONG_PASSWORD)
    assert resp.status_code == 200, resp.json
    headers = bearer(resp.json["token"])
    assert client.get("/api/staff/v1/me", headers=headers).json["unit"] == \
        {"code": "fire", "name": "消防救援机构"}


def test_usernames_differing_in_case_are_one_account_on_every_database(client, session):
    """SQLite compared bytes (two accounts), MariaDB's collation folded case (a clash)."""
    create_account(session, username="CASEY")
    session.commit()
    with pytest.raises(Conflict) as raised:
        create_account(session, username="casey")
    assert raised.value.code == "STAFF_USERNAME_TAKEN"
    session.rollback()
    assert session.scalars(select(StaffAccount.username)).all() == ["casey"]
    for typed in ("casey", "Casey", "CASEY", "ｃａｓｅｙ"):
        resp = staff_login(client, typed, STRONG_PASSWORD)
        assert resp.status_code == 200, (typed, resp.json)
        assert resp.json["staff"]["username"] == "casey"


def test_failures_under_another_case_count_for_the_same_account(client, session):
    account = create_account(session, username="lockme")
    session.commit()
    for typed in ("LOCKME", "LockMe", "lockme", "lOCKME", "LOCKME"):
        assert staff_login(client, typed, "wrong-password-x").status_code == 401
    assert reloaded(session, account).locked_until is not None
    assert staff_login(client, "lockme", STRONG_PASSWORD).status_code == 401


@pytest.mark.parametrize(("args", "code"), [
    (["--username", "  ", "--name", "窗口九", "--role", "window_commissioner"],
     "STAFF_USERNAME_INVALID"),
    (["--username", "inspector9", "--name", "核查九", "--role", "inspector",
      "--unit", "nosuchunit"], "STAFF_UNIT_UNKNOWN"),
    (["--username", "a/b<script>", "--name", "", "--role", "window_commissioner"],
     "STAFF_USERNAME_INVALID"),
    (["--username", "window9", "--name", "", "--role", "window_commissioner"],
     "STAFF_DISPLAY_NAME_INVALID"),
])
def test_flask_staff_create_refuses_bad_accounts_in_chinese(app, session, args, code):
    result = app.test_cli_runner().invoke(args=["staff", "create", *args,
                                                "--password", STRONG_PASSWORD])
    assert result.exit_code == 1
    assert code in result.output and any("\u4e00" <= ch <= "\u9fff" for ch in result.output)
    assert session.scalars(select(StaffAccount)).first() is None


def test_flask_staff_create_refuses_a_weak_password_in_chinese(app, client, session):
    runner = app.test_cli_runner()
    args = ["staff", "create", "--username", "window9", "--name", "窗口九",
            "--role", "window_commissioner", "--password"]
    weak = runner.invoke(args=[*args, "a" * 10])
    assert weak.exit_code == 1
    assert "STAFF_PASSWORD_WEAK" in weak.output and "重复" in weak.output
    assert session.scalars(select(StaffAccount)).first() is None
    strong = runner.invoke(args=[*args, STRONG_PASSWORD])
    assert strong.exit_code == 0, strong.output
    assert staff_login(client, "window9", STRONG_PASSWORD).status_code == 200


def test_flask_staff_demo_keeps_the_public_demo_password_for_development(app, client,
                                                                        session):
    weak = app.test_cli_runner().invoke(args=["staff", "demo", "--password", "aaaaaaaaaa"])
    assert weak.exit_code == 1 and "STAFF_PASSWORD_WEAK" in weak.output
    assert session.scalars(select(StaffAccount)).first() is None
    result = app.test_cli_runner().invoke(args=["staff", "demo"])
    assert result.exit_code == 0, result.output
    assert "10 created" in result.output
    assert staff_login(client, "window1", staff_service.DEMO_PASSWORD).status_code == 200


def test_flask_staff_demo_is_refused_in_production(mariadb_url, redis_url):
    app = create_app(production_settings(mariadb_url, redis_url))
    result = app.test_cli_runner().invoke(args=["staff", "demo"])
    assert result.exit_code == 1 and "refused in production" in result.output
