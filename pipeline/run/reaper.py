"""Ends a local Ray's processes when the driver that started it dies, even by `kill -9`.

Ray's head processes (GCS, raylet, dashboard, log monitor) are the driver's children, and the
raylet's own children (the dashboard and runtime-env agents, workers) take names like
`ray::IDLE`. A driver killed outright runs no clean-up, and these live on under PID 1. The
reaper is a small process of its own session: every second it notes the processes of the
driver's Ray session (their command line names the session folder) and all their
descendants; once the driver is gone it terminates those still alive, then kills what is left.

    python -m pipeline.run.reaper DRIVER_PID SESSION_DIR
"""

from __future__ import annotations

import subprocess
import sys
import time

import psutil

POLL_S = 1.0
GRACE_S = 5.0


def session_processes(session_dir: str, me: int) -> dict[int, float]:
    """pid -> creation time of every process of the session and its descendants."""
    found: dict[int, float] = {}
    for proc in psutil.process_iter(["pid", "cmdline", "create_time"]):
        try:
            if proc.pid == me or session_dir not in " ".join(proc.info["cmdline"] or []):
                continue
            found[proc.pid] = proc.info["create_time"]
            for child in proc.children(recursive=True):
                found[child.pid] = child.create_time()
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return found


def reap(known: dict[int, float]) -> None:
    """Terminate the known processes still alive (the same process: same creation time),
    then kill those that did not stop within GRACE_S."""
    alive = []
    for pid, created in known.items():
        try:
            proc = psutil.Process(pid)
            if abs(proc.create_time() - created) < 1e-3:
                alive.append(proc)
        except psutil.NoSuchProcess:
            continue
    for proc in alive:
        try:
            proc.terminate()
        except psutil.NoSuchProcess:
            pass
    _, left = psutil.wait_procs(alive, timeout=GRACE_S)
    for proc in left:
        try:
            proc.kill()
        except psutil.NoSuchProcess:
            pass


def watch(driver: int, session_dir: str) -> None:
    """Note the session's processes while the driver lives; reap them when it is gone."""
    known: dict[int, float] = {}
    try:
        process = psutil.Process(driver)
        started = process.create_time()
    except psutil.NoSuchProcess:
        return
    me = psutil.Process().pid
    while True:
        try:
            gone = process.status() == psutil.STATUS_ZOMBIE or process.create_time() != started
        except psutil.NoSuchProcess:
            gone = True
        known |= session_processes(session_dir, me)
        if gone:
            reap(known | session_processes(session_dir, me))
            return
        time.sleep(POLL_S)


def start(driver: int, session_dir: str) -> subprocess.Popen[bytes]:
    """The reaper of `driver`'s Ray session, in a process session of its own (so that killing
    the driver's process group does not end it too)."""
    return subprocess.Popen(
        [sys.executable, "-m", "pipeline.run.reaper", str(driver), session_dir],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


if __name__ == "__main__":
    watch(int(sys.argv[1]), sys.argv[2])
