"""Idempotency keys for the API's writes, as the IETF draft "The Idempotency-Key HTTP Header
Field" describes them and Stripe answers them.

A client that sends a write with `Idempotency-Key: <1-255 printable ASCII characters>` may
send it again, after a dropped connection, and is answered with the first answer (status,
the headers a client reads, body, byte for byte) marked `Idempotent-Replayed: true`,
instead of the write being made twice. The same key on another request (method, path or
body) is a 422; keys are the user's (another user's same key is another key) and expire
after API_IDEMPOTENCY_KEY_TTL_SECONDS.

Only a 2xx is kept: a 4xx changed nothing (the client may correct its request and send it
with the same key) and a 5xx rolled back (its retry really runs). The answer is kept in the
write's own transaction, so one is never committed without the other. A repeat that
arrives while the first request runs waits for it: every writing API request takes its
user's lock first (crm.api.views, crm.database.lock_user) and holds it to its commit, so
the repeat reads the key once the first request has committed it, with its answer."""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
from collections.abc import Callable
from datetime import datetime, timedelta

from flask import Response, current_app, g, request
from sqlalchemy import delete, select

from crm.errors import problem
from crm.extensions import db
from crm.models import IdempotencyKey, User, utcnow
from crm.models.idempotency_key import IDEMPOTENCY_KEY_MAX_LENGTH

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
# What a client reads of an answer besides its status and body; the rest (security
# headers, the rate limit's) each answer carries of its own.
KEPT_HEADERS = ("Content-Type", "ETag", "Location")
# Printable ASCII, not only spaces; as a JSON Schema pattern too (ECMA 262 reads it alike).
KEY_PATTERN = r"^[\x20-\x7e]*[\x21-\x7e][\x20-\x7e]*$"
KEY_RULE = f"1 to {IDEMPOTENCY_KEY_MAX_LENGTH} printable ASCII characters"


def expired_before(now: datetime) -> datetime:
    """Keys made before this time have expired."""
    return now - timedelta(seconds=current_app.config["API_IDEMPOTENCY_KEY_TTL_SECONDS"])


def fingerprint(method: str, path: str, body: bytes) -> str:
    """What makes two requests the same request: method, path and body. A JSON body counts
    by its content, so a client that serialises it again, keys in another order or spaced
    otherwise, still sends the same request."""
    with contextlib.suppress(ValueError, RecursionError):  # not JSON: the bytes as sent
        body = json.dumps(json.loads(body), sort_keys=True, separators=(",", ":"),
                          ensure_ascii=False).encode()
    digest = hashlib.sha256(f"{method} {path}\n".encode())
    digest.update(body)
    return digest.hexdigest()


def kept_answer(user: User, key: str, now: datetime) -> IdempotencyKey | None:
    """The answer kept for the user's key; None if there is none or it has expired (an
    expired one is deleted now, so that the key can be used again)."""
    kept = db.session.scalar(select(IdempotencyKey).where(
        IdempotencyKey.user_id == user.id, IdempotencyKey.key == key))
    if kept is not None and kept.created_at < expired_before(now):
        db.session.delete(kept)
        db.session.flush()  # before the insert of the key's new answer
        return None
    return kept


def keep_answer(user: User, key: str, request_fingerprint: str, response: Response) -> None:
    """Keep the answer to the request made with the user's key."""
    headers = {name: response.headers[name] for name in KEPT_HEADERS if name in response.headers}
    db.session.add(IdempotencyKey(
        user_id=user.id, key=key, fingerprint=request_fingerprint,
        status=response.status_code, headers=json.dumps(headers), body=response.get_data()))
    db.session.flush()


def replay(kept: IdempotencyKey) -> Response:
    """The kept answer, saying it is one."""
    response = Response(kept.body, status=kept.status, headers=json.loads(kept.headers))
    response.headers[REPLAYED_HEADER] = "true"
    return response


def delete_expired(now: datetime) -> int:
    """Delete every expired key; how many."""
    return db.session.execute(
        delete(IdempotencyKey).where(IdempotencyKey.created_at < expired_before(now))
        .execution_options(synchronize_session=False)
    ).rowcount or 0


def write_once(run: Callable[[], object]) -> Response:
    """Run an API write and commit it: once per Idempotency-Key when the request has one,
    with its answer kept in the same transaction; a repeat of the request is answered with
    that answer, the key on another request is refused. A view that writes flushes and
    leaves the commit to this (crm.api.views._written)."""
    key = request.headers.get(HEADER)
    if key is not None and (len(key) > IDEMPOTENCY_KEY_MAX_LENGTH
                            or not re.fullmatch(KEY_PATTERN, key)):
        return problem(400, "Bad Request", f"The {HEADER} header must be {KEY_RULE}.")
    user = g.api_user
    if key is not None:
        request_fingerprint = fingerprint(request.method, request.path,
                                          request.get_data(cache=True))
        kept = kept_answer(user, key, utcnow())
        if kept is not None and kept.fingerprint != request_fingerprint:
            return problem(422, "Unprocessable Content",
                           f"This {HEADER} was used for another request (another method, "
                           "path or body): send a new key with a new request. Nothing was "
                           "changed.")
        if kept is not None:
            return replay(kept)
    response = current_app.make_response(run())
    if 200 <= response.status_code < 300:
        if key is not None:
            keep_answer(user, key, request_fingerprint, response)
        db.session.commit()
    return response
