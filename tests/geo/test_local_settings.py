"""geo.db.local_settings: the one way to set transaction-local server settings and put
them back (sort memory of the bulk jobs, the dashboard's page cost, the import's lock wait
and audit switch)."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from geo.db import local_settings


def _setting(db: Session, name: str) -> str | None:
    return db.execute(text("SELECT current_setting(:n, true)"), {"n": name}).scalar_one()


def test_settings_hold_inside_the_block_and_the_previous_values_come_back(db: Session
                                                                           ) -> None:
    db.execute(text("SELECT set_config('work_mem', '8MB', true)"))
    before = (_setting(db, "work_mem"), _setting(db, "maintenance_work_mem"))
    with local_settings(db, {"work_mem": "256MB", "maintenance_work_mem": "128MB"}):
        assert (_setting(db, "work_mem"), _setting(db, "maintenance_work_mem")) == (
            "256MB", "128MB")
        with local_settings(db, {"work_mem": "32MB"}):
            assert _setting(db, "work_mem") == "32MB"
        assert _setting(db, "work_mem") == "256MB"
    assert (_setting(db, "work_mem"), _setting(db, "maintenance_work_mem")) == before
    assert before[0] == "8MB"  # the transaction's own value, not the server default


def test_a_custom_setting_never_set_comes_back_empty(db: Session) -> None:
    assert _setting(db, "gridlink.local_settings_probe") is None
    with local_settings(db, {"gridlink.local_settings_probe": "off"}):
        assert _setting(db, "gridlink.local_settings_probe") == "off"
    assert _setting(db, "gridlink.local_settings_probe") == ""


def test_restored_after_an_error_and_undone_with_a_failed_savepoint(db: Session) -> None:
    with pytest.raises(ValueError, match="not a database error"), \
            local_settings(db, {"lock_timeout": "2s"}):
        raise ValueError("not a database error")
    assert _setting(db, "lock_timeout") == "0"
    with pytest.raises(DBAPIError), db.begin_nested(), \
            local_settings(db, {"lock_timeout": "3s"}):
        db.execute(text("SELECT 1 / 0"))
    assert _setting(db, "lock_timeout") == "0"  # the savepoint's rollback undid it
