"""One run at a time per output: a lease file with the run's id and a heartbeat.

`OUT/_work/lock.json` names the run holding the output (host, pid, run id, start) and when it
was last seen; a thread renews it every RENEW_S seconds. It works wherever the output lives
(a local or shared filesystem, an object store): it is an ordinary file, written whole. A
second run refuses to start while the lease is fresh; a lease not renewed for LEASE_S seconds,
or held by a process of this host that no longer exists, belongs to a run that was killed and
is taken over. Two runs starting at the same instant both write, then read back: only the one
whose write stayed goes on.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

import psutil

from pipeline.core.errors import OutputError, first_line
from pipeline.io.layout import RunLayout

log = logging.getLogger(__name__)
LEASE_S = 90.0
RENEW_S = 15.0
SETTLE_S = 0.2  # between writing the lease and reading it back


class OutputLock:
    """The lease on one output folder; a context manager holding it, renewed meanwhile."""

    def __init__(self, layout: RunLayout, started_at: float | None = None):
        self.file = layout.lock
        self.root = layout.root
        self.attempts = layout.attempts
        self.run = uuid.uuid4().hex[:12]
        # When the attempt began (the run's own start, planning included, when given): its
        # record's span is then the time the run reports for it.
        self.started_at = time.time() if started_at is None else started_at
        self.started = datetime.fromtimestamp(self.started_at, UTC).isoformat(timespec="seconds")
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> OutputLock:
        self.acquire()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, err: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()

    def acquire(self) -> None:
        """Take the lease or raise OutputError naming the run that holds it."""
        if self.file.exists():
            held = self.file.read_json()
            if not _abandoned(held):
                raise OutputError(
                    f"{self.root} is in use by another run (host {held.get('host')}, pid "
                    f"{held.get('pid')}, started {held.get('started')}, seen "
                    f"{time.time() - held.get('heartbeat', 0):.0f} s ago); wait for it to end, "
                    f"or remove {self.file} if that run is gone"
                )
            log.warning(
                "%s: taking over from a run that stopped (host %s, pid %s)",
                self.root,
                held.get("host"),
                held.get("pid"),
            )
        try:
            self._write()
        except OSError as err:
            raise OutputError(f"{self.root}: cannot write there ({first_line(err)})") from None
        time.sleep(SETTLE_S)
        if self.file.read_json().get("run") != self.run:
            raise OutputError(f"{self.root}: another run started at the same moment; retry")
        self._thread = threading.Thread(target=self._renew, name="tamis-lock", daemon=True)
        self._thread.start()

    def release(self) -> None:
        """Stop renewing and remove the lease, if still ours."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        try:
            if self.file.exists() and self.file.read_json().get("run") == self.run:
                self.record_attempt()
                self.file.remove()
        except (OSError, ValueError):  # best effort: a stale lease is taken over anyway
            log.warning("%s: could not remove the lock", self.file)

    def record_attempt(self) -> None:
        """Note when this attempt started and that it is alive now (see `attempt_seconds`)."""
        (self.attempts / f"{self.run}.json").write_json(
            {"started": self.started_at, "seen": time.time()}
        )

    def forget_other_attempts(self) -> None:
        """Delete every attempt's record but this one's (the output is being replaced)."""
        for record in self.attempts.glob("*.json"):
            if record.name != f"{self.run}.json":
                record.remove()

    def _write(self) -> None:
        self.record_attempt()
        self.file.write_json(
            {
                "run": self.run,
                "host": socket.gethostname(),
                "pid": os.getpid(),
                "started": self.started,
                "heartbeat": time.time(),
            }
        )

    def _renew(self) -> None:
        while not self._stop.wait(RENEW_S):
            try:
                self._write()
            except OSError as err:  # the next renewal may succeed; the run goes on
                log.warning("%s: could not renew the lock: %s", self.file, err)


def earlier_attempts(layout: RunLayout, this_run: str) -> list[float]:
    """Seconds each earlier attempt at the run in `layout` lasted, oldest first (a killed
    attempt's last heartbeat ends it, so it may be short by up to RENEW_S)."""
    spans = [f.read_json() for f in layout.attempts.glob("*.json") if f.name != f"{this_run}.json"]
    return [round(s["seen"] - s["started"], 3) for s in sorted(spans, key=lambda s: s["started"])]


def _abandoned(held: dict[str, Any]) -> bool:
    """True when the run holding a lease is gone: its heartbeat is old, or it ran here and its
    process no longer exists."""
    if time.time() - float(held.get("heartbeat", 0)) > LEASE_S:
        return True
    if held.get("host") == socket.gethostname():
        return not psutil.pid_exists(int(held.get("pid", -1)))
    return False
