"""Long jobs: an import or export that runs after its request answered ``202 Accepted``.

A job is one row of ``jobs`` (migration 0018), written through its own short sessions and
committed at once, so its state is visible to every process while the work's own
transaction is still open, and survives a restart:

* :func:`create_job` — ``queued``, with the caller and the parameters;
* :func:`run_job` — ``running`` (with this process's pid and host), then the work in one
  transaction of its own: ``succeeded`` (result kept) when it commits, ``failed`` (error
  and problems kept, nothing written) when it raises, ``cancelled`` when asked to stop;
* :class:`JobProgress` — rows done, rows in all, problems so far, after each batch; it
  raises :class:`JobCancelled` once a cancel was asked (the work then rolls back);
* :func:`request_cancel` — a queued job is cancelled at once, a running one at its next batch;
* :func:`fail_orphans` — at start-up, running jobs of this host whose process is gone fail.

The work is a function ``(session, progress) -> JobOutcome``; it never commits.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.errors import Conflict, Detail, GridlinkError, NotFound
from geo.tempdir import process_running

SessionFactory = Callable[[], Session]
DONE_STATES = ("succeeded", "failed", "cancelled")
PROBLEMS_KEPT = 10_000
"""At most this many problems are kept with a job (the count is always exact)."""

_VIEW = ("SELECT id, kind, state, params, actor, key_prefix, rows_done, rows_total, "
         "problems_found, problems, result, error, result_path IS NOT NULL AS has_file, "
         "cancel_requested, "
         "created_at, started_at, finished_at FROM jobs WHERE id = :id")


class JobCancelled(Exception):
    """Raised inside a job's work when a cancel was asked; the work's transaction rolls back."""


@dataclass
class JobOutcome:
    """What a finished job keeps: its result, its problems and a result file (path)."""

    result: dict[str, Any]
    problems: list[Detail] = field(default_factory=list)
    result_path: str | None = None
    after_commit: Callable[[], dict[str, Any]] | None = None
    """Work left for after the commit (an import's index builds): the job keeps its result
    with ``committed: true`` first, stays running while this runs, and adds what it
    returns to the result; its failure leaves the job succeeded (the work is committed)."""


def _dump(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)


def create_job(sessions: SessionFactory, kind: str, params: dict[str, Any], actor: str,
               key_prefix: str | None, role: str | None) -> str:
    """A new queued job (committed); returns its id (32 hex characters)."""
    job_id = secrets.token_hex(16)
    with sessions() as session, session.begin():
        session.execute(text(
            "INSERT INTO jobs (id, kind, params, actor, key_prefix, role) "
            "VALUES (:id, :kind, CAST(:params AS jsonb), :actor, :key_prefix, :role)"),
            {"id": job_id, "kind": kind, "params": _dump(params), "actor": actor,
             "key_prefix": key_prefix, "role": role})
    return job_id


def job_view(session: Session, job_id: str) -> dict[str, Any]:
    """The job as the API shows it; NotFound when there is no such job."""
    row = session.execute(text(_VIEW), {"id": job_id}).mappings().one_or_none()
    if row is None:
        raise NotFound(f"no job {job_id!r}", [{"field": "job_id", "value": job_id}])
    view = dict(row)
    total = view["rows_total"]
    view["progress"] = (min(view["rows_done"] / total, 1.0) if total else
                        1.0 if view["state"] == "succeeded" else 0.0)
    return view


def request_cancel(sessions: SessionFactory, job_id: str) -> dict[str, Any]:
    """Cancel ``job_id`` (committed): queued → cancelled now; running → at its next batch.

    Raises NotFound, or Conflict when the job already finished.
    """
    with sessions() as session, session.begin():
        state = session.scalar(text("SELECT state FROM jobs WHERE id = :id FOR UPDATE"),
                               {"id": job_id})
        if state is None:
            raise NotFound(f"no job {job_id!r}", [{"field": "job_id", "value": job_id}])
        if state in DONE_STATES:
            raise Conflict(f"job {job_id} already {state}", [{"field": "state",
                                                              "value": state}])
        session.execute(text(
            "UPDATE jobs SET cancel_requested = true, state = CASE WHEN state = 'queued' "
            "THEN 'cancelled' ELSE state END, finished_at = CASE WHEN state = 'queued' "
            "THEN now() END WHERE id = :id"), {"id": job_id})
    with sessions() as session:
        return job_view(session, job_id)


class JobProgress:
    """Called by the work after each batch: ``(rows done, rows in all, problems so far)``."""

    def __init__(self, sessions: SessionFactory, job_id: str) -> None:
        self.sessions = sessions
        self.job_id = job_id
        self.rollback_steps: list[Callable[[], object]] = []

    def on_rollback(self, step: Callable[[], object]) -> None:
        """Run ``step`` after the work's transaction rolled back (the job failed or was
        cancelled): to undo what the work did outside it, e.g. an index it dropped
        concurrently before (geo.assignment_index). A step that fails leaves its leftover to
        the recovery that step's owner documents."""
        self.rollback_steps.append(step)

    def rolled_back(self) -> None:
        """Run the :meth:`on_rollback` steps, in order; each step's failure is swallowed."""
        for step in self.rollback_steps:
            try:
                step()
            except Exception:  # the job already ended failed or cancelled
                continue

    def __call__(self, done: int, total: int, problems: int = 0) -> None:
        with self.sessions() as session, session.begin():
            cancel = session.scalar(text(
                "UPDATE jobs SET rows_done = :done, rows_total = :total, "
                "problems_found = :problems WHERE id = :id RETURNING cancel_requested"),
                {"id": self.job_id, "done": done, "total": total, "problems": problems})
        if cancel:
            raise JobCancelled(self.job_id)


def _finish(sessions: SessionFactory, job_id: str, state: str, **values: Any) -> None:
    columns = {"result": None, "error": None, "problems": [], "result_path": None} | values
    with sessions() as session, session.begin():
        session.execute(text(
            "UPDATE jobs SET state = :state, finished_at = now(), "
            "result = CAST(:result AS jsonb), error = CAST(:error AS jsonb), "
            "problems = CAST(:problems AS jsonb), result_path = :result_path, "
            "problems_found = greatest(problems_found, :found), "
            "rows_done = coalesce(:rows, rows_done), rows_total = coalesce(rows_total, :rows) "
            "WHERE id = :id"),
            {"id": job_id, "state": state, "result": _dump(columns["result"]),
             "error": _dump(columns["error"]), "found": len(columns["problems"]),
             "problems": _dump(columns["problems"][:PROBLEMS_KEPT]),
             "result_path": columns["result_path"],
             "rows": (columns["result"] or {}).get("rows")})


def run_job(sessions: SessionFactory, job_id: str,
            work: Callable[[Session, JobProgress], JobOutcome]) -> str:
    """Run a queued job to its end (in this thread); returns its final state."""
    with sessions() as session, session.begin():
        started = session.scalar(text(
            "UPDATE jobs SET state = 'running', started_at = now(), pid = :pid, host = :host "
            "WHERE id = :id AND state = 'queued' RETURNING id"),
            {"id": job_id, "pid": os.getpid(), "host": socket.gethostname()})
    if started is None:  # cancelled before it started
        return "cancelled"
    progress = JobProgress(sessions, job_id)
    try:
        with sessions() as session, session.begin():
            outcome = work(session, progress)
    except Exception as exc:  # a job must end in a state, whatever went wrong
        progress.rolled_back()
        state, ended = _ended_by(exc)
        _finish(sessions, job_id, state, **ended)
        return state
    if outcome.after_commit is not None:
        outcome.result = _after_commit(sessions, job_id, outcome)
    _finish(sessions, job_id, "succeeded", result=outcome.result, problems=outcome.problems,
            result_path=outcome.result_path)
    return "succeeded"


def _ended_by(exc: Exception) -> tuple[str, dict[str, Any]]:
    """The final state of a job whose work raised ``exc``, and what it keeps: cancelled
    (:class:`JobCancelled`), failed with the error's code and details
    (:class:`geo.errors.GridlinkError`), or failed as ``internal``."""
    if isinstance(exc, JobCancelled):
        return "cancelled", {}
    if isinstance(exc, GridlinkError):
        return "failed", {"problems": exc.details,
                          "error": {"error": exc.code, "message": exc.message}}
    return "failed", {"error": {"error": "internal",
                                "message": f"{type(exc).__name__}: {exc}"[:300]}}


def _after_commit(sessions: SessionFactory, job_id: str, outcome: JobOutcome
                  ) -> dict[str, Any]:
    """Keep the committed result (``committed: true``), run ``outcome.after_commit``;
    returns the result with what it added (or its error)."""
    result = outcome.result | {"committed": True}
    with sessions() as session, session.begin():
        session.execute(text("UPDATE jobs SET result = CAST(:r AS jsonb) WHERE id = :id"),
                        {"id": job_id, "r": _dump(result)})
    assert outcome.after_commit is not None
    try:
        return result | outcome.after_commit()
    except Exception as exc:  # the work is committed: the job still succeeded
        return result | {"after_commit_error": f"{type(exc).__name__}: {exc}"[:300]}


def fail_orphans(sessions: SessionFactory) -> list[str]:
    """Mark failed the running jobs of this host whose process no longer runs, and the
    queued jobs older than an hour (their process died before starting them); returns ids.
    A running job whose work had committed (its result kept, e.g. while it built an
    import's indexes after the commit) is marked succeeded instead."""
    host = socket.gethostname()
    with sessions() as session, session.begin():
        running = session.execute(text(
            "SELECT id, pid FROM jobs WHERE state = 'running' AND host = :host"),
            {"host": host}).all()
        dead = [job_id for job_id, pid in running if pid is None or not process_running(int(pid))]
        dead += list(session.scalars(text(
            "SELECT id FROM jobs WHERE state = 'queued' AND created_at < now() - "
            "interval '1 hour'")))
        session.execute(text(
            "UPDATE jobs SET state = CASE WHEN result IS NULL THEN 'failed' ELSE 'succeeded' "
            "END, finished_at = now(), error = CASE WHEN result IS NULL THEN CAST(:error AS "
            "jsonb) END WHERE id = ANY(:ids)"),
            {"ids": dead, "error": _dump({"error": "interrupted", "message":
                                          "the process running this job stopped; nothing "
                                          "of it was written: start it again"})})
    return dead
