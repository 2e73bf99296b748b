"""geo.jobs: work left for after a job's commit (an import's index builds) runs with the job
still running and its committed result already kept; its failure leaves the job succeeded;
a process that died then leaves the job succeeded at the next start, not failed.

Jobs commit for real (sessions of their own): each test removes its jobs."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker

from geo.jobs import JobOutcome, JobProgress, create_job, fail_orphans, run_job


@pytest.fixture
def sessions(engine: Engine) -> Iterator[sessionmaker[Session]]:
    yield sessionmaker(engine)
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM jobs WHERE actor = 'after-commit test'"))


def _job(sessions: sessionmaker[Session], job_id: str) -> tuple[Any, ...]:
    with sessions() as session:
        return tuple(session.execute(text("SELECT state, result, error FROM jobs WHERE id = :id"),
                                     {"id": job_id}).one())


def test_after_commit_runs_with_the_result_kept(sessions: sessionmaker[Session]) -> None:
    job_id = create_job(sessions, "import", {}, "after-commit test", None, None)
    seen: list[tuple[Any, ...]] = []

    def after() -> dict[str, Any]:
        seen.append(_job(sessions, job_id))
        return {"indexes_built": ["idx"]}

    def work(session: Session, progress: JobProgress) -> JobOutcome:
        return JobOutcome({"rows": 3}, after_commit=after)

    assert run_job(sessions, job_id, work) == "succeeded"
    assert seen == [("running", {"rows": 3, "committed": True}, None)]
    assert _job(sessions, job_id) == (
        "succeeded", {"rows": 3, "committed": True, "indexes_built": ["idx"]}, None)


def test_a_failure_after_the_commit_leaves_the_job_succeeded(
        sessions: sessionmaker[Session]) -> None:
    job_id = create_job(sessions, "import", {}, "after-commit test", None, None)

    def after() -> dict[str, Any]:
        raise RuntimeError("no index today")

    def work(session: Session, progress: JobProgress) -> JobOutcome:
        return JobOutcome({"rows": 3}, after_commit=after)

    assert run_job(sessions, job_id, work) == "succeeded"
    assert _job(sessions, job_id) == ("succeeded", {
        "rows": 3, "committed": True, "after_commit_error": "RuntimeError: no index today"},
        None)


def test_a_job_that_died_after_its_commit_succeeded(sessions: sessionmaker[Session]) -> None:
    with sessions() as session, session.begin():
        session.execute(text(
            "INSERT INTO jobs (id, kind, state, actor, pid, host, result) VALUES "
            "('died-committed', 'import', 'running', 'after-commit test', 999999999, :host, "
            "'{\"rows\": 3, \"committed\": true}'), ('died-before', 'import', 'running', "
            "'after-commit test', 999999999, :host, NULL)"), {"host": socket.gethostname()})
    assert sorted(fail_orphans(sessions)) == ["died-before", "died-committed"]
    assert _job(sessions, "died-committed") == ("succeeded", {"rows": 3, "committed": True},
                                                None)
    assert _job(sessions, "died-before")[0::2] == ("failed", {
        "error": "interrupted", "message": "the process running this job stopped; nothing "
        "of it was written: start it again"})


def test_rollback_steps_run_after_a_failure_only(sessions: sessionmaker[Session]) -> None:
    """A step registered with ``on_rollback`` runs once the work's transaction rolled back
    (its write is gone when it runs); a failing step does not change the job's end; a job
    that succeeds never runs it."""
    seen: list[int] = []

    def count_rows() -> None:
        with sessions() as session:
            seen.append(session.scalar(text(
                "SELECT count(*) FROM jobs WHERE actor = 'rolled back'")))

    def failing(session: Session, progress: JobProgress) -> JobOutcome:
        progress.on_rollback(lambda: 1 / 0)
        progress.on_rollback(count_rows)
        session.execute(text("INSERT INTO jobs (id, kind, actor) VALUES "
                             "('rolled-back-row', 'import', 'rolled back')"))
        raise RuntimeError("the work failed")

    def succeeding(session: Session, progress: JobProgress) -> JobOutcome:
        progress.on_rollback(count_rows)
        return JobOutcome({"rows": 0})

    failed = create_job(sessions, "import", {}, "after-commit test", None, None)
    assert run_job(sessions, failed, failing) == "failed"
    assert seen == [0]
    assert _job(sessions, failed) == ("failed", None, {
        "error": "internal", "message": "RuntimeError: the work failed"})
    done = create_job(sessions, "import", {}, "after-commit test", None, None)
    assert run_job(sessions, done, succeeding) == "succeeded"
    assert seen == [0]
