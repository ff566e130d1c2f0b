"""Personal access tokens (created, listed, revoked; only a hash is stored) and the
per-token rate limit."""

from __future__ import annotations

import functools
import hashlib
import logging
import math
import secrets
import time
from datetime import timedelta

from flask import abort
from limits import RateLimitItem
from limits import parse as parse_limit
from limits.storage import storage_from_string
from limits.strategies import FixedWindowRateLimiter
from sqlalchemy import Select, bindparam, select, update
from sqlalchemy.orm.attributes import set_committed_value

from crm.config import ConfigError
from crm.database import ASIDE_FAILURES, write_aside
from crm.extensions import db
from crm.models import ApiToken, User, utcnow

log = logging.getLogger(__name__)
TOKEN_PREFIX = "rap_"  # noqa: S105 (a label on every token, not a secret)
# last_used_at is written at most this often per token, not on every request.
LAST_USED_RESOLUTION = timedelta(minutes=1)
DEFAULT_RATE_LIMIT = "300 per minute"


def hash_token(token: str) -> str:
    """SHA-256 of a token; tokens are 256-bit random, so a fast hash is enough."""
    return hashlib.sha256(token.encode()).hexdigest()


def tokens_for(user: User) -> Select:
    """The scoping query: every token of this user."""
    return select(ApiToken).where(ApiToken.user_id == user.id)


def list_tokens(user: User) -> list[ApiToken]:
    """The user's tokens, active first, newest first."""
    return list(db.session.scalars(
        tokens_for(user).order_by(ApiToken.revoked_at.is_not(None), ApiToken.created_at.desc(),
                                  ApiToken.id.desc())
    ))


def get_token_or_404(user: User, token_id: int) -> ApiToken:
    """One of the user's tokens, or 404."""
    token = db.session.scalar(tokens_for(user).where(ApiToken.id == token_id))
    if token is None:
        abort(404)
    return token


def create_token(user: User, name: str) -> tuple[ApiToken, str]:
    """A new named token; the plain token is returned once and never stored."""
    name = " ".join((name or "").split())[:80]
    if not name:
        raise ValueError("a token needs a name")
    plain = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(user_id=user.id, name=name, token_hash=hash_token(plain),
                     prefix=plain[:12])
    db.session.add(token)
    db.session.flush()
    return token, plain


def revoke_token(token: ApiToken) -> None:
    """Stop a token from working; it stays listed as revoked."""
    if token.revoked_at is None:
        token.revoked_at = utcnow()
        db.session.flush()


def authenticate(plain: str) -> tuple[ApiToken, User] | None:
    """The active token and its active user for a presented token, or None."""
    if not plain or len(plain) > 200:
        return None
    row = db.session.execute(_token_and_user(), {"token_hash": hash_token(plain)}).first()
    if row is None:
        return None
    token, user = row
    if token.revoked_at is not None or not user.is_active:
        return None
    return token, user


@functools.cache
def _token_and_user() -> Select:
    # Built once per process: every API request runs it (see crm.database.user_by_id).
    return (
        select(ApiToken, User)
        .join(User, User.id == ApiToken.user_id)
        .where(ApiToken.token_hash == bindparam("token_hash"))
    )


def touch(token: ApiToken) -> None:
    """Record that the token was used, at most once a minute per token.

    Written aside (crm.database.write_aside): an API read never holds the write lock (on
    SQLite, read requests run side by side); when the database is busy the record is
    skipped rather than the request failed."""
    now = utcnow()
    if token.last_used_at is not None and now - token.last_used_at < LAST_USED_RESOLUTION:
        return
    try:
        with write_aside() as connection:
            connection.execute(
                update(ApiToken).where(ApiToken.id == token.id).values(last_used_at=now))
    except ASIDE_FAILURES as exc:
        log.info("token %s use not recorded: %s", token.id, exc.__class__.__name__)
        return
    set_committed_value(token, "last_used_at", now)


# --- rate limit ------------------------------------------------------------------------


def parse_rate(text: str) -> RateLimitItem:
    """"300 per minute", "10/second", "1000 per 2 hours" -> a limits RateLimitItem."""
    try:
        return parse_limit(text or "")
    except ValueError:
        raise ConfigError(f"API_RATE_LIMIT (environment: CRM_API_RATE_LIMIT) {text!r} is not "
                          "like '300 per minute'.") from None


class RateLimiter:
    """A fixed window per token, counted in the rate-limit storage every web process
    shares (RATELIMIT_STORAGE_URI: memory:// counts per process, redis://… across nodes).

    When the storage cannot be reached, requests are let through and the failure logged:
    the limit guards against runaway scripts and must not take the API down with it. A
    Redis store gets short socket timeouts, and after a failure the store is left alone
    for STORE_RETRY_SECONDS, so an unanswering host costs one request a fraction of a
    second, not every request a TCP timeout."""

    STORE_TIMEOUT_SECONDS = 0.5
    STORE_RETRY_SECONDS = 30

    def __init__(self, rate: str, storage_uri: str):
        self.item = parse_rate(rate)
        self.storage_uri = storage_uri
        self._strategy: FixedWindowRateLimiter | None = None
        self._store_down_until = 0.0

    @property
    def strategy(self) -> FixedWindowRateLimiter:
        # Connected on first use: a memory store starts a timer thread, and an app that
        # never serves the API (the CLI, the worker) should not.
        if self._strategy is None:
            options = {}
            if self.storage_uri.startswith(("redis://", "rediss://", "redis+")):
                options = {"socket_connect_timeout": self.STORE_TIMEOUT_SECONDS,
                           "socket_timeout": self.STORE_TIMEOUT_SECONDS}
            self._strategy = FixedWindowRateLimiter(
                storage_from_string(self.storage_uri, **options))
        return self._strategy

    def hit(self, token: ApiToken) -> int | None:
        """Count a request; None if allowed, else the seconds until the window resets."""
        if time.monotonic() < self._store_down_until:
            return None
        key = token.token_hash  # unique per token, and not the secret itself
        try:
            if self.strategy.hit(self.item, "rapport-api", key):
                return None
            reset_at, _ = self.strategy.get_window_stats(self.item, "rapport-api", key)
        except Exception as exc:  # noqa: BLE001 - any storage failure: let the request in
            self._store_down_until = time.monotonic() + self.STORE_RETRY_SECONDS
            log.warning("API rate limit storage failed (%s); not counting for %d s",
                        exc.__class__.__name__, self.STORE_RETRY_SECONDS)
            return None
        return max(1, math.ceil(reset_at - time.time()))
