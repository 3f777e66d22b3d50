"""Progress of a run, on a terminal and in job logs.

On a terminal each stage gets a tqdm bar. Where stderr is not a terminal (Ray job logs, CI, a
file), carriage-return bars are noise, so each stage prints plain lines instead: one when it
starts, one every `EVERY_S` seconds while rows flow, and one when it ends, e.g.

    stage 2/4 (exact_dedup -> gopher_quality): 12,345/40,000 rows, 2,100 rows/s, ETA 0:00:13

Global decisions print a line when they start and one when they end. Lines go to the
`pipeline.run.progress` logger, which writes to stderr; `--quiet` (progress=False) prints nothing.
"""

from __future__ import annotations

import logging
import sys
import time
from datetime import timedelta
from typing import Any

from tqdm import tqdm

EVERY_S = 10.0  # seconds between two progress lines of a stage, when stderr is not a terminal


class _Stderr(logging.Handler):
    """Writes each record to the current `sys.stderr` (which tests and job runners replace)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            sys.stderr.write(self.format(record) + "\n")
            sys.stderr.flush()
        except Exception:  # a closed or broken stream must not stop the run
            self.handleError(record)


def progress_log() -> logging.Logger:
    """The logger progress lines go to: INFO and up, to stderr, message only."""
    log = logging.getLogger("pipeline.run.progress")
    if not log.handlers:
        log.addHandler(_Stderr())
        log.setLevel(logging.INFO)
        log.propagate = False  # shown whatever the root logger's level (TAMIS_LOG)
    return log


def say(enabled: bool, message: str, *args: Any) -> None:
    """Print one progress line unless progress is off."""
    if enabled:
        progress_log().info(message, *args)


def per_second(rate: float) -> str:
    """A rate for people: whole numbers from 10 up, decimals below ("0.48 rows/s", not 0)."""
    return f"{rate:,.0f}" if rate >= 10 else f"{rate:.1f}" if rate >= 1 else f"{rate:.2f}"


def clock(seconds: float) -> str:
    """H:MM:SS."""
    return str(timedelta(seconds=max(0, round(seconds))))


class StageProgress:
    """Rows done in one stage: a tqdm bar on a terminal, else a plain line every `every` s.

    Use as a context manager; call `update(rows)` as rows are written."""

    def __init__(
        self,
        label: str,
        total: int | None,
        enabled: bool = True,
        every: float | None = None,
        tty: bool | None = None,
    ):
        self.label, self.total, self.enabled = label, total, enabled
        self.every = EVERY_S if every is None else every
        self.tty = sys.stderr.isatty() if tty is None else tty
        self.done = 0
        self._bar: tqdm | None = None
        self._start = self._last = time.monotonic()

    def __enter__(self) -> StageProgress:
        self._start = self._last = time.monotonic()
        if not self.enabled:
            return self
        if self.tty:
            self._bar = tqdm(
                total=self.total, desc=self.label, unit=" rows", file=sys.stderr, leave=True
            )
        else:
            rows = f", {self.total:,} rows" if self.total is not None else ""
            say(True, "%s: started%s", self.label, rows)
        return self

    def update(self, rows: int) -> None:
        self.done += rows
        if self._bar is not None:
            self._bar.update(rows)
        elif self.enabled and time.monotonic() - self._last >= self.every:
            self._last = time.monotonic()
            say(True, "%s", self.line())

    def line(self, finished: bool = False) -> str:
        """`label: done/total rows, R rows/s, ETA h:mm:ss` (or `... rows in S s` at the end)."""
        elapsed = time.monotonic() - self._start
        rate = self.done / elapsed if elapsed > 0 else 0.0
        count = f"{self.done:,}/{self.total:,}" if self.total is not None else f"{self.done:,}"
        if finished:
            return f"{self.label}: {count} rows in {elapsed:.1f} s, {per_second(rate)} rows/s"
        text = f"{self.label}: {count} rows, {per_second(rate)} rows/s"
        if self.total is not None and rate > 0:
            text += f", ETA {clock((self.total - self.done) / rate)}"
        return text

    def __exit__(self, kind: Any, *_: Any) -> None:
        if self._bar is not None:
            self._bar.close()
        elif self.enabled and kind is None:
            say(True, "%s", self.line(finished=True))
