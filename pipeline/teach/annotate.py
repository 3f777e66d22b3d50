"""`tamis annotate`: rate a seeded sample of documents with an LLM endpoint and a rubric."""

from __future__ import annotations

import argparse
import heapq
import json
import os
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import xxhash

from pipeline.core.errors import RecipeError, SchemaError
from pipeline.io.readers import ReadOptions, discover, read_shard
from pipeline.teach.cache import AnswerCache, answer_key
from pipeline.teach.client import ChatClient, Completion
from pipeline.teach.prompt import Rubric, load_rubric

SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("text", pa.string()),
        ("score", pa.int32()),
        ("label", pa.string()),
        ("raw", pa.string()),
        ("model", pa.string()),
        ("prompt_hash", pa.string()),
        ("parse_error", pa.string()),
    ]
)


def sample_documents(path: str, count: int, seed: int, text_column: str = "text") -> pa.Table:
    """`count` valid rows (id, text) of an input, chosen by the smallest hash of (seed, id):
    the same sample on every run, streamed in bounded memory."""
    opts = ReadOptions(text_column=text_column)
    shards = discover(path)
    if not shards:
        raise SchemaError(f"{path}: no input files (Parquet, JSONL, HF datasets) found")
    heap: list[tuple[int, str, str]] = []  # (-priority, id, text): the `count` smallest kept
    for shard in shards:
        for chunk in read_shard(shard, opts):
            valid = chunk.filter(pc.is_null(chunk["reject_reason"]))
            for doc_id, text in zip(
                valid[opts.id_column].to_pylist(), valid[text_column].to_pylist()
            ):
                priority = xxhash.xxh64_intdigest(str(doc_id).encode(), seed)
                item = (-priority, str(doc_id), text)
                if len(heap) < count:
                    heapq.heappush(heap, item)
                elif item > heap[0]:
                    heapq.heapreplace(heap, item)
    chosen = sorted(heap, reverse=True)  # smallest priority first
    return pa.table(
        {"id": [d for _, d, _ in chosen], "text": [t for _, _, t in chosen]},
        schema=pa.schema([("id", pa.string()), ("text", pa.string())]),
    )


@dataclass
class Tally:
    """What a run of annotate did: answers, cache hits, tokens paid and parse failures."""

    done: int = 0
    cached: int = 0
    failed_parse: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    started: float = field(default_factory=time.time)

    def cost(self, price_in: float, price_out: float) -> float:
        """Dollars paid this run, at prices per million tokens."""
        return (self.prompt_tokens * price_in + self.completion_tokens * price_out) / 1e6

    def line(self, total: int, price_in: float, price_out: float) -> str:
        """A progress line."""
        seconds = max(time.time() - self.started, 1e-9)
        fresh = self.done - self.cached
        return (
            f"annotate: {self.done}/{total} ({self.cached} cached, {fresh / seconds:.2f} new/s), "
            f"{self.failed_parse} unparsed, tokens {self.prompt_tokens:,} in / "
            f"{self.completion_tokens:,} out, ~${self.cost(price_in, price_out):.4f}"
        )


def annotate(
    docs: pa.Table,
    rubric: Rubric,
    client: ChatClient,
    cache: AnswerCache,
    concurrency: int = 4,
    progress: Callable[[Tally], None] | None = None,
) -> tuple[pa.Table, Tally]:
    """Every document of `docs` (id, text) rated: cached answers first, the rest at most
    `concurrency` at a time, each answer cached the moment it arrives."""
    tally = Tally()
    texts = docs["text"].to_pylist()
    keys = [answer_key(rubric.hash, client.model, t) for t in texts]
    replies: list[str | None] = [None] * len(texts)
    todo = []
    for i, key in enumerate(keys):
        stored = cache.get(key)
        if stored is None:
            todo.append(i)
            continue
        replies[i] = stored["content"]
        tally.done += 1
        tally.cached += 1

    def ask(i: int) -> tuple[int, Completion]:
        reply = client.complete(rubric.messages(texts[i]), rubric.max_tokens, rubric.temperature)
        cache.put(
            keys[i],
            {
                "content": reply.content,
                "prompt_tokens": reply.prompt_tokens,
                "completion_tokens": reply.completion_tokens,
                "model": client.model,
                "prompt_hash": rubric.hash,
            },
        )
        return i, reply

    with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
        futures = [pool.submit(ask, i) for i in todo]
        try:
            for future in as_completed(futures):
                i, reply = future.result()
                replies[i] = reply.content
                tally.done += 1
                tally.prompt_tokens += reply.prompt_tokens
                tally.completion_tokens += reply.completion_tokens
                if progress is not None:
                    progress(tally)
        except BaseException:
            for future in futures:
                future.cancel()
            raise
    columns: dict[str, list[Any]] = {name: [] for name in SCHEMA.names}
    for doc_id, text, reply in zip(docs["id"].to_pylist(), texts, replies):
        answer = rubric.parse(reply or "")
        tally.failed_parse += answer.error is not None
        columns["id"].append(doc_id)
        columns["text"].append(text)
        columns["score"].append(answer.score)
        columns["label"].append(answer.label)
        columns["raw"].append(reply)
        columns["model"].append(client.model)
        columns["prompt_hash"].append(rubric.hash)
        columns["parse_error"].append(answer.error)
    return pa.table(columns, schema=SCHEMA), tally


def write_annotations(table: pa.Table, out: Path, about: dict[str, Any]) -> None:
    """Write the annotations atomically, with `about` (prompt, teacher, input) in the Parquet
    metadata under `tamis.annotations`, for the model card."""
    out.parent.mkdir(parents=True, exist_ok=True)
    table = table.replace_schema_metadata({"tamis.annotations": json.dumps(about)})
    partial = out.with_name(out.name + ".partial")
    pq.write_table(table, partial)
    os.replace(partial, out)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The `tamis annotate` arguments."""
    parser.add_argument("--input", required=True, help="documents: Parquet, JSONL, HF dataset")
    parser.add_argument(
        "--prompt", required=True, help="rubric file, e.g. configs/prompts/edu.yaml"
    )
    parser.add_argument("--endpoint", required=True, help="OpenAI-compatible base URL")
    parser.add_argument("--model", required=True, help="model name the endpoint serves")
    parser.add_argument("--sample", type=int, required=True, help="documents to rate")
    parser.add_argument("--out", required=True, help="annotations Parquet file")
    parser.add_argument("--concurrency", type=int, default=4, help="requests in flight at most")
    parser.add_argument("--max-chars", type=int, help="characters per document (default: prompt's)")
    parser.add_argument("--max-tokens", type=int, help="reply tokens at most (default: prompt's)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the sample")
    parser.add_argument("--cache", help="answer cache folder (default: OUT's folder/.cache)")
    parser.add_argument("--text-column", default="text")
    parser.add_argument(
        "--api-key-env", default="OPENAI_API_KEY", help="environment variable holding the key"
    )
    parser.add_argument("--retries", type=int, default=6, help="retries per request")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds per request")
    parser.add_argument("--price-per-mtok-in", type=float, default=0.0, help="$ per 1M in")
    parser.add_argument("--price-per-mtok-out", type=float, default=0.0, help="$ per 1M out")
    parser.add_argument("--quiet", action="store_true", help="no progress lines")


def main(args: argparse.Namespace) -> int:
    """Run `tamis annotate`."""
    if args.sample < 1 or args.concurrency < 1:
        raise RecipeError("--sample and --concurrency must be at least 1")
    rubric = load_rubric(args.prompt)
    overrides = {"max_chars": args.max_chars, "max_tokens": args.max_tokens}
    rubric = replace(rubric, **{k: v for k, v in overrides.items() if v})
    out = Path(args.out)
    cache = AnswerCache(args.cache or out.parent / ".cache" / "annotations")
    client = ChatClient(
        args.endpoint,
        args.model,
        api_key=os.environ.get(args.api_key_env) or None,
        retries=args.retries,
        timeout_s=args.timeout,
    )
    docs = sample_documents(args.input, args.sample, args.seed, args.text_column)
    prices = (args.price_per_mtok_in, args.price_per_mtok_out)
    shown = [0.0]

    def progress(tally: Tally) -> None:
        if not args.quiet and (time.time() - shown[0] > 2 or tally.done == docs.num_rows):
            shown[0] = time.time()
            print(tally.line(docs.num_rows, *prices), file=sys.stderr, flush=True)

    table, tally = annotate(docs, rubric, client, cache, args.concurrency, progress)
    about = {
        "prompt": {"name": rubric.name, "file": str(args.prompt), "hash": rubric.hash},
        "rubric": {
            "system": rubric.system,
            "user": rubric.user,
            "scale": rubric.scale,
            "labels": rubric.labels,
            "max_chars": rubric.max_chars,
        },
        "teacher": {"model": args.model},
        "input": str(args.input),
        "sample": docs.num_rows,
        "seed": args.seed,
    }
    write_annotations(table, out, about)
    print(
        f"{tally.line(docs.num_rows, *prices)}; retried {client.retried}; wrote {out} "
        f"({docs.num_rows - tally.failed_parse} scored, {tally.failed_parse} unparsed)"
    )
    return 0
