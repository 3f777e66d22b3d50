"""The teach loop: agreement and throughput of a small classifier against its LLM teacher.

    .venv/bin/python benchmarks/bench_teach.py [--docs N] [--score-docs M] [--endpoint URL
        --model NAME] [--prompt FILE]

Without --endpoint it starts the project's teacher server (SmolLM2-135M on CPU). Prints:
(1) annotation throughput with 1, 4 and 16 requests in flight (N documents each, fresh cache);
(2) the teacher's agreement with itself: the same N documents twice at temperature 0.7;
(3) the small model's agreement with its teacher on a held-out split: trained on the teacher's
own answers when they parse (>= 20 rated, 2+ scores), and on the samples' source labels
(reference text 4, synthetic noise 0) as a teacher the weak local model cannot be;
(4) scoring throughput of the small model (embed + head, M documents) vs the teacher.
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

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pipeline.teach.annotate import SCHEMA, annotate, sample_documents, write_annotations  # noqa: E402
from pipeline.teach.cache import AnswerCache  # noqa: E402
from pipeline.teach.client import ChatClient  # noqa: E402
from pipeline.teach.prompt import load_rubric  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
SHORT = REPO / "tests" / "teach" / "short.yaml"
CLEAN = ["wikitext", "state_union", "shakespeare", "gsm8k"]


def throughput(docs: pa.Table, rubric, client: ChatClient, work: Path) -> dict[int, float]:
    """Documents per second with 1, 4 and 16 requests in flight (nothing cached)."""
    found = {}
    for concurrency in (1, 4, 16):
        started = time.time()
        annotate(docs, rubric, client, AnswerCache(work / f"c{concurrency}"), concurrency)
        found[concurrency] = docs.num_rows / (time.time() - started)
        print(f"  {concurrency:>2} in flight: {found[concurrency]:.2f} docs/s", flush=True)
    return found


def self_agreement(docs: pa.Table, rubric, client: ChatClient, work: Path) -> None:
    """The teacher against itself with sampling on: the ceiling for any student."""
    sampled = replace(rubric, temperature=0.7)
    runs = [annotate(docs, sampled, client, AnswerCache(work / f"s{i}"), 16)[0] for i in (0, 1)]
    a, b = (np.array(r["score"].to_pylist(), dtype=object) for r in runs)
    both = np.array([x is not None and y is not None for x, y in zip(a, b)])
    same_raw = np.mean(np.array(runs[0]["raw"].to_pylist()) == np.array(runs[1]["raw"].to_pylist()))
    exact = float(np.mean(a[both] == b[both])) if both.any() else float("nan")
    print(
        f"  parsed in both runs {both.sum()}/{len(a)}; same score {exact:.2f} of those; "
        f"identical replies {same_raw:.2f}"
    )


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


def student(annotations: Path, out: Path, what: str) -> Path | None:
    """Train a head on `annotations` and print its held-out agreement with the teacher."""
    from pipeline.core.errors import SchemaError
    from scorers.train_classifier import train_classifier

    try:
        card = train_classifier(str(annotations), out)
    except SchemaError as err:
        print(f"  {what}: not trained ({err})")
        return None
    m = card["metrics_heldout"]
    print(
        f"  {what}: {card['data']['train']} train / {m['docs']} held-out: keep F1 {m['keep_f1']}"
        f", keep accuracy {m['keep_accuracy']}, Spearman {m['spearman']}, macro F1 {m['macro_f1']}"
    )
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=16)
    parser.add_argument("--score-docs", type=int, default=512)
    parser.add_argument("--endpoint")
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--prompt", default=str(SHORT))
    parser.add_argument("--labelled", type=int, default=240, help="source-labelled rows")
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
    client = ChatClient(args.endpoint, args.model, api_key=os.environ.get("OPENAI_API_KEY"))
    docs = sample_documents(str(samples), args.docs, seed=0)
    try:
        with tempfile.TemporaryDirectory() as work_dir:
            work = Path(work_dir)
            # Untimed warm-up: torch's first calls on new input shapes are several times slower.
            warm = sample_documents(str(samples), 8, seed=99)
            annotate(warm, rubric, client, AnswerCache(work / "warm"), 1)
            annotate(warm, rubric, client, AnswerCache(work / "warm4"), 4)
            print(f"(1) annotation throughput, {args.docs} docs, prompt {Path(args.prompt).name}:")
            rates = throughput(docs, rubric, client, work)
            print("(2) teacher self-agreement (temperature 0.7, two runs):")
            self_agreement(docs, rubric, client, work)
            print("(3) student vs teacher on held-out rows:")
            teacher_ann = work / "teacher.parquet"
            table, _ = annotate(docs, rubric, client, AnswerCache(work / "c16"), 16)
            write_annotations(
                table, teacher_ann, {"rubric": {"scale": list(rubric.scale or (0, 1))}}
            )
            student(teacher_ann, work / "from-teacher", "on the teacher's answers")
            labelled = source_labelled(samples, work / "sources.parquet", args.labelled)
            model = student(labelled, work / "from-sources", "on source labels")
            print(f"(4) scoring throughput, {args.score_docs} docs:")
            if model is not None:
                from scorers.embedding_classifier import EmbeddingClassifier

                scorer = EmbeddingClassifier(model=str(model))
                texts = sample_documents(str(samples), args.score_docs, seed=1)["text"]
                scorer(texts.slice(0, 8).to_pylist())  # load the model untimed
                started = time.time()
                scorer(texts.to_pylist())
                rate = args.score_docs / (time.time() - started)
                print(
                    f"  small model (MiniLM + head): {rate:.1f} docs/s; teacher: "
                    f"{max(rates.values()):.2f} docs/s at best -> {rate / max(rates.values()):.0f}x"
                )
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
