"""Skew: dedup decisions over planted hot keys under a per-process memory cap.

    .venv/bin/python benchmarks/bench_skew.py [--quick] [--cap-gb 4] [--cases exact,minhash,...]

Each case runs in its own fresh interpreter, watched by this script: a watchdog samples the
child's resident memory (VmRSS in /proc) every 20 ms and kills it past the cap (an RSS cap, not
RLIMIT_AS, which the address space reserved by numpy/BLAS threads would trip long before the
memory is used); the child reports its own peak (VmHWM) when it finishes. The decisions run on
the local executor (one process, so one process's peak is the whole step's), and the child
also records the most rows any `resolve` call was handed: what one reducer holds on Ray.

Cases (sizes for 2 cores; `--quick` divides the row counts by 10):
- exact:    1,000,000 copies of one document + 200,000 unique ones, rows_per_bucket 100,000;
- minhash:  100,000 copies of one document + 100,000 distinct ones, rows_per_bucket 100,000
            (1.4M band rows: each band key of the copies is a 100k-row group, and the graph a
            100k-leaf star);
- semantic: 200,000 random unit 384-d embeddings, default parameters (k = 200);
- semantic_copies: 100,000 copies of one embedding + 100,000 random ones, rows_per_bucket
            20,000: the copies' k-means cluster is split (anchors decide them map-side);
- semantic_copies_whole: the same with splitting turned off, for comparison;
- assign:   the k-means assignment of one 20,000-row batch to 50,000 centroids (the issue's
            ~1 TB setting: a 20k x 50k similarity matrix is 4 GB in float32).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

SHARD_ROWS = 100_000
DIM = 384


# ---------------------------------------------------------------------------- data (parent)
def _key_shards(step: Any, texts: list[str], folder: Path) -> list[str]:
    """The step's key files over `texts` (what its decision reads), SHARD_ROWS rows each."""
    from pipeline.core.columns import ROW, SHARD

    folder.mkdir(parents=True)
    paths = []
    for shard, start in enumerate(range(0, len(texts), SHARD_ROWS)):
        part = texts[start : start + SHARD_ROWS]
        table = pa.table(
            {
                "id": [f"d{start + i}" for i in range(len(part))],
                "text": part,
                SHARD: pa.array(np.full(len(part), shard, np.int32)),
                ROW: pa.array(np.arange(len(part), dtype=np.int64)),
            }
        )
        keyed = step.keys(table).drop_columns(["text"])
        path = folder / f"part-{shard:05d}.parquet"
        pq.write_table(keyed, path)
        paths.append(str(path))
    return paths


def _planted(copies: int, uniques: int, seed: int, words: int) -> list[str]:
    """`copies` copies of one document among `uniques` distinct ones, shuffled."""
    rng = np.random.default_rng(seed)
    vocab = [f"w{i}" for i in range(50_000)]
    planted = " ".join(vocab[i] for i in rng.integers(0, len(vocab), words))
    texts = [planted] * copies + [
        " ".join(vocab[i] for i in rng.integers(0, len(vocab), words)) for _ in range(uniques)
    ]
    order = rng.permutation(len(texts))
    return [texts[i] for i in order]


def make_exact(folder: Path, scale: float) -> dict[str, Any]:
    from pipeline.dedup.exact import ExactDedup

    copies, uniques = int(1_000_000 * scale), int(200_000 * scale)
    texts = _planted(copies, uniques, 1, 3)
    texts = [t if i % 7 else f"{t} {i}" for i, t in enumerate(texts)]  # more distinct ones
    files = _key_shards(ExactDedup(), texts, folder)
    return {"files": files, "rows": len(texts), "rows_per_bucket": int(100_000 * scale)}


def make_minhash(folder: Path, scale: float) -> dict[str, Any]:
    from pipeline.dedup.fuzzy import MinHashDedup

    copies, uniques = int(100_000 * scale), int(100_000 * scale)
    files = _key_shards(MinHashDedup(), _planted(copies, uniques, 2, 40), folder)
    return {"files": files, "rows": copies + uniques, "rows_per_bucket": int(100_000 * scale)}


def make_semantic(folder: Path, scale: float, copies: float = 0.0) -> dict[str, Any]:
    """Random unit embeddings, the first `copies` share of them copies of one."""
    from pipeline.core.columns import ROW, SHARD, embedding_array

    rows = int(200_000 * scale)
    folder.mkdir(parents=True)
    rng = np.random.default_rng(3)
    files = []
    copy = rng.standard_normal(DIM).astype(np.float32)
    for shard, start in enumerate(range(0, rows, 20_000)):
        n = min(20_000, rows - start)
        vectors = rng.standard_normal((n, DIM)).astype(np.float32)
        copied = np.arange(start, start + n) < copies * rows
        vectors[copied] = copy
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        table = pa.table(
            {
                "id": [f"d{start + i}" for i in range(n)],
                "embedding": embedding_array(vectors),
                SHARD: pa.array(np.full(n, shard, np.int32)),
                ROW: pa.array(np.arange(n, dtype=np.int64)),
            }
        )
        path = folder / f"part-{shard:05d}.parquet"
        pq.write_table(table, path)
        files.append(str(path))
    spec: dict[str, Any] = {"files": files, "rows": rows}
    if copies:
        spec["rows_per_bucket"] = int(20_000 * scale)
    return spec


def make_semantic_copies(folder: Path, scale: float) -> dict[str, Any]:
    return make_semantic(folder, scale, copies=0.5)


def make_semantic_copies_whole(folder: Path, scale: float) -> dict[str, Any]:
    return {**make_semantic(folder, scale, copies=0.5), "whole": True}


# ---------------------------------------------------------------------------- child side
def _peak_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _recording_executor() -> Any:
    """The local executor, noting the most rows any one `resolve` call is handed, and the
    most embeddings one `resolve` of the decisions is handed (semantic dedup's rows decided
    map-side carry none)."""
    from pipeline.run.local_executor import LocalExecutor

    class Recording(LocalExecutor):
        largest = 0
        largest_vectors = 0

        def shuffle(self, sources, resolve, dest, buckets):  # type: ignore[no-untyped-def]
            def noted(table: pa.Table) -> pa.Table:
                Recording.largest = max(Recording.largest, table.num_rows)
                if dest.name == "decisions" and "e" in table.column_names:
                    vectors = table.num_rows - table["e"].null_count
                    Recording.largest_vectors = max(Recording.largest_vectors, vectors)
                return resolve(table)

            super().shuffle(sources, noted, dest, buckets)

    return Recording()


def child(case: str, spec: dict[str, Any], work: Path) -> dict[str, Any]:
    """Run one case; return its figures."""
    from pipeline.io.storage import Location

    start = time.perf_counter()
    out: dict[str, Any] = {}
    if case == "assign":
        from pipeline.core.columns import ROW, SHARD, embedding_array
        from pipeline.dedup.semantic import assign_clusters

        rng = np.random.default_rng(4)
        rows, k = spec["rows"], spec["centroids"]
        vectors = rng.standard_normal((rows, DIM)).astype(np.float32)
        centroids = rng.standard_normal((k, DIM)).astype(np.float32)
        centroids /= np.linalg.norm(centroids, axis=1, keepdims=True)
        table = pa.table(
            {
                SHARD: pa.array(np.zeros(rows, np.int32)),
                ROW: pa.array(np.arange(rows, dtype=np.int64)),
                "id": [str(i) for i in range(rows)],
                "embedding": embedding_array(vectors / np.linalg.norm(vectors, axis=1)[:, None]),
            }
        )
        del vectors
        assigned = assign_clusters(table, "embedding", "id", centroids)
        out["clusters_used"] = len(np.unique(assigned["cluster"].to_numpy()))
    else:
        from pipeline.dedup.exact import ExactDedup
        from pipeline.dedup.fuzzy import MinHashDedup
        from pipeline.dedup.semantic import SemanticDedup

        if spec.get("whole"):  # no cluster counts as hot: the copies stay in one bucket
            import pipeline.dedup.semantic as semantic

            semantic.hot_limit = lambda rows_per_bucket: 1 << 62
        steps = {"exact": ExactDedup, "minhash": MinHashDedup}
        steps |= dict.fromkeys(
            ["semantic", "semantic_copies", "semantic_copies_whole"], SemanticDedup
        )
        params = {"rows_per_bucket": spec["rows_per_bucket"]} if "rows_per_bucket" in spec else {}
        step = steps[case](**params)
        executor = _recording_executor()
        dest = Location.of(str(work / "decisions"))
        dest.mkdir()
        sources = [Location.of(f) for f in spec["files"]]
        report = step.decide(executor, sources, dest, spec["rows"])
        out["duplicates"] = report["duplicates"]
        out["clusters"] = report["clusters"]
        out["largest_resolve_rows"] = type(executor).largest
        if case.startswith("semantic"):
            out["largest_resolve_vectors"] = type(executor).largest_vectors
            out |= {k: report[k] for k in ("hot_clusters", "sub_clusters") if k in report}
    out["seconds"] = round(time.perf_counter() - start, 1)
    out["peak_mb"] = round(_peak_mb())
    return out


# ---------------------------------------------------------------------------- parent side
def _rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def watched(case: str, spec: dict[str, Any], cap_mb: float, work: Path) -> dict[str, Any]:
    """Run `case` in a fresh interpreter, killed if its RSS passes `cap_mb`."""
    spec_file = work / f"{case}.json"
    spec_file.write_text(json.dumps(spec))
    command = [sys.executable, __file__, "--child", case, "--spec", str(spec_file)]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    seen, killed = 0.0, False
    while proc.poll() is None:
        seen = max(seen, _rss_mb(proc.pid))
        if seen > cap_mb:
            os.kill(proc.pid, signal.SIGKILL)
            killed = True
            break
        time.sleep(0.02)
    stdout, stderr = proc.communicate()
    if killed:
        return {"outcome": f"killed at {seen:.0f} MB (cap {cap_mb:.0f})"}
    if proc.returncode:
        return {"outcome": f"failed ({proc.returncode}): {stderr.strip()[-300:]}"}
    return {"outcome": "ok", "sampled_peak_mb": round(seen), **json.loads(stdout.splitlines()[-1])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a tenth of the rows")
    parser.add_argument("--cap-gb", type=float, default=4.0)
    parser.add_argument(
        "--cases",
        default="exact,minhash,semantic,semantic_copies,semantic_copies_whole,assign",
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--spec", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        spec = json.loads(Path(args.spec).read_text())
        with tempfile.TemporaryDirectory(prefix="tamis-skew-child-") as tmp:
            print(json.dumps(child(args.child, spec, Path(tmp))))
        return
    scale = 0.1 if args.quick else 1.0
    makers = {"exact": make_exact, "minhash": make_minhash, "semantic": make_semantic}
    makers |= {
        "semantic_copies": make_semantic_copies,
        "semantic_copies_whole": make_semantic_copies_whole,
    }
    work = Path(tempfile.mkdtemp(prefix="tamis-skew-"))
    try:
        for case in args.cases.split(","):
            start = time.perf_counter()
            if case == "assign":
                spec = {"rows": int(20_000 * scale), "centroids": int(50_000 * scale)}
            else:
                spec = makers[case](work / case, scale)
            setup = time.perf_counter() - start
            result = watched(case, spec, args.cap_gb * 1024, work)
            sizes = {k: v for k, v in spec.items() if k != "files"}
            print(json.dumps({"case": case, **sizes, "setup_s": round(setup, 1), **result}))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
