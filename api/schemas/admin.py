"""Answers of the admin routes: health, API keys, the audit trail."""

from __future__ import annotations

from pydantic import ConfigDict, Field

from api.schemas import Answer, DateTimeText, Row


class DatabaseVersions(Answer):
    postgresql: str = Field(description="server_version, e.g. 17.2")
    postgis: str = Field(description="postgis_lib_version(), e.g. 3.5.2")
    postgis_full: str = Field(description="postgis_full_version()")


class Health(Answer):
    """Service status (public): the database it talks to and its read replica, if any."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"status": "ok", "database": {"postgresql": "17.2", "postgis": "3.5.2",
                                      "postgis_full": "POSTGIS=\"3.5.2\" ..."},
         "standby": None}]})

    status: str = Field(description="ok (运行正常, the service is up)")
    database: DatabaseVersions
    standby: Row | None = Field(description="null without GRIDLINK_READ_DATABASE_URL; else "
                                "status (ok, unreachable, not_a_standby), where reads go, "
                                "replay lag in bytes of WAL and seconds")


class ApiKeyInfo(Answer):
    """An API key as listed: never the key itself, only its first 7 characters."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"id": 3, "name": "调度中心 (dispatch centre)", "role": "dispatcher",
         "prefix": "glk_a1b", "area_code": None, "created_at": "2026-11-01T02:00:00+00:00",
         "revoked": False}]})

    id: int
    name: str = Field(description="who the key is for")
    role: str = Field(description="admin, planner, dispatcher, worker or viewer")
    prefix: str = Field(description="the key's first 7 characters")
    area_code: str | None = Field(description="the area whose figures it may read; null: all")
    created_at: DateTimeText
    revoked: bool


class KeyCreated(Answer):
    """A new API key: ``key`` is shown this once and never again."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"key": "glk_a1b2c3d4e5f6...", "role": "worker", "prefix": "glk_a1b"}]})

    key: str = Field(description="the key: send it as X-API-Key (shown once)")
    role: str
    prefix: str


class KeysRevoked(Answer):
    """How many keys a prefix revoked (0: none matched or all were revoked already)."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"revoked": 1}]})

    revoked: int


class AuditPage(Answer):
    """A page of the audit trail, newest first; ``total`` counts every match."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"total": 1, "limit": 100, "offset": 0, "entries": [
            {"at": "2026-11-03T08:15:00+00:00", "actor": "调度员 (dispatcher) wang",
             "action": "create", "entity": "events", "entity_id": "1042"}]}]})

    total: int
    limit: int
    offset: int
    entries: list[Row] = Field(description="who (name, key prefix, role), what, when, "
                               "before/after")
