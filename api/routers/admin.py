"""Admin routes: API keys."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field
from sqlalchemy import select

from api.auth import Admin, forget_cached_keys
from api.deps import SessionDep
from geo.fields import Text
from geo.keys import Role, create_key, revoke_key
from geo.models import ApiKey


class KeyRequest(BaseModel):
    name: Text = Field(min_length=1, description="who the key is for")
    role: Role
    worker_code: Text | None = Field(default=None, description="for worker keys")


def admin_router() -> APIRouter:
    router = APIRouter(prefix="/admin", tags=["admin"])

    @router.get("/keys", summary="List API keys (prefix, role; never the key)")
    def list_keys(session: SessionDep, _: Admin) -> list[dict[str, Any]]:
        rows = session.scalars(select(ApiKey).order_by(ApiKey.id)).all()
        return [{"id": k.id, "name": k.name, "role": k.role, "prefix": k.prefix,
                 "created_at": k.created_at, "revoked": k.revoked_at is not None} for k in rows]

    @router.post("/keys", status_code=201, summary="Create an API key (shown once)")
    def new_key(body: KeyRequest, session: SessionDep, _: Admin) -> dict[str, str]:
        plain = create_key(session, body.name, body.role, worker_code=body.worker_code)
        return {"key": plain, "role": body.role, "prefix": plain[:7]}

    @router.delete("/keys/{prefix}", summary="Revoke keys by prefix")
    def delete_key(prefix: str, session: SessionDep, _: Admin) -> dict[str, int]:
        revoked = revoke_key(session, prefix)
        forget_cached_keys()
        return {"revoked": revoked}

    return router
