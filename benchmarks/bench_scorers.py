"""Model scorers: quality on the labelled eval set, and speed from raw model call to Ray.

    .venv/bin/python benchmarks/bench_scorers.py [--docs N] [--repeat R] [--no-ray] [--no-lm]

Needs the demo models from `make models`. Quality: language ID, the quality classifier, KenLM
and the small causal LM on models/data/labelled-eval.parquet. Speed, on the same web-length
texts (the eval set's clean + noisy rows repeated to N docs): (a) the bare model call, (b) the
tamis step as a library (`split` on 4096-row chunks), (c) a one-step recipe with the local
runner and (d) with the Ray runner. (a) and (b) are the best of R runs, measured side by side.
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

from pipeline.recipe import parse_recipe  # noqa: E402
from pipeline.registry import get_step  # noqa: E402
from pipeline.runner import run_recipe  # noqa: E402
from scorers.base import Scorer  # noqa: E402
from scorers.ccnet import normalise  # noqa: E402
from scorers.lang_id import fasttext_lines  # noqa: E402
from scorers.quality import fasttext_input  # noqa: E402
from scorers.train_quality import roc_auc  # noqa: E402

NEEDED = ["quality-demo.bin", "wiki-en/model.bin", "wiki-en/sp.model", "data/labelled-eval.parquet"]
LM_TOKENS = 256
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
    models = [ln.split(":", 1)[1].strip() for ln in cpuinfo.splitlines() if ln.startswith("model name")]
    cpu = models[0] if models else platform.processor() or platform.machine()
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


def quality(evalset: pa.Table, lm_docs: int | None) -> None:
    """Print LID, quality classifier, KenLM and (on a sample) LM accuracy on the eval set."""
    label = np.array(evalset["label"].to_pylist())
    foreign, english, clean = label == "non_english", label != "non_english", label == "clean"
    noisy = label == "noisy"
    rejected = pc.is_valid(make("lang_id").reasons(evalset)).to_numpy(zero_copy_only=False)
    caught, kept = rejected[foreign].mean(), (~rejected[english]).mean()
    precision = (rejected & foreign).sum() / max(rejected.sum(), 1)
    print(f"lang_id (en, min_score 0.65) on {len(label)} docs:")
    print(f"  non-English rejected {caught:.1%} {verdict(caught >= 0.98)} (goal >= 98%)")
    print(f"  English kept         {kept:.1%} {verdict(kept >= 0.98)} (goal >= 98%)")
    print(f"  clean English kept   {(~rejected[clean]).mean():.1%}, noisy {(~rejected[noisy]).mean():.1%}")
    print(f"  non-English detection: precision {precision:.3f}, recall {caught:.3f}")
    lost = Counter(np.array(evalset["source"].to_pylist())[rejected & english]).most_common(5)
    print("  English rejected by source: " + ", ".join(f"{s} {c}" for s, c in lost))
    web = evalset.filter(pc.not_equal(evalset["label"], "non_english"))
    is_clean = np.array(web["label"].to_pylist()) == "clean"
    q = make("quality")(web)["quality_score"].to_numpy()
    hit = q >= 0.5
    q_auc = auc(q[is_clean], q[~is_clean])
    print(f"quality classifier, clean vs noisy ({is_clean.sum()} / {(~is_clean).sum()} docs):")
    print(
        f"  clean at score >= 0.5: precision {(hit & is_clean).sum() / max(hit.sum(), 1):.3f}, "
        f"recall {hit[is_clean].mean():.3f}"
    )
    print(f"  ROC AUC {q_auc:.3f} {verdict(q_auc >= 0.95)} (goal >= 0.95)")
    ppl = -make("kenlm")(evalset)["kenlm_perplexity"].to_numpy()
    print(
        f"kenlm -perplexity ROC AUC: clean vs noisy {auc(ppl[clean], ppl[noisy]):.3f}, "
        f"clean vs non_english {auc(ppl[clean], ppl[foreign]):.3f}"
    )
    if lm_docs:
        rng = np.random.default_rng(0)
        picks = {k: rng.choice(np.flatnonzero(label == k), lm_docs // 2, False) for k in set(label)}
        lm = make("lm")
        neg = {k: -lm.perplexities(evalset["text"].take(v).to_pylist()) for k, v in picks.items()}
        print(
            f"lm_perplexity -perplexity ROC AUC ({lm_docs // 2} docs per label, {LM_TOKENS} tokens): "
            f"clean vs noisy {auc(neg['clean'], neg['noisy']):.3f}, "
            f"clean vs non_english {auc(neg['clean'], neg['non_english']):.3f}"
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
        return lambda: [scorer.perplexities(texts[i : i + size]) for i in range(0, len(texts), size)]
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


def best(fn: Callable[[], Any], repeat: int) -> float:
    """Fewest seconds of `repeat` calls."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


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
    run_recipe(recipe, runner=runner, progress=False)
    return time.perf_counter() - start


def docs_table(evalset: pa.Table, n: int) -> pa.Table:
    """The eval set's clean + noisy texts repeated to `n` rows, with unique ids."""
    texts = evalset.filter(pc.not_equal(evalset["label"], "non_english"))["text"].to_pylist()
    texts = (texts * (n // len(texts) + 1))[:n]
    return pa.table({"id": [f"d{i}" for i in range(n)], "text": texts})


def speed(names: list[str], evalset: pa.Table, args: argparse.Namespace, scratch: Path) -> None:
    """Print docs/s per core for (a) raw, (b) library, (c) local runner, (d) Ray runner."""
    cores = os.cpu_count() or 1
    rows: dict[str, list[Any]] = {}
    for name in names:
        table = docs_table(evalset, args.lm_docs if name == "lm" else args.docs)
        write_shards(table, scratch / name)
        start = time.perf_counter()
        scorer = make(name)
        load = time.perf_counter() - start
        texts = table["text"].to_pylist()
        t_raw = best(raw_call(name, scorer, texts), args.repeat)
        t_lib = best(as_library(scorer, table), args.repeat)
        t_local = pipeline_seconds(name, scratch / name, scratch / f"{name}-local", "local")
        rows[name] = [table.num_rows, load, t_raw, t_lib, t_local, None]
    if not args.no_ray:
        import ray

        ray.init(include_dashboard=False, logging_level="ERROR")
        for name in names:
            rows[name][5] = pipeline_seconds(name, scratch / name, scratch / f"{name}-ray", "ray")
    print(f"docs/s per core ((d): docs/s / {cores} cores; (c), (d) include one model load)")
    head = ["scorer", "docs", "load s", "(a) raw", "(b) lib", "(c) local", "(d) ray"]
    print(f"{head[0]:<9}{head[1]:>6}{head[2]:>8}" + "".join(f"{h:>11}" for h in head[3:]) + "  goal")
    for name, (n, load, t_raw, t_lib, t_local, t_ray) in rows.items():
        rates = [n / t_raw, n / t_lib, n / t_local] + [n / t_ray / cores if t_ray else None]
        goal = SCORERS[name][2]
        mark = f"  (b) >= {goal}: {verdict(rates[1] >= goal)}" if goal else ""
        cells = "".join(f"{r:>11.0f}" if r is not None else f"{'-':>11}" for r in rates)
        print(f"{name:<9}{n:>6}{load:>8.2f}{cells}{mark}")
    print("overhead vs (a) (goal <= 15%; (c) minus one model load)")
    for name, (n, load, t_raw, t_lib, t_local, _) in rows.items():
        lib, local = t_lib / t_raw - 1, (t_local - load) / t_raw - 1
        print(
            f"  {name:<9}(b) {lib:+7.1%} {verdict(lib <= 0.15)}   "
            f"(c) {local:+7.1%} {verdict(local <= 0.15)}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=4000, help="docs for the speed runs")
    parser.add_argument("--lm-docs", type=int, default=64, help="docs for the causal LM")
    parser.add_argument("--repeat", type=int, default=3, help="runs of (a) and (b), best kept")
    parser.add_argument("--no-ray", action="store_true", help="skip the Ray runner")
    parser.add_argument("--no-lm", action="store_true", help="skip the causal LM (SmolLM2)")
    args = parser.parse_args()
    missing = [f for f in NEEDED if not (MODELS / f).exists()]
    if missing:
        sys.exit(f"demo models missing in {MODELS} ({', '.join(missing)}): run `make models`")
    if not args.no_lm:
        import torch

        torch.set_num_threads(1)  # one core, like the other scorers
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
