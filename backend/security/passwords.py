"""Password strength for staff accounts: zxcvbn's estimate, not a list of character rules.

zxcvbn (Dropbox's estimator, kept as the PyPI package ``zxcvbn``) counts the guesses an
attacker ordering candidates by likelihood would need: common passwords, dictionary words,
names, repeats, sequences, keyboard walks, dates, and the account's own username and
name. Score 3 means at least 10^8 guesses — the estimator's "safely unguessable" level,
with argon2 and the login lockout behind it.

An attacker aiming at this service tries its own words first: the project's and the
province's names, its roles and units, the public demo password, the account's names. zxcvbn
still rates ``shanxi-taiyuan-2026`` or ``demo-password-2`` near 10^9 (each separator and a
year read as a date multiply the count), so a password holding such words must also reach
the score once they and the separators are taken out: known words count for nothing.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from zxcvbn import zxcvbn

from backend.errors import RuleViolation

MIN_CHARS = 10
MAX_CHARS = 128  # what the login form accepts (staff_api.schemas.StaffLoginIn)
MIN_SCORE = 3
_ESTIMATOR_MAX_CHARS = 72  # zxcvbn's own limit; a longer password is judged by its start

# zxcvbn's warnings (zxcvbn/feedback.py, 4.5.0) in Chinese; an unknown one is left out.
_WARNINGS = {
    "Straight rows of keys are easy to guess.": "键盘上连成一行的按键很容易被猜到",
    "Short keyboard patterns are easy to guess.": "简短的键盘图案很容易被猜到",
    'Repeats like "aaa" are easy to guess.': "“aaa”这样的重复字符很容易被猜到",
    'Repeats like "abcabcabc" are only slightly harder to guess than "abc".':
        "“abcabcabc”这样的重复只比“abc”稍难猜",
    'Sequences like "abc" or "6543" are easy to guess.': "“abc”“6543”这样的顺序很容易被猜到",
    "Recent years are easy to guess.": "近年的年份很容易被猜到",
    "Dates are often easy to guess.": "日期往往很容易被猜到",
    "This is a top-10 common password.": "这是最常用的 10 个密码之一",
    "This is a top-100 common password.": "这是最常用的 100 个密码之一",
    "This is a very common password.": "这是非常常用的密码",
    "This is similar to a commonly used password.": "与常用密码相似",
    "A word by itself is easy to guess.": "单个词很容易被猜到",
    "Names and surnames by themselves are easy to guess.": "单独的姓名很容易被猜到",
    "Common names and surnames are easy to guess.": "常见的姓名很容易被猜到",
}
_OWN_NAME = "不要使用用户名或姓名"
_PUBLIC = "不要使用公开的演示密码"
_SERVICE = "不要使用本系统、山西地名、角色或单位等常见词"

# The service's and the province's words (pinyin): the project, Shanxi and its eleven
# prefecture-level cities, and what every staff screen shows. The caller passes them as
# ``vocabulary`` with its roles and units (the role table, the catalog in force).
SERVICE_WORDS = (
    "yiye", "yizheng", "yiyeyizheng", "yyyz", "shanxi", "jin", "taiyuan", "datong",
    "yangquan", "changzhi", "jincheng", "shuozhou", "jinzhong", "yuncheng", "xinzhou",
    "linfen", "lvliang", "luliang", "demo", "password", "staff", "admin", "window",
    "inspector", "reviewer", "coordinator", "catalog", "login", "zhengwu", "xuke",
)
_SEPARATORS = re.compile(r"[\W_]+")
_MIN_KNOWN_WORD = 3  # shorter tokens ("1", "a") would strip chance letters
_ADVICE = "请改用更长、不常见的组合，例如三四个不相关的词加数字"


def check(password: str, *, names: Iterable[str] = (), public: Iterable[str] = (),
          vocabulary: Iterable[str] = ()) -> None:
    """Refuse a password shorter than 10 or longer than 128 characters, or one zxcvbn
    scores below 3 knowing the account's ``names`` (username, display name), the ``public``
    passwords (printed in this repository) and the service's ``vocabulary``
    (:data:`SERVICE_WORDS`, role and unit codes) — an attacker's first guesses — or, when it
    holds any of those words, once they and the separators are taken out.

    Raises RuleViolation ``STAFF_PASSWORD_WEAK``; ``details.feedback`` lists the reasons
    in Chinese (also in the message) and ``details.score`` the estimate, 0–4.
    """
    if not MIN_CHARS <= len(password) <= MAX_CHARS:
        raise RuleViolation("STAFF_PASSWORD_WEAK",
                            f"密码须为 {MIN_CHARS}–{MAX_CHARS} 个字符",
                            {"min_length": MIN_CHARS, "max_length": MAX_CHARS})
    known = {_OWN_NAME: _words(names), _PUBLIC: _words(public),
             _SERVICE: _words(vocabulary)}
    estimate = _estimate(password, [word for words in known.values() for word in words])
    skeleton = _SEPARATORS.sub("", password.lower())
    found = [reason for reason, words in known.items()
             if any(len(word) >= _MIN_KNOWN_WORD and word in skeleton for word in words)]
    score = estimate["score"]
    if found:
        rest = _without(skeleton, known)
        score = min(score, _estimate(rest, [])["score"] if rest else 0)
    if score >= MIN_SCORE:
        return
    feedback = [_WARNINGS[w] for w in [estimate["feedback"]["warning"]] if w in _WARNINGS]
    feedback += found
    reasons = "；".join(feedback)
    raise RuleViolation("STAFF_PASSWORD_WEAK",
                        f"密码太容易被猜到{'：' + reasons if reasons else ''}。{_ADVICE}",
                        {"score": score, "min_score": MIN_SCORE, "feedback": feedback})


def _estimate(password: str, user_inputs: list[str]) -> dict:
    return zxcvbn(password[:_ESTIMATOR_MAX_CHARS], max_length=_ESTIMATOR_MAX_CHARS,
                  user_inputs=user_inputs)


def _without(skeleton: str, known: dict[str, list[str]]) -> str:
    """What is left of ``skeleton`` (the password in lower case without separators) once
    every known word, longest first, is taken out: the part an attacker who tries those
    words must still guess."""
    rest = skeleton
    words = {word for group in known.values() for word in group
             if len(word) >= _MIN_KNOWN_WORD}
    for word in sorted(words, key=len, reverse=True):
        rest = rest.replace(word, "")
    return rest


def _words(texts: Iterable[str]) -> list[str]:
    """Each text in lower case as written, run together and word by word ("Zhang Wei" →
    "zhang wei", "zhangwei", "zhang", "wei"; "demo-password-1" → … "demo", "password"):
    zxcvbn matches a user input only as one whole token."""
    words = []
    for text in texts:
        parts = _SEPARATORS.split(text.strip().lower())
        words += [text.lower(), "".join(parts), *parts]
    return [word for word in dict.fromkeys(words) if word]
