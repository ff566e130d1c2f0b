"""Signed links about an account (a new password, a confirmed address): what both kinds
have in common. A link names the account and a fingerprint of what it stands for; it
works while the account still has that, and for a while (a setting)."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable

from flask import current_app
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from crm.database import lock_user
from crm.extensions import db
from crm.models import User


def secret_digest(text: str) -> str:
    """A digest of text keyed by SECRET_KEY: what a link names (an address, a password
    hash) without showing it, as a link's payload is signed, not encrypted."""
    key = current_app.config["SECRET_KEY"].encode()
    return hmac.new(key, text.encode(), hashlib.sha256).hexdigest()[:32]


class AccountLink:
    """One kind of link: its salt, the setting that says how long it works, the
    fingerprint of what it stands for (under `key` in the payload, as links already sent
    carry it), and what a genuine link that no longer works raises."""

    def __init__(self, salt: str, max_age_setting: str, key: str,
                 fingerprint: Callable[[User], str], spent: type[Exception]) -> None:
        self.salt, self.max_age_setting, self.key = salt, max_age_setting, key
        self.fingerprint, self.spent = fingerprint, spent

    def _serializer(self) -> URLSafeTimedSerializer:
        return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=self.salt)

    def make(self, user: User) -> str:
        return self._serializer().dumps({"u": user.id, self.key: self.fingerprint(user)})

    def user(self, token: str, *, lock: bool) -> User | None:
        """The account a link names, or None when the link is forged or its account gone
        or deactivated; raises `spent` for a genuine link that is too old or whose
        account no longer has what it stands for. With `lock`, the account is read under
        its row lock (crm.database.lock_user)."""
        try:
            data = self._serializer().loads(
                token, max_age=current_app.config[self.max_age_setting])
        except SignatureExpired as exc:  # genuine, only too old
            raise self.spent from exc
        except BadSignature:
            return None
        if not isinstance(data, dict) or not isinstance(data.get("u"), int):
            return None
        user = lock_user(data["u"]) if lock else db.session.get(User, data["u"])
        if user is None or not user.is_active:
            return None
        if not hmac.compare_digest(str(data.get(self.key)), self.fingerprint(user)):
            raise self.spent
        return user
