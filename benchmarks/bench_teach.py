"""The teach loop: agreement and throughput of a small classifier against its LLM teacher.

    .venv/bin/python benchmarks/bench_teach.py [--docs N] [--agree-docs A] [--loop-docs L]
        [--score-docs M] [--ray] [--endpoint URL --model NAME] [--prompt FILE]

Without --endpoint it starts the project's teacher server (SmolLM2-135M on CPU); the default
prompt is tests/teach/yesno.yaml, the one rubric that weak model answers in format. Prints:
(1) annotation throughput with 1, 4 and 16 requests in flight (N documents each, fresh cache;
    with --ray also through `annotate --runner ray` at 16, Ray started beforehand);
(2) agreement, in the metrics training prints (macro F1 over scores, F1 and accuracy of the
    keep decision, Spearman), of: the teacher with itself, the same A documents asked twice at
    temperature 0.7 as repeats 1 and 2 (cache keys of their own): the ceiling for any student;
    the student trained on the teacher's own answers to L documents (annotate -> train), on its
    held-out rows; and a student trained on the samples' source labels (reference text 4,
    synthetic noise 0), a teacher the weak local model cannot be;
(3) scoring throughput of the small model (MiniLM + head, M documents: the score step) vs the
    teacher.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pipeline.teach.annotate import SCHEMA, annotate, sample_documents, write_annotations  # noqa: E402
from pipeline.teach.cache import AnswerCache  # noqa: E402
from pipeline.teach.client import ChatClient  # noqa: E402
from pipeline.teach.prompt import Rubric, load_rubric  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
# The weak local teacher answers this yes/no rubric (first word of the reply) in most cases;
# it almost never writes the "Score: N" line of tests/teach/short.yaml or configs/prompts/edu.yaml.
YESNO = REPO / "tests" / "teach" / "yesno.yaml"
CLEAN = ["wikitext", "state_union", "shakespeare", "gsm8k"]
SOURCE_THRESHOLD = 3  # source labels are 4 (reference) or 0 (noise) on a 0-5 scale


def scale_of(rubric: Rubric) -> tuple[int, int]:
    """The rubric's score range: its scale, or label positions."""
    return rubric.scale or (0, len(rubric.labels or ()) - 1)


def keep_threshold(rubric: Rubric) -> int:
    """The keep decision's threshold: 3 on a 0-5 scale (FineWeb-Edu's), else the top score."""
    low, high = scale_of(rubric)
    return 3 if (low, high) == (0, 5) else high


def throughput(
    docs: pa.Table, rubric: Rubric, client: ChatClient, work: Path, ray: bool
) -> dict[str, float]:
    """Documents per second with 1, 4 and 16 requests in flight (nothing cached)."""
    found = {}
    for concurrency in (1, 4, 16):
        started = time.time()
        annotate(docs, rubric, client, AnswerCache(work / f"c{concurrency}"), concurrency)
        found[f"local {concurrency}"] = docs.num_rows / (time.time() - started)
        print(
            f"  {concurrency:>2} in flight: {found[f'local {concurrency}']:.2f} docs/s", flush=True
        )
    if ray:
        from pipeline.run.ray_executor import RayExecutor
        from pipeline.teach.ray_annotate import annotate_on_ray

        RayExecutor()  # a local Ray, started before the clock runs
        warm = sample_documents(str(REPO / "samples" / "web"), 4, seed=98)
        annotate_on_ray(warm, rubric, client, AnswerCache(work / "ray-warm"), 16)
        started = time.time()
        annotate_on_ray(docs, rubric, client, AnswerCache(work / "ray16"), 16)
        found["ray 16"] = docs.num_rows / (time.time() - started)
        print(
            f"  16 in flight, --runner ray (Ray up before; actor start-up timed): "
            f"{found['ray 16']:.2f} docs/s"
            f" ({found['ray 16'] / found['local 16']:.2f}x local)",
            flush=True,
        )
    return found


def agreement_row(what: str, m: dict[str, Any] | None, note: str = "") -> None:
    """One line of the agreement table."""
    if m is None:
        print(f"  {what:<44} {'-':>5} {note}")
        return
    print(
        f"  {what:<44} {m['docs']:>5} {m['macro_f1']:>8.3f} {m['keep_f1']:>8.3f} "
        f"{m['keep_accuracy']:>8.3f} {m['spearman']:>8.3f} {note}"
    )


def self_agreement(
    docs: pa.Table, rubric: Rubric, client: ChatClient, work: Path, threshold: int
) -> tuple[dict[str, Any] | None, str]:
    """The teacher against itself with sampling on, in one cache (repeats 1 and 2 are keys of
    their own): the ceiling for any student."""
    from scorers.train_classifier import metrics

    sampled = replace(rubric, temperature=0.7)
    cache = AnswerCache(work / "repeats")
    runs = [annotate(docs, sampled, client, cache, 16, repeat=r)[0] for r in (1, 2)]
    a, b = (np.array(r["score"].to_pylist(), dtype=object) for r in runs)
    both = np.array([x is not None and y is not None for x, y in zip(a, b)])
    same_raw = np.mean(np.array(runs[0]["raw"].to_pylist()) == np.array(runs[1]["raw"].to_pylist()))
    note = f"parsed in both {both.sum()}/{len(a)}, identical replies {same_raw:.2f}" + (
        f", same score {np.mean(a[both] == b[both]):.2f}" if both.any() else ""
    )
    if both.sum() < 2:
        return None, note
    truth, other = a[both].astype(np.int64), b[both].astype(np.float64)
    return metrics(truth, other, threshold), note


def source_labelled(samples: Path, out: Path, rows: int) -> Path:
    """Annotations whose 'teacher' is the samples' source column."""
    table = pq.read_table(sorted(samples.glob("*.parquet"))[1], columns=["id", "text", "source"])
    clean = pc.is_in(table["source"], pa.array(CLEAN))
    table = table.filter(pc.or_(clean, pc.starts_with(table["source"], "noise:"))).slice(0, rows)
    scores = pc.cast(pc.if_else(pc.is_in(table["source"], pa.array(CLEAN)), 4, 0), pa.int32())
    n = table.num_rows
    write_annotations(
        pa.table(
            {
                "id": table["id"],
                "text": table["text"],
                "score": scores,
                "label": pc.cast(scores, pa.string()),
                "raw": pc.cast(scores, pa.string()),
                "model": pa.array(["sources"] * n),
                "prompt_hash": pa.array(["-"] * n),
                "parse_error": pa.nulls(n, pa.string()),
            },
            schema=SCHEMA,
        ),
        out,
        {"rubric": {"scale": [0, 5]}, "teacher": {"model": "source column"}, "sample": n},
    )
    return out


def student(annotations: Path, out: Path, threshold: int) -> tuple[dict[str, Any] | None, str]:
    """Train a head on `annotations`; its held-out agreement with the teacher, and a note."""
    from pipeline.core.errors import SchemaError
    from scorers.train_classifier import train_classifier

    try:
        card = train_classifier(str(annotations), out, threshold=threshold)
    except SchemaError as err:
        return None, f"not trained: {str(err).split(': ', 1)[-1][:90]}"
    data = card["data"]
    scores = ", ".join(f"{k}:{v}" for k, v in data["scores"].items())
    found = card["metrics_heldout"]
    note = f"trained on {data['train']} ({data['rated']} rated: {scores})"
    if np.isnan(found["spearman"]):  # metrics() gives NaN when the teacher's side is constant
        note += "; held-out rows hold one score only: F1 and accuracy say nothing"
    return found, note


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=16, help="documents per throughput run")
    parser.add_argument("--agree-docs", type=int, default=48, help="documents asked twice")
    parser.add_argument("--loop-docs", type=int, default=160, help="teacher-labelled documents")
    parser.add_argument("--score-docs", type=int, default=512)
    parser.add_argument("--labelled", type=int, default=240, help="source-labelled rows")
    parser.add_argument("--ray", action="store_true", help="also time `--runner ray` at 16")
    parser.add_argument("--endpoint")
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--prompt", default=str(YESNO))
    parser.add_argument(
        "--keep-answers",
        help="folder for the answers of (2), kept between runs: a rerun resumes (throughput "
        "is always measured on a fresh cache)",
    )
    args = parser.parse_args()
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"
    )
    server = None
    if args.endpoint is None:
        from pipeline.teach.teacher_server import spawn

        started = time.time()
        server, args.endpoint = spawn()
        print(f"teacher: local server ({args.model}, CPU), up in {time.time() - started:.0f} s")
    samples = REPO / "samples" / "web"
    rubric = load_rubric(args.prompt)
    threshold = keep_threshold(rubric)
    client = ChatClient(args.endpoint, args.model, api_key=os.environ.get("OPENAI_API_KEY"))
    try:
        with tempfile.TemporaryDirectory() as work_dir:
            work = Path(work_dir)
            kept = Path(args.keep_answers) if args.keep_answers else work
            # Untimed warm-up: torch's first calls on new input shapes are several times slower.
            warm = sample_documents(str(samples), min(8, args.docs), seed=99)
            annotate(warm, rubric, client, AnswerCache(work / "warm"), 1)
            annotate(warm, rubric, client, AnswerCache(work / "warm4"), 4)
            docs = sample_documents(str(samples), args.docs, seed=0)
            print(f"(1) annotation throughput, {args.docs} docs, prompt {Path(args.prompt).name}:")
            rates = throughput(docs, rubric, client, work, args.ray)

            print(
                f"(2) agreement, held-out or repeated (keep = score >= {threshold}; "
                f"{SOURCE_THRESHOLD} for source labels):\n"
                f"  {'':<44} {'rows':>5} {'macro F1':>8} {'keep F1':>8} {'keep acc':>8} "
                f"{'Spearman':>8}"
            )
            agree = sample_documents(str(samples), args.agree_docs, seed=1)
            agreement_row(
                f"teacher vs itself, T=0.7 ({args.agree_docs} docs)",
                *self_agreement(agree, rubric, client, kept, threshold),
            )
            started = time.time()
            loop = sample_documents(str(samples), args.loop_docs, seed=2)
            table, _ = annotate(loop, rubric, client, AnswerCache(kept / "loop"), 16)
            teacher_ann = work / "teacher.parquet"
            write_annotations(table, teacher_ann, {"rubric": {"scale": list(scale_of(rubric))}})
            found, note = student(teacher_ann, work / "from-teacher", threshold)
            agreement_row(
                f"student on the teacher's labels ({args.loop_docs} docs)",
                found,
                f"{note}; annotate+train {time.time() - started:.0f} s",
            )
            labelled = source_labelled(samples, work / "sources.parquet", args.labelled)
            found_src, note = student(labelled, work / "from-sources", SOURCE_THRESHOLD)
            agreement_row(f"student on source labels ({args.labelled} rows)", found_src, note)

            model = work / "from-teacher" if found is not None else work / "from-sources"
            print(f"(3) scoring throughput, {args.score_docs} docs ({model.name} student):")
            if (model / "card.json").exists():
                from scorers.embedding_classifier import EmbeddingClassifier

                scorer = EmbeddingClassifier(model=str(model))
                texts = sample_documents(str(samples), args.score_docs, seed=1)["text"]
                scorer(texts.slice(0, 8).to_pylist())  # load the model untimed
                started = time.time()
                scored = scorer(texts.to_pylist())["edu_score"]
                rate = args.score_docs / (time.time() - started)
                best = max(rates.values())
                print(
                    f"  small model (MiniLM + head): {rate:.1f} docs/s; teacher: {best:.2f} "
                    f"docs/s at best -> {rate / best:.0f}x; mean score "
                    f"{pc.mean(scored).as_py():.2f}"
                )
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
