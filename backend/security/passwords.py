"""Password strength for staff accounts: zxcvbn's estimate, not a list of character rules.

zxcvbn (Dropbox's estimator, kept as the PyPI package ``zxcvbn``) counts the guesses an
attacker ordering candidates by likelihood would need: common passwords, dictionary words,
names, repeats, sequences, keyboard walks, dates, and the account's own username and
name. Score 3 means at least 10^8 guesses — the estimator's "safely unguessable" level,
with argon2 and the login lockout behind it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from zxcvbn import zxcvbn

from backend.errors import RuleViolation

MIN_CHARS = 10
MAX_CHARS = 128  # what the login form accepts (backend.console.schemas.StaffLoginIn)
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
_ADVICE = "请改用更长、不常见的组合，例如三四个不相关的词加数字"


def check(password: str, *, names: Iterable[str] = (), public: Iterable[str] = ()) -> None:
    """Refuse a password shorter than 10 or longer than 128 characters, or one zxcvbn
    scores below 3 knowing the account's ``names`` (username, display name) and the
    ``public`` passwords (printed in this repository) an attacker would try first.

    Raises RuleViolation ``STAFF_PASSWORD_WEAK``; ``details.feedback`` lists the reasons
    in Chinese (also in the message) and ``details.score`` the estimate, 0–4.
    """
    if not MIN_CHARS <= len(password) <= MAX_CHARS:
        raise RuleViolation("STAFF_PASSWORD_WEAK",
                            f"密码须为 {MIN_CHARS}–{MAX_CHARS} 个字符",
                            {"min_length": MIN_CHARS, "max_length": MAX_CHARS})
    public_words = {text.lower() for text in public}
    estimate = zxcvbn(password[:_ESTIMATOR_MAX_CHARS], max_length=_ESTIMATOR_MAX_CHARS,
                      user_inputs=[*_name_words(names), *public_words])
    if estimate["score"] >= MIN_SCORE:
        return
    feedback = [_WARNINGS[w] for w in [estimate["feedback"]["warning"]] if w in _WARNINGS]
    for match in estimate["sequence"]:
        if match.get("dictionary_name") == "user_inputs":
            reason = _PUBLIC if match["matched_word"] in public_words else _OWN_NAME
            feedback += [reason] if reason not in feedback else []
    reasons = "；".join(feedback)
    raise RuleViolation("STAFF_PASSWORD_WEAK",
                        f"密码太容易被猜到{'：' + reasons if reasons else ''}。{_ADVICE}",
                        {"score": estimate["score"], "min_score": MIN_SCORE,
                         "feedback": feedback})


def _name_words(names: Iterable[str]) -> list[str]:
    """Each name as written, run together and word by word ("Zhang Wei" → "zhangwei",
    "zhang", "wei"): zxcvbn matches a user input only as one whole token."""
    words = []
    for name in names:
        parts = re.split(r"[\s._-]+", name.strip())
        words += [name, "".join(parts), *parts]
    return [word for word in dict.fromkeys(words) if word]
