"""Train a supervised fastText model in a child process whose allocations start zeroed.

Why a child process: with `thread=1`, fastText's `DenseMatrix::uniform` fills only the first
tenth of the input matrix (it splits the work in ten blocks, one per thread), and the
`fasttext-numpy2-wheel` build allocates that matrix with `posix_memalign` without zeroing it.
The other nine tenths start as whatever the heap held: zeros in a fresh process, garbage
after the process freed memory, and then training stops with "Encountered NaN" (the flaky
test-suite failure). A child started with glibc's MALLOC_PERTURB_=255 gets every allocation
filled with zero bytes, so the matrix always starts the same and a seed reproduces a model.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from pipeline.core.errors import TamisError

# glibc fills each new allocation with (value XOR 0xff): 255 gives zero bytes.
ZEROED_ALLOCATIONS = {"MALLOC_PERTURB_": "255"}


class TrainingError(TamisError):
    """fastText training failed; the message says why and what to change."""


def train_supervised(data: Path, out: Path, params: dict[str, Any]) -> None:
    """Train on `data` (fastText's `__label__X text` lines) and save the model to `out`."""
    command = [sys.executable, "-m", "scorers.fasttext_training", str(data), str(out)]
    done = subprocess.run(
        command,
        input=json.dumps(params),
        capture_output=True,
        text=True,
        env={**os.environ, **ZEROED_ALLOCATIONS},
        check=False,
    )
    if done.returncode == 0:
        return
    lines = done.stderr.strip().splitlines()
    last = lines[-1] if lines else f"exit code {done.returncode}"
    if "NaN" in last:
        raise TrainingError(
            f"fastText training diverged (NaN) with lr={params.get('lr')}; lower the learning rate"
        )
    raise TrainingError(f"fastText training failed: {last}")


def _main(data: str, out: str) -> None:
    """Child side: parameters as JSON on stdin."""
    import fasttext

    params = json.loads(sys.stdin.read())
    model = fasttext.train_supervised(input=data, verbose=0, **params)
    model.save_model(out)


if __name__ == "__main__":
    _main(sys.argv[1], sys.argv[2])
