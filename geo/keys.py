"""API keys: created once (the plain key is shown only then), stored as SHA-256 hashes."""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime
from typing import Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from geo.errors import ValidationFailed
from geo.models import ApiKey

Role = Literal["admin", "planner", "dispatcher", "worker", "viewer"]
ROLES: tuple[Role, ...] = ("admin", "planner", "dispatcher", "worker", "viewer")


def hash_key(plain: str) -> str:
    return hashlib.sha256(plain.encode()).hexdigest()


def create_key(
    session: Session, name: str, role: str, worker_code: str | None = None,
    plain: str | None = None,
) -> str:
    """Store a new key for ``role`` and return the plain key (never stored, never logged).

    ``plain`` may fix the key (the demo admin key); otherwise a random one is made.
    """
    if role not in ROLES:
        raise ValidationFailed(
            f"unknown role {role!r}", [{"field": "role", "allowed": list(ROLES)}]
        )
    plain = plain or f"gl_{secrets.token_urlsafe(24)}"
    digest = hash_key(plain)
    existing = session.scalar(select(ApiKey).where(ApiKey.key_hash == digest))
    if existing is None:
        session.add(ApiKey(name=name, role=role, prefix=plain[:7], key_hash=digest,
                           worker_code=worker_code))
    return plain


def key_for(session: Session, plain: str) -> ApiKey | None:
    """The active key matching ``plain``, or None."""
    return session.scalar(
        select(ApiKey).where(ApiKey.key_hash == hash_key(plain), ApiKey.revoked_at.is_(None))
    )


def revoke_key(session: Session, prefix: str) -> int:
    """Revoke every active key whose prefix is ``prefix``; returns how many."""
    keys = session.scalars(
        select(ApiKey).where(ApiKey.prefix == prefix, ApiKey.revoked_at.is_(None))
    ).all()
    for key in keys:
        key.revoked_at = datetime.now(UTC)
    return len(keys)
