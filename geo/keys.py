"""API keys and browser sessions: secrets shown once, stored only as SHA-256 hashes.

A browser signed in at ``/login`` holds a *session id* (``gls_...``), never the key: the
session row names the key it acts for, expires, and ends when the key is revoked or at
logout. :func:`key_for` resolves both kinds of secret to the active key. Every revocation
sends ``NOTIFY gridlink_keys`` (delivered at commit) so that every API process drops its key
cache at once (api.revocations).
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime, timedelta
from typing import Literal

from sqlalchemy import func, select, text, update
from sqlalchemy.orm import Session

from geo.errors import ValidationFailed
from geo.models import ApiKey, BrowserSession

Role = Literal["admin", "planner", "dispatcher", "worker", "viewer"]
ROLES: tuple[Role, ...] = ("admin", "planner", "dispatcher", "worker", "viewer")
SESSION_PREFIX = "gls_"
"""Browser session ids start with this; API keys with ``gl_``."""
REVOCATION_CHANNEL = "gridlink_keys"


def hash_key(plain: str) -> str:
    return hashlib.sha256(plain.encode()).hexdigest()


def create_key(
    session: Session, name: str, role: str, worker_code: str | None = None,
    plain: str | None = None, area_code: str | None = None,
) -> str:
    """Store a new key for ``role`` and return the plain key (never stored, never logged).

    ``plain`` may fix the key (the demo admin key); otherwise a random one is made.
    ``area_code`` (a district, street or community) limits what the key may read to that
    area (dashboard, statistics, events, maps, exports, OGC event items, tiles:
    :mod:`geo.roles`); None: all.
    Raises ValidationFailed for an unknown role or an area code that is no such area.
    """
    if role not in ROLES:
        raise ValidationFailed(
            f"unknown role {role!r}", [{"field": "role", "allowed": list(ROLES)}]
        )
    if area_code is not None and session.scalar(
            text("SELECT 1 FROM admin_areas WHERE code = :c"), {"c": area_code}) is None:
        raise ValidationFailed(f"{area_code!r} is no district, street or community",
                               [{"field": "area_code", "value": area_code}])
    plain = plain or f"gl_{secrets.token_urlsafe(24)}"
    digest = hash_key(plain)
    existing = session.scalar(select(ApiKey).where(ApiKey.key_hash == digest))
    if existing is None:
        session.add(ApiKey(name=name, role=role, prefix=plain[:7], key_hash=digest,
                           worker_code=worker_code, area_code=area_code))
    return plain


def key_for(session: Session, plain: str) -> ApiKey | None:
    """The active key matching ``plain`` - an API key, or a live browser session id - or None."""
    if plain.startswith(SESSION_PREFIX):
        return session.scalar(
            select(ApiKey).join(BrowserSession, BrowserSession.key_id == ApiKey.id).where(
                BrowserSession.token_hash == hash_key(plain),
                BrowserSession.revoked_at.is_(None), BrowserSession.expires_at > func.now(),
                ApiKey.revoked_at.is_(None)))
    return session.scalar(
        select(ApiKey).where(ApiKey.key_hash == hash_key(plain), ApiKey.revoked_at.is_(None))
    )


def revoke_key(session: Session, prefix: str) -> int:
    """Revoke every active key whose prefix is ``prefix`` and end their browser sessions;
    returns how many keys. Every API process forgets its cached keys at commit."""
    keys = session.scalars(
        select(ApiKey).where(ApiKey.prefix == prefix, ApiKey.revoked_at.is_(None))
    ).all()
    for key in keys:
        key.revoked_at = datetime.now(UTC)
    session.execute(update(BrowserSession).where(
        BrowserSession.key_id.in_([k.id for k in keys]), BrowserSession.revoked_at.is_(None))
        .values(revoked_at=func.now()))
    announce_revocation(session)
    return len(keys)


def announce_revocation(session: Session) -> None:
    """``NOTIFY gridlink_keys``: sent when the caller's transaction commits."""
    session.execute(text("SELECT pg_notify(:channel, '')"), {"channel": REVOCATION_CHANNEL})


def open_browser_session(session: Session, key: ApiKey, hours: float) -> str:
    """A new random session id for ``key``, valid ``hours``; only its hash is stored."""
    token = f"{SESSION_PREFIX}{secrets.token_urlsafe(32)}"
    session.add(BrowserSession(token_hash=hash_key(token), key_id=key.id,
                               expires_at=func.now() + timedelta(hours=hours)))
    session.flush()
    return token


def end_browser_session(session: Session, token: str) -> int:
    """Revoke the session ``token`` (logout); returns 1 if it was live, else 0."""
    ended = session.execute(update(BrowserSession).where(
        BrowserSession.token_hash == hash_key(token), BrowserSession.revoked_at.is_(None))
        .values(revoked_at=func.now())).rowcount  # type: ignore[attr-defined]
    if ended:
        announce_revocation(session)
    return int(ended)
