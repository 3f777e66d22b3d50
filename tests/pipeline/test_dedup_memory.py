"""Global dedup never gathers the dataset: peak memory stays flat when the data grows 4x."""

from __future__ import annotations

import random
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.conftest import REPO

SHARD_ROWS = 2000


def noisy_copies(texts: list[str], rows: int, folder: Path, seed: int) -> Path:
    """`rows` documents resampled from `texts`, each with a few words replaced (so most are
    distinct and a few stay near duplicates), in shards of SHARD_ROWS."""
    rng = random.Random(seed)
    folder.mkdir(parents=True)
    for shard in range(0, rows, SHARD_ROWS):
        docs = []
        for i in range(shard, min(rows, shard + SHARD_ROWS)):
            words = rng.choice(texts).split()
            for _ in range(max(1, len(words) // (4 if i % 10 else 40))):
                words[rng.randrange(len(words))] = f"w{rng.randrange(10**6)}"
            docs.append(" ".join(words))
        table = pa.table({"id": [f"d{shard + k}" for k in range(len(docs))], "text": docs})
        pq.write_table(table, folder / f"part-{shard // SHARD_ROWS:04d}.parquet")
    return folder


# A child's peak RSS on Linux includes the pages of the process it was forked from, so the run
# is started by a small fresh interpreter that reports its children's peak.
MEASURE = """
import resource, subprocess, sys
subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
"""


def peak_rss_mb(recipe: Path, inp: Path, out: Path) -> float:
    """Peak resident memory of a local `tamis run` in its own process, in MiB."""
    command = [sys.executable, "-m", "pipeline.cli", "run", str(recipe), "--runner", "local"]
    command += ["--input", str(inp), "--output", str(out), "--quiet"]
    done = subprocess.run(
        [sys.executable, "-c", MEASURE, *command], cwd=REPO, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return int(done.stdout.split()[-1]) / 1024  # KiB on Linux


@pytest.mark.slow
def test_fuzzy_dedup_memory_is_flat_in_data_size(tmp_path, sample_docs):
    texts = [t for t in sample_docs["text"].to_pylist() if t and 100 < len(t.split()) < 400]
    recipe = tmp_path / "fuzzy.yaml"
    recipe.write_text(
        "name: fuzzy\ninput: {path: in}\noutput: {path: out}\nsteps:\n"
        "  - minhash_dedup: {verify: true, rows_per_bucket: 4000}\n"
    )
    small = noisy_copies(texts, 8_000, tmp_path / "x1", seed=1)
    large = noisy_copies(texts, 48_000, tmp_path / "x6", seed=1)
    extra_text_mb = (
        sum(pq.read_table(p, columns=["text"])["text"].nbytes for p in large.glob("*.parquet"))
        * (40 / 48)
        / 2**20
    )
    small_peak = peak_rss_mb(recipe, small, tmp_path / "out1")
    large_peak = peak_rss_mb(recipe, large, tmp_path / "out6")
    print(f"peak RSS {small_peak:.0f} MiB at 1x, {large_peak:.0f} MiB at 6x")
    # Holding the 40,000 extra documents' text on the driver alone would cost extra_text_mb
    # (~65 MiB); allocator noise and larger worst-case chunks stay well under the margin.
    margin = 40.0
    assert extra_text_mb > 1.5 * margin
    assert large_peak < small_peak + margin, (small_peak, large_peak, extra_text_mb)
