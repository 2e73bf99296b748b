"""The gridlink CLI against the test database."""

from __future__ import annotations

from sqlalchemy import Engine, select, text
from typer.testing import CliRunner

from cli.main import app
from geo.db import transaction
from geo.keys import hash_key
from geo.models import ApiKey


def test_keys_create_prints_a_key_stored_only_as_hash(database_url: str, engine: Engine) -> None:
    result = CliRunner().invoke(app, ["keys", "create", "--role", "planner", "--name", "li"])
    assert result.exit_code == 0, result.output
    plain = result.output.strip()
    assert plain.startswith("gl_")
    with transaction(engine) as session:
        key = session.scalar(select(ApiKey).where(ApiKey.key_hash == hash_key(plain)))
        assert key is not None and key.role == "planner" and key.name == "li"
        assert plain not in str(session.execute(text("SELECT * FROM api_keys")).all())
        session.delete(key)


def test_keys_create_refuses_unknown_role(database_url: str) -> None:
    result = CliRunner().invoke(app, ["keys", "create", "--role", "boss"])
    assert result.exit_code == 1
    assert "unknown role 'boss'" in result.output


def test_db_migrate_is_idempotent(database_url: str) -> None:
    runner = CliRunner()
    assert runner.invoke(app, ["db", "migrate"]).exit_code == 0
    assert runner.invoke(app, ["db", "migrate"]).exit_code == 0
