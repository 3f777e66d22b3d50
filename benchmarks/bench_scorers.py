"""Model scorers: quality on the labelled eval set, and speed from raw model call to Ray.

    .venv/bin/python benchmarks/bench_scorers.py [--docs N] [--repeat R] [--no-ray] [--no-lm]

Needs the demo models from `make models`. Quality: language ID, the quality classifier, KenLM
and the small causal LM on models/data/labelled-eval.parquet. Speed, on the same web-length
texts (the eval set's clean + noisy rows repeated to N docs): (a) the bare model call, (b) the
tamis step as a library (`split` on 4096-row chunks), (c) a one-step recipe with the local
runner and (d) with the Ray runner (after one untimed warm-up run). (a)-(c) are the best of
R interleaved rounds (one round for the LM), measured side by side.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
MODELS = Path(os.environ.setdefault("TAMIS_MODELS", str(REPO / "models"))).resolve()
os.environ["TAMIS_MODELS"] = str(MODELS)  # absolute, so Ray workers find it too
os.environ.setdefault("TQDM_DISABLE", "1")  # transformers' GGUF loading bars
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")

from timing import best  # noqa: E402

from pipeline.core.recipe import parse_recipe  # noqa: E402
from pipeline.core.registry import get_step  # noqa: E402
from pipeline.run.runner import run_recipe  # noqa: E402
from scorers.base import Scorer  # noqa: E402
from scorers.ccnet import normalise  # noqa: E402
from scorers.lang_id import fasttext_lines  # noqa: E402
from scorers.quality import fasttext_input  # noqa: E402
from scorers.train_quality import roc_auc  # noqa: E402

NEEDED = ["quality-demo.bin", "wiki-en/model.bin", "wiki-en/sp.model", "data/labelled-eval.parquet"]
LM_TOKENS = 256
KINDS = ("clean", "noisy", "non_english")
# name -> recipe step (key, params); the speed goal in docs/s per core, if any
SCORERS: dict[str, tuple[str, dict[str, Any], int | None]] = {
    "lang_id": ("lang_id", {"languages": ["en"], "min_score": 0.65}, 3000),
    "quality": ("quality_classifier", {"min": 0.5}, None),
    "kenlm": ("kenlm_perplexity", {}, 1500),
    "lm": ("lm_perplexity", {"max_tokens": LM_TOKENS, "device": "cpu"}, None),
}


def machine() -> str:
    """Cores, CPU model and Python version."""
    cpuinfo = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    names = [ln.split(":", 1)[1] for ln in cpuinfo.splitlines() if ln.startswith("model name")]
    cpu = names[0].strip() if names else platform.processor() or platform.machine()
    return f"{os.cpu_count()} cores, {cpu}, python {platform.python_version()}"


def make(name: str) -> Scorer:
    """The scorer for one SCORERS entry, loaded."""
    key, params, _ = SCORERS[name]
    scorer = get_step(key)(params)
    scorer.ready()
    return scorer


def auc(pos: np.ndarray, neg: np.ndarray) -> float:
    """ROC AUC of `pos` scoring above `neg` (NaN scores count as lowest)."""
    scores = np.nan_to_num(np.concatenate([pos, neg]).astype(np.float64), nan=-np.inf)
    return roc_auc(np.r_[np.ones(len(pos)), np.zeros(len(neg))], scores)


def verdict(ok: bool) -> str:
    """PASS or FAIL."""
    return "PASS" if ok else "FAIL"


def lid_quality(evalset: pa.Table, label: np.ndarray) -> None:
    """Print language ID's rejection of non-English and keeping of English, with the goals, for
    the language rule alone and with the demo's extra `min_score` cut."""
    foreign = label == "non_english"
    for params in ({"languages": ["en"]}, {"languages": ["en"], "min_score": 0.65}):
        step = get_step("lang_id")(params)
        rejected = pc.is_valid(step.reasons(evalset)).to_numpy(zero_copy_only=False)
        caught, kept = rejected[foreign].mean(), (~rejected[~foreign]).mean()
        precision = (rejected & foreign).sum() / max(rejected.sum(), 1)
        print(f"lang_id {params} on {len(label)} docs:")
        print(f"  non-English rejected {caught:.1%} {verdict(caught >= 0.98)} (goal >= 98%)")
        print(f"  English kept         {kept:.1%} {verdict(kept >= 0.98)} (goal >= 98%)")
        by = [f"{k} {(~rejected[label == k]).mean():.1%}" for k in KINDS[:2]]
        print(f"  English kept by label: {', '.join(by)}")
        print(f"  non-English detection: precision {precision:.3f}, recall {caught:.3f}")
        lost = Counter(np.array(evalset["source"].to_pylist())[rejected & ~foreign]).most_common(5)
        print("  English rejected by source: " + ", ".join(f"{s} {c}" for s, c in lost))


def classifier_quality(evalset: pa.Table, label: np.ndarray) -> None:
    """Print the quality classifier's precision / recall of clean at 0.5 and its ROC AUC."""
    web = evalset.filter(pa.array(label != "non_english"))
    is_clean = label[label != "non_english"] == "clean"
    q = make("quality")(web)["quality_score"].to_numpy()
    hit, q_auc = q >= 0.5, auc(q[is_clean], q[~is_clean])
    precision = (hit & is_clean).sum() / max(hit.sum(), 1)
    print(f"quality classifier, clean vs noisy ({is_clean.sum()} / {(~is_clean).sum()} docs):")
    print(f"  clean at score >= 0.5: precision {precision:.3f}, recall {hit[is_clean].mean():.3f}")
    print(f"  ROC AUC {q_auc:.3f} {verdict(q_auc >= 0.95)} (goal >= 0.95)")


def perplexity_quality(what: str, neg: dict[str, np.ndarray]) -> None:
    """Print the ROC AUC of -perplexity (`neg`, by label) for clean vs noisy and non-English."""
    pairs = [f"clean vs {k} {auc(neg['clean'], neg[k]):.3f}" for k in KINDS[1:]]
    print(f"{what} -perplexity ROC AUC: {', '.join(pairs)}")


def quality(evalset: pa.Table, lm_docs: int | None) -> None:
    """Print the quality section: each scorer on the labelled eval set (the LM on a sample)."""
    label = np.array(evalset["label"].to_pylist())
    lid_quality(evalset, label)
    classifier_quality(evalset, label)
    ppl = make("kenlm")(evalset)["kenlm_perplexity"].to_numpy()
    perplexity_quality("kenlm", {k: -ppl[label == k] for k in KINDS})
    if lm_docs:
        rng = np.random.default_rng(0)
        picks = {k: rng.choice(np.flatnonzero(label == k), lm_docs // 2, False) for k in KINDS}
        lm = make("lm")
        neg = {k: -lm.perplexities(evalset["text"].take(v).to_pylist()) for k, v in picks.items()}
        perplexity_quality(
            f"lm_perplexity ({lm_docs // 2} docs per label, {LM_TOKENS} tokens)", neg
        )


def raw_call(name: str, scorer: Any, texts: list[str]) -> Callable[[], None]:
    """The bare model call on `texts`, inputs prepared outside the timing where the step would."""
    if name == "lang_id":
        lines = fasttext_lines(texts)
        return lambda: scorer._model.predict(lines, k=1)
    if name == "quality":
        lines = fasttext_input(texts)
        return lambda: scorer._model.predict(lines, k=-1)
    if name == "lm":
        size = scorer.batch_size
        batches = [texts[i : i + size] for i in range(0, len(texts), size)]
        return lambda: [scorer.perplexities(batch) for batch in batches]
    sp, lm = scorer._sp, scorer._lm

    def kenlm_loop() -> None:
        for text in texts:
            lines = [ln for ln in map(normalise, text.split("\n")) if ln]
            sum(lm.score(" ".join(pieces)) for pieces in sp.encode(lines, out_type=str))

    return kenlm_loop


def as_library(scorer: Scorer, table: pa.Table) -> Callable[[], None]:
    """The step's `split` over 4096-row chunks, as the local runner feeds it."""
    chunks = [pa.Table.from_batches([b]) for b in table.to_batches(max_chunksize=4096)]
    return lambda: [scorer.split(chunk) for chunk in chunks]


def threads(name: str) -> int:
    """Cores a scorer's model call uses in this process: torch's threads for the LM, else one."""
    if name != "lm":
        return 1
    import torch

    return torch.get_num_threads()


def write_shards(table: pa.Table, folder: Path, rows: int = 1000) -> None:
    """`table` as Parquet shards of `rows` rows."""
    folder.mkdir(parents=True)
    for i in range(0, table.num_rows, rows):
        pq.write_table(table.slice(i, rows), folder / f"part-{i // rows:04d}.parquet")


def pipeline_seconds(name: str, folder: Path, out: Path, runner: str) -> float:
    """Seconds for a one-step recipe (read, score, filter, write, manifest) with `runner`."""
    key, params, _ = SCORERS[name]
    recipe = parse_recipe(
        {
            "name": f"bench-{name}-{runner}",
            "input": {"path": str(folder)},
            "output": {"path": str(out)},
            "steps": [{key: params}],
        }
    )
    start = time.perf_counter()
    run_recipe(recipe, runner=runner, progress=False, overwrite=True)
    return time.perf_counter() - start


def docs_table(evalset: pa.Table, n: int) -> pa.Table:
    """The eval set's clean + noisy texts repeated to `n` rows, with unique ids."""
    texts = evalset.filter(pc.not_equal(evalset["label"], "non_english"))["text"].to_pylist()
    texts = (texts * (n // len(texts) + 1))[:n]
    return pa.table({"id": [f"d{i}" for i in range(n)], "text": texts})


@dataclass
class Timing:
    """Seconds for one scorer's docs on each path; `threads` is the cores its model call used."""

    docs: int
    threads: int
    load: float
    raw: float
    lib: float
    local: float
    ray: float | None = None


def measure(name: str, table: pa.Table, folder: Path, repeat: int) -> Timing:
    """Time (a) raw, (b) library and (c) local runner for one scorer on `table` (in `folder`)."""
    start = time.perf_counter()
    scorer = make(name)
    load = time.perf_counter() - start
    out = folder.with_name(f"{name}-local")
    raw, lib, local = best(
        [
            raw_call(name, scorer, table["text"].to_pylist()),
            as_library(scorer, table),
            lambda: pipeline_seconds(name, folder, out, "local"),
        ],
        repeat,
    )
    return Timing(table.num_rows, threads(name), load, raw, lib, local)


def report(timings: dict[str, Timing]) -> None:
    """Print docs/s per core on each path, the speed goals and the overheads vs raw."""
    cores = os.cpu_count() or 1
    print(f"docs/s per core ((a)-(c): / threads, (d): / {cores} cores; (c), (d) include loads)")
    head = ["scorer", "docs", "threads", "load s", "(a) raw", "(b) lib", "(c) local", "(d) ray"]
    print(f"{head[0]:<9}{head[1]:>6}" + "".join(f"{h:>8}" for h in head[2:4]), end="")
    print("".join(f"{h:>10}" for h in head[4:]))
    for name, t in timings.items():
        rates = [t.docs / s / t.threads for s in (t.raw, t.lib, t.local)]
        rates.append(t.docs / t.ray / cores if t.ray else 0.0)
        goal = SCORERS[name][2]
        mark = f"  (b) >= {goal}: {verdict(rates[1] >= goal)}" if goal else ""
        cells = "".join(f"{r:>10.{2 if r < 10 else 0}f}" if r else f"{'-':>10}" for r in rates)
        print(f"{name:<9}{t.docs:>6}{t.threads:>8}{t.load:>8.2f}{cells}{mark}")
    print("overhead vs (a) (goal <= 15%; (c) minus one model load)")
    for name, t in timings.items():
        lib, local = t.lib / t.raw - 1, (t.local - t.load) / t.raw - 1
        cells = [f"{k} {v:+7.1%} {verdict(v <= 0.15)}" for k, v in (("(b)", lib), ("(c)", local))]
        print(f"  {name:<9}" + "   ".join(cells))


def speed(names: list[str], evalset: pa.Table, args: argparse.Namespace, scratch: Path) -> None:
    """Measure every scorer on (a)-(c), then all on (d) once Ray is up, and print the table."""
    timings = {}
    for name in names:
        table = docs_table(evalset, args.lm_docs if name == "lm" else args.docs)
        write_shards(table, scratch / name)
        repeat = 1 if name == "lm" else args.repeat
        timings[name] = measure(name, table, scratch / name, repeat)
    if not args.no_ray:
        import ray

        ray.init(include_dashboard=False, logging_level="ERROR")
        pipeline_seconds(names[0], scratch / names[0], scratch / "warm-up", "ray")  # untimed
        for name in names:
            out = scratch / f"{name}-ray"
            timings[name].ray = pipeline_seconds(name, scratch / name, out, "ray")
    report(timings)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=4000, help="docs for the speed runs")
    parser.add_argument("--lm-docs", type=int, default=64, help="docs for the causal LM")
    parser.add_argument("--repeat", type=int, default=3, help="rounds of (a)-(c), best kept")
    parser.add_argument("--no-ray", action="store_true", help="skip the Ray runner")
    parser.add_argument("--no-lm", action="store_true", help="skip the causal LM (SmolLM2)")
    args = parser.parse_args()
    missing = [f for f in NEEDED if not (MODELS / f).exists()]
    if missing:
        sys.exit(f"demo models missing in {MODELS} ({', '.join(missing)}): run `make models`")
    print(f"machine: {machine()}")
    evalset = pq.read_table(MODELS / "data" / "labelled-eval.parquet")
    quality(evalset, None if args.no_lm else args.lm_docs)
    names = [n for n in SCORERS if n != "lm" or not args.no_lm]
    scratch = Path(tempfile.mkdtemp(prefix="tamis-bench-scorers-"))
    try:
        speed(names, evalset, args, scratch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
