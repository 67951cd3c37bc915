"""In-memory progress of long-running background work (re-indexing, evaluation runs) for the web interface,
and the two background runs that report to it.

Thread-safe; at most one running task per kind. Tasks live only as long as the process: a restart forgets
them (the work itself records its results elsewhere: the index, ``eval_runs``). Finished tasks are kept
for polling until the registry holds more than ``keep`` of them.
"""

from __future__ import annotations

import logging
import threading
import uuid
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any, Literal

from assistant.errors import ConflictError
from assistant.evaluate.evaluation import evaluate
from assistant.evaluate.runner import EvalParts
from assistant.knowledge.ingest import Ingestor

log = logging.getLogger("kontor.progress")

Status = Literal["running", "done", "failed"]
KIND_NAMES = {"reindex": "Neuindexierung", "evaluation": "Evaluation"}


class Task:
    """One piece of background work. The worker thread calls ``advance``/``finish``/``fail``; readers call
    ``snapshot``."""

    def __init__(self, kind: str, total: int, lock: threading.Lock) -> None:
        self.id = uuid.uuid4().hex
        self.kind = kind
        self.total = max(0, total)
        self.done = 0
        self.item = ""
        self.status: Status = "running"
        self.result: dict[str, Any] | None = None
        self.error: str | None = None
        self.started_at = datetime.now(UTC)
        self.finished_at: datetime | None = None
        self._lock = lock

    def advance(self, item: str = "") -> None:
        """One more step of ``total`` is under way; ``item`` names it (a file, a case id)."""
        with self._lock:
            self.done += 1
            self.total = max(self.total, self.done)  # a file added meanwhile must not show 5 of 4
            self.item = item

    def finish(self, result: dict[str, Any] | None = None) -> None:
        with self._lock:
            self.status, self.result, self.item = "done", result, ""
            self.finished_at = datetime.now(UTC)

    def fail(self, error: str) -> None:
        with self._lock:
            self.status, self.error = "failed", error
            self.finished_at = datetime.now(UTC)

    @property
    def running(self) -> bool:
        return self.status == "running"

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {"id": self.id, "kind": self.kind, "status": self.status, "done": self.done,
                    "total": self.total, "item": self.item, "result": self.result, "error": self.error,
                    "started_at": self.started_at.isoformat(timespec="seconds"),
                    "finished_at": self.finished_at.isoformat(timespec="seconds") if self.finished_at else None}


class ProgressRegistry:
    def __init__(self, keep: int = 50) -> None:
        self._lock = threading.Lock()
        self._tasks: dict[str, Task] = {}
        self.keep = keep

    def start(self, kind: str, total: int) -> Task:
        """A new running task; ``ConflictError`` while another task of this kind is running."""
        with self._lock:
            if self._running(kind) is not None:
                raise ConflictError(f"Es läuft bereits eine {KIND_NAMES.get(kind, kind)} – bitte warten, bis sie "
                                    "fertig ist")
            task = Task(kind, total, self._lock)
            self._tasks[task.id] = task
            self._forget_old()
            return task

    def get(self, task_id: str) -> Task | None:
        with self._lock:
            return self._tasks.get(task_id)

    def running(self, kind: str) -> Task | None:
        with self._lock:
            return self._running(kind)

    def _running(self, kind: str) -> Task | None:
        return next((t for t in self._tasks.values() if t.kind == kind and t.status == "running"), None)

    def _forget_old(self) -> None:
        finished = [t for t in self._tasks.values() if t.status != "running"]
        for task in sorted(finished, key=lambda t: t.started_at)[: max(0, len(self._tasks) - self.keep)]:
            del self._tasks[task.id]


class BackgroundWork:
    """Per application: the progress registry, the single re-indexing thread and evaluation threads."""

    def __init__(self) -> None:
        self.tasks = ProgressRegistry()
        self.index_lock = threading.Lock()  # one writer of the index at a time
        self._guard = threading.Lock()
        self._again = False

    def reindex(self, ingestor: Ingestor, queue: bool) -> Task:
        """Re-index the knowledge folder (``ingestor.knowledge_dir``) in a thread. While one runs:
        ``ConflictError``, or with ``queue`` one more run after it (the running one may have listed the folder
        before a new file arrived)."""
        with self._guard:
            running = self.tasks.running("reindex")
            if running is not None:
                if not queue:
                    raise ConflictError("Die Wissensbasis wird bereits neu indexiert – bitte warten")
                self._again = True
                return running
            task = self.tasks.start("reindex", _count_files(ingestor))
        threading.Thread(target=self._reindex, args=(ingestor, task), name="kontor-reindex", daemon=True).start()
        return task

    def _reindex(self, ingestor: Ingestor, task: Task | None) -> None:
        while task is not None:
            result, error = None, None
            try:
                with self.index_lock:
                    report = ingestor.run([ingestor.knowledge_dir], progress=task.advance)
                result = {**asdict(report), "ok": report.ok}
            except Exception as exc:  # the thread reports every failure instead of dying silently
                log.exception("re-indexing failed")
                error = f"Neuindexierung fehlgeschlagen: {exc}"
            with self._guard:
                if error:
                    task.fail(error)
                else:
                    task.finish(result)
                task = self.tasks.start("reindex", _count_files(ingestor)) if self._again else None
                self._again = False

    def evaluate(self, parts: EvalParts, name: str, prompt: str, total: int) -> Task:
        """``evaluate(…, gate=True)`` in a thread; one evaluation at a time (``ConflictError`` otherwise)."""
        task = self.tasks.start("evaluation", total)
        threading.Thread(target=_evaluate, args=(parts, task, name, prompt), name="kontor-eval",
                         daemon=True).start()
        return task


def _evaluate(parts: EvalParts, task: Task, name: str, prompt: str) -> None:
    try:
        outcome = evaluate(parts, name, prompt, gate=True, progress=task.advance)
    except Exception as exc:  # reported through the task; the server goes on
        log.exception("evaluation failed")
        task.fail(f"Evaluation fehlgeschlagen: {exc}")
        return
    task.finish({"run_id": outcome.run_id, "passed": outcome.passed, "failures": outcome.failures,
                 "report": f"/api/evaluations/{outcome.run_id}/report"})


def _count_files(ingestor: Ingestor) -> int:
    try:
        return len(ingestor.discover([ingestor.knowledge_dir])[0])
    except FileNotFoundError:
        return 0
