"""fastText training is reproducible whatever the training process's heap held before.

The flaky "Encountered NaN" came from fastText reading a matrix it never initialised (see
scorers/fasttext_training.py). glibc's M_PERTURB fills every new allocation with garbage,
which reproduces the failure every time: the raw call fails, ours does not.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

POISONED = """
import ctypes, sys
from pathlib import Path
ctypes.CDLL("libc.so.6").mallopt(-6, 1)  # M_PERTURB: new allocations filled with 0xfe bytes
data, out, how = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
params = {"bucket": 1000, "dim": 16, "wordNgrams": 2, "seed": 0, "thread": 1}
if how == "raw":
    import fasttext
    try:
        fasttext.train_supervised(input=str(data), verbose=0, **params)
        print("trained")
    except RuntimeError as err:
        print(err)
else:
    from scorers.fasttext_training import train_supervised
    train_supervised(data, out, params)
    print("trained")
"""


def training_file(folder: Path) -> Path:
    """Two separable classes of short lines."""
    words = "the cat sat on a mat while dogs ran round the big red house".split()
    lines = []
    for i in range(2000):
        label, mark = ("hq", "") if i % 2 else ("lq", "x")
        lines.append(f"__label__{label} " + " ".join(w + mark for w in words[i % 5 :]))
    path = folder / "train.txt"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's M_PERTURB")
def test_training_survives_a_heap_full_of_garbage(tmp_path):
    data = training_file(tmp_path)

    def run(how: str) -> str:
        done = subprocess.run(
            [sys.executable, "-c", POISONED, str(data), str(tmp_path / "m.bin"), how],
            cwd=REPO,
            capture_output=True,
            text=True,
        )
        assert done.returncode == 0, done.stderr[-2000:]
        return done.stdout.strip()

    assert run("raw") == "Encountered NaN."  # the bug, reproduced
    assert run("ours") == "trained"
    import fasttext

    model = fasttext.load_model(str(tmp_path / "m.bin"))
    assert model.predict("thex catx satx")[0] == ("__label__lq",)


def test_diverging_training_is_one_clear_error(tmp_path):
    from scorers.fasttext_training import TrainingError, train_supervised

    expected = r"diverged \(NaN\) with lr=1e\+30; lower the learning rate"
    with pytest.raises(TrainingError, match=expected):
        train_supervised(training_file(tmp_path), tmp_path / "m.bin", {"lr": 1e30, "thread": 1})
