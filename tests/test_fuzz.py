"""Fault and fuzz suite: random shards (odd Unicode, nulls, wrong types, empty and long texts,
repeated ids, broken lines) through random valid recipes. Every run either stops with one
line naming what is wrong, or reconciles: rows in = kept + rejected, each rejected row has a
reason, every input row comes out once; the Ray runner gives the local runner's output, and a
run killed at a random moment then resumed gives the uninterrupted run's.

CI runs a fixed seed and a few examples; `TAMIS_FUZZ_EXAMPLES=200 pytest tests/test_fuzz.py`
runs longer (and `TAMIS_FUZZ_SEED=...` another draw).
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from hypothesis import HealthCheck, event, given, seed, settings
from hypothesis import strategies as st

from pipeline.core.errors import RecipeError, SchemaError
from pipeline.core.recipe import parse_recipe
from pipeline.run.runner import run_recipe
from tests.conftest import REPO
from tests.pipeline.test_runners import outputs

EXAMPLES = int(os.environ.get("TAMIS_FUZZ_EXAMPLES", "12"))
SEED = int(os.environ.get("TAMIS_FUZZ_SEED", "20261201"))
PROFILE = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=False,
    suppress_health_check=list(HealthCheck),
    database=None,
)
SENTENCE = "The committee met on Tuesday to discuss the new budget for the city schools."
ODD = [
    "\u200b",
    "\ufeff",
    "\u00a0",
    "\r\n",
    "\r",
    "é",
    "日本語",
    "🙂",
    "\x00",
    "\u2028",
    "#",
    "...",
]


@st.composite
def texts(draw: st.DrawFn) -> object:
    """A text value as real files hold them: prose, junk, odd characters, null, other types."""
    kind = draw(
        st.sampled_from(["prose", "prose", "junk", "odd", "empty", "null", "number", "long"])
    )
    if kind == "prose":
        return " ".join([SENTENCE] * draw(st.integers(1, 12)))
    if kind == "junk":
        return draw(
            st.sampled_from(["Home | About | Contact", "lorem ipsum dolor", "{}", "buy " * 40])
        )
    if kind == "odd":
        parts = draw(st.lists(st.sampled_from(ODD + [SENTENCE]), min_size=1, max_size=8))
        return "".join(parts)
    if kind == "empty":
        return draw(st.sampled_from(["", "   ", "\n\n"]))
    if kind == "null":
        return None
    if kind == "number":
        return draw(st.integers(-5, 5))
    return SENTENCE * draw(st.integers(200, 400))


@st.composite
def shards(draw: st.DrawFn) -> list[tuple[str, list[dict]]]:
    """1-3 input files (Parquet or JSONL), each with 0-25 rows, ids sometimes repeated."""
    files = []
    repeat_ids = draw(st.booleans()) and draw(st.booleans())
    for number in range(draw(st.integers(1, 3))):
        rows = []
        for i in range(draw(st.integers(0, 25))):
            row = {"id": f"d{0 if repeat_ids else number * 100 + i}", "text": draw(texts())}
            rows.append(row)
        files.append((draw(st.sampled_from(["parquet", "jsonl"])), rows))
    return files


STEP_CHOICES = [
    {"gopher_quality": {"min_words": 5}},
    {"gopher_repetition": {}},
    {"c4": {"min_sentences": 1}},
    {"c4": {"remove_lines": True, "min_sentences": 1}},
    {"fineweb_quality": {}},
    {"exact_dedup": {}},
    {"minhash_dedup": {"threshold": 0.8, "rows_per_bucket": 10}},
    {"gopher_quality": {"min_words": 20, "stats": True}},
]


def write(folder: Path, files: list[tuple[str, list[dict]]], broken: bool) -> None:
    folder.mkdir(parents=True)
    for number, (kind, rows) in enumerate(files):
        path = folder / f"part-{number}.{kind}"
        if kind == "jsonl":
            lines = [json.dumps(r) for r in rows] + (["{broken"] if broken else [])
            path.write_text("".join(line + "\n" for line in lines))
        else:
            texts = [
                r["text"] if isinstance(r["text"], (str, type(None))) else str(r["text"])
                for r in rows
            ]
            pq.write_table(
                pa.table({"id": [r["id"] for r in rows], "text": pa.array(texts, pa.string())}),
                path,
            )


def check_reconciles(manifest: dict, out: Path, files: list[tuple[str, list[dict]]]) -> None:
    kept, rejected = outputs(out)
    rows = manifest["rows"]
    assert rows["in"] == rows["kept"] + rows["rejected"] == kept.num_rows + rejected.num_rows
    assert rejected["reject_reason"].null_count == 0
    assert rows["in"] >= sum(len(r) for _, r in files)  # broken lines are rows too
    ids = kept["id"].to_pylist() + rejected["id"].to_pylist()
    assert len(ids) == len(set(ids))  # every row once


def run_or_one_line(recipe: object, runner: str) -> dict | None:
    """The manifest, or None after asserting the error is about the input and one line."""
    try:
        return run_recipe(recipe, runner, progress=False)
    except (SchemaError, RecipeError) as err:
        assert len(str(err).strip().splitlines()) == 1, str(err)
        event(f"stopped: {type(err).__name__}: {str(err)[:60]}")
        return None


@seed(SEED)
@PROFILE
@given(
    files=shards(),
    steps=st.lists(
        st.sampled_from(STEP_CHOICES), min_size=1, max_size=4, unique_by=lambda s: next(iter(s))
    ),
    broken=st.booleans(),
)
def test_random_shards_and_recipes_reconcile_or_fail_in_one_line(
    tmp_path_factory, files, steps, broken
):
    folder = tmp_path_factory.mktemp("fuzz")
    write(folder / "in", files, broken)
    spec = {
        "name": "fuzz",
        "input": {"path": str(folder / "in"), "chunk_rows": 7},
        "output": {"path": str(folder / "out")},
        "steps": steps,
    }
    manifest = run_or_one_line(parse_recipe(spec), "local")
    if manifest is not None:
        event("reconciled")
        check_reconciles(manifest, folder / "out", files)


@pytest.mark.slow
def test_random_runs_match_on_ray_and_after_a_kill(tmp_path, ray_session):
    rng = random.Random(SEED)
    for attempt in range(max(1, EXAMPLES // 6)):
        files = _drawn(rng)
        folder = tmp_path / f"case-{attempt}"
        write(folder / "in", files, broken=rng.random() < 0.5)
        steps = list(
            {next(iter(s)): s for s in rng.sample(STEP_CHOICES, rng.randint(1, 4))}.values()
        )
        spec = {
            "name": "fuzz",
            "input": {"path": str(folder / "in"), "chunk_rows": 7},
            "steps": steps,
        }
        manifests = {}
        for runner in ("local", "ray"):
            recipe = parse_recipe(spec | {"output": {"path": str(folder / runner)}})
            manifests[runner] = run_or_one_line(recipe, runner)
        if manifests["local"] is None:
            assert manifests["ray"] is None
            continue
        for got, want in zip(outputs(folder / "ray"), outputs(folder / "local"), strict=True):
            assert got.equals(want)
        # Killed at a random moment, then run again: the same output as without the kill.
        (folder / "r.yaml").write_text(
            yaml.safe_dump(spec | {"output": {"path": str(folder / "killed")}})
        )
        command = [
            sys.executable,
            "-m",
            "pipeline.cli",
            "run",
            str(folder / "r.yaml"),
            "--runner",
            "local",
            "--quiet",
        ]
        first = subprocess.Popen(command, cwd=REPO, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.5, 3.0))
        first.send_signal(signal.SIGKILL)
        first.wait()
        assert subprocess.run(command, cwd=REPO, capture_output=True).returncode == 0
        for got, want in zip(outputs(folder / "killed"), outputs(folder / "local"), strict=True):
            assert got.equals(want)


def _drawn(rng: random.Random) -> list[tuple[str, list[dict]]]:
    """A seeded draw of input files for the slow test (plain random, for speed)."""
    prose = [" ".join([SENTENCE] * rng.randint(1, 10)) for _ in range(30)]
    values = prose + ["", None, 3, "\u200b", "日本語 🙂", "Home | About", SENTENCE * 300]
    files = []
    for number in range(rng.randint(1, 3)):
        rows = [
            {"id": f"d{number * 100 + i}", "text": rng.choice(values)}
            for i in range(rng.randint(5, 40))
        ]
        files.append((rng.choice(["parquet", "jsonl"]), rows))
    return files
