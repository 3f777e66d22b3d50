"""What token counts cost: the heuristic recipe with and without `output.tokenizer`.

    .venv/bin/python benchmarks/bench_tokens.py [--rounds 3] [--runner local] [--copies 2]

Runs configs/web-en-heuristics.yaml over samples/web (`--copies` copies, ids made unique)
alternately with the default tokenizer (SmolLM2's) and with `tokenizer: null`, `--rounds`
times each, and prints the median wall time of each and the overhead of counting. The
tokenizer is loaded once before timing (its first load reads the GGUF and caches its JSON).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.parquet as pq

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from pipeline.core.recipe import load_recipe  # noqa: E402
from pipeline.run.runner import run_recipe  # noqa: E402
from pipeline.run.tokens import DEFAULT_TOKENIZER, load_tokenizer  # noqa: E402


def timed_run(
    recipe_path: Path, inp: Path, out: Path, tokenizer: str | None, runner: str
) -> tuple[float, dict]:
    """Seconds of one run (a fresh output) and its manifest."""
    recipe = load_recipe(recipe_path, str(inp), str(out))
    recipe = recipe.model_copy(
        update={
            "output": recipe.output.model_copy(update={"tokenizer": tokenizer, "report": False})
        }
    )
    shutil.rmtree(out, ignore_errors=True)
    t0 = time.perf_counter()
    manifest = run_recipe(recipe, runner, progress=False)
    return time.perf_counter() - t0, manifest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--runner", default="local")
    parser.add_argument("--copies", type=int, default=2, help="copies of samples/web as input")
    args = parser.parse_args()
    load_tokenizer(DEFAULT_TOKENIZER)
    with tempfile.TemporaryDirectory() as tmp:
        inp = Path(tmp) / "in"
        inp.mkdir()
        for copy in range(args.copies):
            for shard in sorted((REPO / "samples" / "web").glob("*.parquet")):
                table = pq.read_table(shard)
                ids = pc.binary_join_element_wise(f"c{copy}", table["id"], "-")
                pq.write_table(table.set_column(0, "id", ids), inp / f"c{copy}-{shard.name}")
        recipe = REPO / "configs" / "web-en-heuristics.yaml"
        times: dict[str | None, list[float]] = {None: [], DEFAULT_TOKENIZER: []}
        manifest: dict = {}
        for _ in range(args.rounds):
            for tokenizer in times:
                seconds, manifest_now = timed_run(
                    recipe, inp, Path(tmp) / "out", tokenizer, args.runner
                )
                times[tokenizer].append(seconds)
                manifest = manifest_now if tokenizer else manifest
        off, on = statistics.median(times[None]), statistics.median(times[DEFAULT_TOKENIZER])
        tokens, rows = manifest["tokens"], manifest["rows"]
        print(
            f"{rows['in']:,} rows, {tokens['in']:,} tokens in, {tokens['kept']:,} kept "
            f"({args.runner} runner, {args.rounds} rounds)"
        )
        print(
            f"  without token counts: {off:6.2f} s (median of {[round(t, 2) for t in times[None]]})"
        )
        print(
            f"  with {DEFAULT_TOKENIZER}: {on:6.2f} s "
            f"(median of {[round(t, 2) for t in times[DEFAULT_TOKENIZER]]})"
        )
        print(f"  cost of counting: {on / off - 1:+.1%} (goal: <= 10%)")


if __name__ == "__main__":
    main()
