"""Admin routes: API keys and the audit trail."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field
from sqlalchemy import select

from api.audit import actor_of
from api.auth import Admin, forget_cached_keys
from api.deps import SessionDep
from api.schemas.admin import ApiKeyInfo, AuditPage, KeyCreated, KeysRevoked
from geo.audit import AuditFilter, audit_rows, record
from geo.fields import Text
from geo.keys import Role, create_key, revoke_key
from geo.models import ApiKey


class KeyRequest(BaseModel):
    name: Text = Field(min_length=1, description="who the key is for")
    role: Role
    worker_code: Text | None = Field(default=None, description="for worker keys")
    area_code: Text | None = Field(default=None, description="the district, street or "
                                   "community whose /dashboard and /stats figures the key may "
                                   "read (default: every area)")


def admin_router() -> APIRouter:
    router = APIRouter(prefix="/admin", tags=["admin"])
    _key_routes(router)

    @router.get("/audit", summary="The audit trail, newest first (filters combine with AND)",
                response_model=AuditPage)
    def get_audit(
        session: SessionDep, _: Admin,
        since: datetime | None = Query(None, description="from this time (inclusive)"),
        until: datetime | None = Query(None, description="before this time (exclusive)"),
        key_prefix: str | None = Query(None, description="the key's first 7 characters"),
        entity: str | None = Query(None, description="grids, cameras, events, api_key, "
                                   "browser_session, changeset, request..."),
        entity_id: str | None = Query(None, description="a code or id of that entity"),
        route: str | None = Query(None, description='e.g. "POST /events/{event_id}/actions"'),
        limit: int = Query(100, ge=1, le=1000), offset: int = Query(0, ge=0),
    ) -> dict[str, Any]:
        rows, total = audit_rows(session, AuditFilter(
            since=since, until=until, key_prefix=key_prefix, entity=entity,
            entity_id=entity_id, route=route, limit=limit, offset=offset))
        return {"total": total, "limit": limit, "offset": offset, "entries": rows}

    return router


def _key_routes(router: APIRouter) -> None:
    @router.get("/keys", summary="List API keys (prefix, role; never the key)",
                response_model=list[ApiKeyInfo])
    def list_keys(session: SessionDep, _: Admin) -> list[dict[str, Any]]:
        rows = session.scalars(select(ApiKey).order_by(ApiKey.id)).all()
        return [{"id": k.id, "name": k.name, "role": k.role, "prefix": k.prefix,
                 "area_code": k.area_code, "created_at": k.created_at,
                 "revoked": k.revoked_at is not None} for k in rows]

    @router.post("/keys", status_code=201, summary="Create an API key (shown once)",
                 response_model=KeyCreated)
    def new_key(body: KeyRequest, request: Request, session: SessionDep,
                caller: Admin) -> dict[str, str]:
        plain = create_key(session, body.name, body.role, worker_code=body.worker_code,
                           area_code=body.area_code)
        record(session, actor_of(request, caller), "create", "api_key", plain[:7],
               after=body.model_dump())
        return {"key": plain, "role": body.role, "prefix": plain[:7]}

    @router.delete("/keys/{prefix}", summary="Revoke keys by prefix (and their browser "
                   "sessions), at once on every API process", response_model=KeysRevoked)
    def delete_key(prefix: str, request: Request, session: SessionDep,
                   caller: Admin) -> dict[str, int]:
        revoked = revoke_key(session, prefix)
        record(session, actor_of(request, caller), "revoke", "api_key", prefix,
               after={"revoked": revoked})
        forget_cached_keys()
        return {"revoked": revoked}
