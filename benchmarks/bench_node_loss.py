"""Node loss on a real 3-node Ray cluster: a run that loses a node finishes with the local
runner's output; a storage error is retried; a stray piece is ignored and reported.

    .venv/bin/python benchmarks/bench_node_loss.py [--copies 2] [--keep]

A `ray.cluster_utils.Cluster` on this machine (head + 2 workers, 1 CPU and a 150 MB object
store each; the driver joins the head) runs exact dedup (a Ray shuffle: `rows_per_bucket` gives
16 buckets) then the Gopher, C4 and FineWeb rules over copies of samples/web with planted
duplicates. Each node-loss run SIGKILLs one worker node (`remove_node(allow_graceful=False)`),
then adds a fresh one, at a moment seen by a thread watching the run's `_work/stage-1` folder:
- map:       `decisions.runs/` exists (made just before the map tasks are submitted);
- reduce:    a `decisions/bucket-*.parquet` exists (reduce tasks publish these);
- row stage: a `shard-*/kept-*.parquet` piece of the stage after the decision exists;
then the node running a task of that phase (a process titled `ray::write_ranges`,
`ray::resolve_range` or `ray::MapBatches...` under its raylet) is the one removed.
Storage error: once the map phase starts, a folder is put where map task 0 publishes its first
range file, so its rename fails (EISDIR, a real OSError from the local filesystem); inotify sees
the failed write's temp file deleted and the folder is removed, so Ray's retry (ray_shuffle's
`retry_exceptions=[OSError]`) succeeds. Stray piece: test_fencing's method, on the cluster.
Each run's kept/ and rejected/ (sorted by id) must equal the local runner's; exits 1 otherwise.
"""

from __future__ import annotations

import argparse
import ctypes
import faulthandler
import logging
import os
import select
import shutil
import struct
import sys
import tempfile
import threading
import time
import traceback
from collections import defaultdict
from pathlib import Path
from typing import Any

import psutil
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from pipeline.core.recipe import Recipe, parse_recipe  # noqa: E402
from pipeline.io.layout import RunLayout, piece_name  # noqa: E402
from pipeline.io.storage import Location, read_table  # noqa: E402
from pipeline.run.runner import run_recipe  # noqa: E402

NODE = {"num_cpus": 1, "object_store_memory": 150 << 20}
TASKS = {"map": "ray::write_ranges", "reduce": "ray::resolve_range", "row stage": "ray::MapBatches"}
IN_DELETE = 0x200
STRAY_ATTEMPT = "0123456789ab"
RUN_TIMEOUT = 600


def make_input(folder: Path, copies: int) -> Path:
    """`copies` x the 4 sample shards; in later copies every 5th text is a planted duplicate
    (upper-cased, `!` added: equal once normalised) and the others are made unique."""
    folder.mkdir(parents=True)
    for c in range(copies):
        for shard in sorted((REPO / "samples" / "web").glob("*.parquet")):
            table = pq.read_table(shard)
            texts = table["text"].to_pylist()
            if c:
                texts = [
                    t if not t else t.upper() + "!" if i % 5 == 0 else f"{t}\n\nVariant {c}.{i}."
                    for i, t in enumerate(texts)
                ]
            ids = pc.binary_join_element_wise(table["id"], pa.scalar(f"c{c}"), "-")
            table = table.set_column(0, "id", ids).set_column(1, "text", pa.array(texts))
            pq.write_table(table, folder / f"c{c}-{shard.name}")
    return folder


def recipe(inp: Path, out: Path, rows_per_bucket: int) -> Recipe:
    steps = [{"exact_dedup": {"rows_per_bucket": rows_per_bucket}}, {"gopher_repetition": {}}]
    steps += [{"gopher_quality": {}}, {"c4": {"remove_lines": False}}, {"fineweb_quality": {}}]
    where = {"input": {"path": str(inp)}, "output": {"path": str(out)}}
    return parse_recipe({"name": "node-loss", **where, "steps": steps})


def outputs(out: Path) -> list[pa.Table]:
    """All kept and all rejected rows of a run, sorted by id."""
    folders = [Location.of(out) / kind for kind in ("kept", "rejected")]
    return [pa.concat_tables(map(read_table, f.glob("*.parquet"))).sort_by("id") for f in folders]


def reached(work: Path, phase: str) -> bool:
    """True once the run's work folder shows `phase` under way."""
    stage = work / "stage-1"
    if phase == "map":
        return (stage / "decisions.runs").is_dir()
    if phase == "reduce":
        return any((stage / "decisions").glob("bucket-*.parquet"))
    return any(stage.glob("shard-*/kept-*.parquet"))


def busy_node(cluster: Any, title: str) -> Any:
    """A worker node with a process titled `title...` under its raylet, else None."""
    for node in cluster.worker_nodes:
        try:
            raylet = psutil.Process(node.all_processes["raylet"][0].process.pid)
            if any(" ".join(p.cmdline()).startswith(title) for p in raylet.children(True)):
                return node
        except psutil.Error:
            continue
    return None


def remove_node_at(phase: str) -> Any:
    """A watcher that, once `phase` is under way, SIGKILLs a worker node busy with it (any,
    after 5 s) and adds a fresh one."""

    def watch(cluster: Any, work: Path, t0: float, done: threading.Event) -> dict:
        while not reached(work, phase):
            if done.wait(0.02):
                return {}
        victim, until = None, time.time() + 5
        while victim is None and time.time() < until and not done.is_set():
            victim = busy_node(cluster, TASKS[phase])
        got = {"at": time.time() - t0, "busy": "" if victim else " (no task of it seen)"}
        cluster.remove_node(victim or next(iter(cluster.worker_nodes)), allow_graceful=False)
        cluster.add_node(**NODE)  # on the main thread: a node sets signal handlers
        return got

    return watch


def fail_one_publish(cluster: Any, work: Path, t0: float, done: threading.Event) -> dict:
    """Make map task 0's first range-file rename fail (a folder in its place) until inotify
    shows the failed write cleaned up; count the failures seen."""
    runs = work / "stage-1" / "decisions.runs"
    while not runs.is_dir():
        if done.wait(0.01):
            return {}
    folder = runs / "range-00000"
    folder.mkdir(exist_ok=True)
    libc = ctypes.CDLL(None, use_errno=True)
    fd = libc.inotify_init()
    assert fd >= 0 and libc.inotify_add_watch(fd, str(folder).encode(), IN_DELETE) >= 0
    blocker = folder / "map-00000-000.parquet"
    blocker.mkdir()
    got = {"at": time.time() - t0, "failures": 0}
    while not got["failures"] and not done.is_set():
        if select.select([fd], [], [], 0.1)[0]:
            data, off = os.read(fd, 65536), 0
            while off < len(data):
                _, _, _, size = struct.unpack_from("iIII", data, off)
                name = data[off + 16 : off + 16 + size].rstrip(b"\0").decode()
                got["failures"] += name.startswith(".map-00000-000.parquet.")
                off += 16 + size
    blocker.rmdir()
    os.close(fd)
    return got


def timed_run(cluster: Any, inp: Path, out: Path, rpb: int, watch: Any) -> tuple:
    """A Ray run (on a thread; given up after RUN_TIMEOUT) while `watch` looks at its work
    folder here: (manifest, seconds, what the watcher saw)."""
    result: dict = {}
    done, t0 = threading.Event(), time.time()

    def run() -> None:
        try:
            result["manifest"] = run_recipe(recipe(inp, out, rpb), "ray", progress=False)
        except BaseException as err:
            result["error"] = err
        finally:
            done.set()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    timer = threading.Timer(RUN_TIMEOUT, done.set)  # a hung run also ends the watch
    timer.start()
    got = watch(cluster, out / "_work", t0, done)
    thread.join(max(0.0, t0 + RUN_TIMEOUT - time.time()))
    timer.cancel()
    if thread.is_alive():
        faulthandler.dump_traceback(all_threads=True)
        raise TimeoutError(f"{out.name}: the run did not finish in {RUN_TIMEOUT} s (stacks above)")
    if "error" in result:
        raise result["error"]
    return result["manifest"], time.time() - t0, got


def equal_to(want: list[pa.Table], out: Path) -> bool:
    return all(got.equals(w) for got, w in zip(outputs(out), want, strict=True))


def stray_check(inp: Path, out: Path, rpb: int, want: list) -> tuple[dict, float, dict]:
    """test_fencing's case on the cluster: the run as if stopped after stage 0, plus a copy of
    a committed piece named by another attempt; the resumed run must skip stage 0, and ignore
    and report the piece."""
    layout = RunLayout.at(str(out))
    shutil.rmtree(layout.stage_dir(1).path)
    for name in ("kept", "rejected", "manifest.json"):
        (layout.root / name).remove()
    stray = layout.shard_dir(0, 0) / piece_name("kept", 0, STRAY_ATTEMPT)
    shutil.copy(layout.committed_pieces(0, 0)[0][0].path, stray.path)
    warnings: list[str] = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = lambda record: warnings.append(record.getMessage())  # type: ignore
    logging.getLogger("pipeline.run.manifest").addHandler(handler)
    t0 = time.time()
    try:
        again = run_recipe(recipe(inp, out, rpb), "ray", progress=False)
    finally:
        logging.getLogger("pipeline.run.manifest").removeHandler(handler)
    print(f"resumed run with a stray piece, warnings logged: {warnings}")
    skipped = again["run"]["stages"][0]["shards_run"] == 0
    strays, warned = again["run"]["stray_pieces"], any(stray.name in w for w in warnings)
    ok = skipped and strays == 1 and warned and stray.exists()
    note = f": stage 0 skipped {skipped}, stray_pieces {strays}, warned {warned}"
    return again, time.time() - t0, {"note": note, "ok": ok}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--copies", type=int, default=2, help="copies of samples/web (x3,960)")
    parser.add_argument("--keep", action="store_true", help="keep the temp folder")
    args = parser.parse_args()
    import ray
    from ray.cluster_utils import Cluster

    tmp = Path(tempfile.mkdtemp(prefix="tamis-node-loss-"))
    inp = make_input(tmp / "in", args.copies)
    rows = sum(pq.read_metadata(p).num_rows for p in inp.glob("*.parquet"))
    rpb, t0 = max(1, rows // 16), time.time()
    local = run_recipe(recipe(inp, tmp / "local", rpb), "local", progress=False)["rows"]
    print(
        f"{rows:,} rows in {len(list(inp.glob('*.parquet')))} shards, rows_per_bucket {rpb}; "
        f"local run {time.time() - t0:.1f} s: {local['kept']:,} kept / {local['rejected']:,}"
    )
    want = outputs(tmp / "local")
    cluster = Cluster(initialize_head=True, head_node_args={**NODE, "include_dashboard": False})
    for _ in range(2):
        cluster.add_node(**NODE)
    ray.init(address=cluster.address, logging_level=logging.ERROR, log_to_driver=False)
    cluster.wait_for_nodes()
    cases = [
        (f"node lost: {p}{{busy}}", f"ray-{n}", remove_node_at(p)) for n, p in enumerate(TASKS)
    ]
    cases += [("storage error ({failures} failed rename)", "ray-e", fail_one_publish)]
    cases += [("stray piece{note}", "ray-e", None)]
    table = []
    try:
        for label, name, watch in cases:
            try:
                if watch is None:
                    manifest, secs, seen = stray_check(inp, tmp / name, rpb, want)
                else:
                    manifest, secs, seen = timed_run(cluster, inp, tmp / name, rpb, watch)
            except Exception:  # reported, and the run counts as a mismatch
                traceback.print_exc()
                table.append((label.format_map(defaultdict(str)), "-", "FAILED", "-", False))
                continue
            same = equal_to(want, tmp / name) and seen.get("ok", True)
            same &= watch is None or "at" in seen and seen.get("failures", 1) >= 1
            at = f"{seen['at']:.1f}" if "at" in seen else "never" if watch else "-"
            counts = f"{manifest['rows']['kept']:,} / {manifest['rows']['rejected']:,}"
            table.append(
                (label.format_map(defaultdict(str, seen)), at, f"{secs:.1f}", counts, same)
            )
        alive = sum(n["Alive"] for n in ray.nodes())
    finally:
        ray.shutdown()
        cluster.shutdown()
    print(f"\n{'moment':<62}{'at (s)':>7}{'run (s)':>9}{'kept / rejected':>18}  equal to local")
    for label, at, secs, counts, same in table:
        print(f"{label:<62}{at:>7}{secs:>9}{counts:>18}  {'yes' if same else 'NO'}")
    print(f"nodes alive at the end: {alive}")
    ok = all(r[-1] for r in table)
    if args.keep:
        print(f"files kept in {tmp}")
    else:
        shutil.rmtree(tmp, ignore_errors=True)
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
