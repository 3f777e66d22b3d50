"""`tamis annotate`: rate a seeded sample of documents with an LLM endpoint and a rubric."""

from __future__ import annotations

import argparse
import heapq
import json
import os
import sys
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import xxhash

from pipeline.core.errors import RecipeError, SchemaError
from pipeline.io.readers import InputShard, ReadOptions, discover, read_shard
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


Item = tuple[int, str, str]  # (-priority, id, text): the sample keeps the largest items
MapShards = Callable[[Callable[[InputShard], list[Item]], list[InputShard]], Iterable[list[Item]]]


def _keep(heap: list[Item], item: Item, count: int) -> None:
    """Push `item` into the min-heap `heap` of the `count` largest items seen."""
    if len(heap) < count:
        heapq.heappush(heap, item)
    elif item > heap[0]:
        heapq.heapreplace(heap, item)


def shard_sample(shard: InputShard, count: int, seed: int, opts: ReadOptions) -> list[Item]:
    """The `count` valid rows of one shard with the smallest hash of (seed, id), streamed."""
    heap: list[Item] = []
    for chunk in read_shard(shard, opts):
        valid = chunk.filter(pc.is_null(chunk["reject_reason"]))
        for doc_id, text in zip(
            valid[opts.id_column].to_pylist(), valid[opts.text_column].to_pylist()
        ):
            priority = xxhash.xxh64_intdigest(str(doc_id).encode(), seed)
            _keep(heap, (-priority, str(doc_id), text), count)
    return heap


def sample_documents(
    path: str, count: int, seed: int, text_column: str = "text", map_shards: MapShards = map
) -> pa.Table:
    """`count` valid rows (id, text) of an input, chosen by the smallest hash of (seed, id):
    the same sample on every run. Each shard keeps its own `count` best rows (through
    `map_shards`, e.g. Ray tasks), then the driver merges them, in bounded memory."""
    opts = ReadOptions(text_column=text_column)
    shards = discover(path)
    if not shards:
        raise SchemaError(f"{path}: no input files (Parquet, JSONL, HF datasets) found")
    heap: list[Item] = []
    for best in map_shards(partial(shard_sample, count=count, seed=seed, opts=opts), shards):
        for item in best:
            _keep(heap, item, count)
    chosen = sorted(heap, reverse=True)  # smallest priority first
    return pa.table(
        {"id": [d for _, d, _ in chosen], "text": [t for _, _, t in chosen]},
        schema=pa.schema([("id", pa.string()), ("text", pa.string())]),
    )


# Per-row usage that `annotate(..., usage=True)` appends, for a driver to add up.
USAGE = pa.schema(
    [
        ("_cached", pa.bool_()),
        ("_prompt_tokens", pa.int64()),
        ("_completion_tokens", pa.int64()),
        ("_retried", pa.int64()),
    ]
)


@dataclass
class Tally:
    """What a run of annotate did: answers, cache hits, tokens paid, retries, parse failures."""

    done: int = 0
    cached: int = 0
    failed_parse: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    retried: int = 0
    started: float = field(default_factory=time.time)

    def add_usage(self, table: pa.Table) -> None:
        """Count the rows of an annotated table with USAGE columns."""
        self.done += table.num_rows
        self.cached += int(pc.sum(table["_cached"].cast(pa.int64())).as_py() or 0)
        self.prompt_tokens += int(pc.sum(table["_prompt_tokens"]).as_py() or 0)
        self.completion_tokens += int(pc.sum(table["_completion_tokens"]).as_py() or 0)
        self.retried += int(pc.sum(table["_retried"]).as_py() or 0)
        self.failed_parse += table.num_rows - table["parse_error"].null_count

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
    repeat: int = 0,
    usage: bool = False,
) -> tuple[pa.Table, Tally]:
    """Every document of `docs` (id, text) rated: cached answers first, the rest at most
    `concurrency` at a time, each answer cached the moment it arrives. `repeat` > 0 asks for
    a further answer of its own (cached apart: the teacher's agreement with itself); `usage`
    appends the USAGE columns."""
    tally = Tally()
    texts = docs["text"].to_pylist()
    keys = [answer_key(rubric.hash, client.model, t, repeat) for t in texts]
    replies: list[str | None] = [None] * len(texts)
    spent = [(True, 0, 0, 0)] * len(texts)  # (cached, prompt tokens, completion tokens, retried)
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
                retried = reply.attempts - 1
                spent[i] = (False, reply.prompt_tokens, reply.completion_tokens, retried)
                tally.done += 1
                tally.prompt_tokens += reply.prompt_tokens
                tally.completion_tokens += reply.completion_tokens
                tally.retried += retried
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
    table = pa.table(columns, schema=SCHEMA)
    if usage:
        for name, values in zip(USAGE.names, zip(*spent) if spent else [[]] * 4):
            table = table.append_column(USAGE.field(name), pa.array(values, USAGE.field(name).type))
    return table, tally


def write_annotations(table: pa.Table, out: Path, about: dict[str, Any]) -> None:
    """Write the annotations atomically, with `about` (prompt, teacher, input) in the Parquet
    metadata under `tamis.annotations`, for the model card."""
    out.parent.mkdir(parents=True, exist_ok=True)
    table = table.replace_schema_metadata({"tamis.annotations": json.dumps(about)})
    pending = out.with_name(out.name + ".partial")
    pq.write_table(table, pending)
    os.replace(pending, out)


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
    parser.add_argument("--temperature", type=float, help="sampling (default: prompt's)")
    parser.add_argument(
        "--repeat",
        type=int,
        default=0,
        help="ask again as repeat N, cached apart (with --temperature > 0: the teacher's "
        "agreement with itself)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the sample")
    parser.add_argument(
        "--cache",
        help="answer cache folder or URI (default: OUT's folder/.cache/annotations; with "
        "--runner ray on several machines, storage they all see)",
    )
    parser.add_argument(
        "--runner",
        choices=["local", "ray"],
        default="local",
        help="ray: sample with Ray tasks and rate with a pool of Ray actors (large samples)",
    )
    parser.add_argument(
        "--address", help="Ray cluster to join (default: RAY_ADDRESS, else a local Ray)"
    )
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
    counts = (args.sample, args.concurrency, args.max_chars, args.max_tokens)
    if any(n is not None and n < 1 for n in counts):
        raise RecipeError("--sample, --concurrency, --max-chars and --max-tokens must be >= 1")
    if args.repeat < 0 or (args.temperature or 0) < 0:
        raise RecipeError("--repeat and --temperature must be at least 0")
    rubric = load_rubric(args.prompt)
    overrides = {
        "max_chars": args.max_chars,
        "max_tokens": args.max_tokens,
        "temperature": args.temperature,
    }
    rubric = replace(rubric, **{k: v for k, v in overrides.items() if v is not None})
    out = Path(args.out)
    cache = AnswerCache(args.cache or out.parent / ".cache" / "annotations")
    client = ChatClient(
        args.endpoint,
        args.model,
        api_key=os.environ.get(args.api_key_env) or None,
        retries=args.retries,
        timeout_s=args.timeout,
    )
    rate = annotate
    map_shards: MapShards = map
    if args.runner == "ray":
        from pipeline.run.ray_executor import RayExecutor
        from pipeline.teach.ray_annotate import annotate_on_ray, map_shards_on_ray

        RayExecutor(address=args.address)  # joins the cluster, or starts a local Ray
        rate, map_shards = annotate_on_ray, map_shards_on_ray
    docs = sample_documents(args.input, args.sample, args.seed, args.text_column, map_shards)
    prices = (args.price_per_mtok_in, args.price_per_mtok_out)
    shown = [0.0]

    def progress(tally: Tally) -> None:
        if not args.quiet and (time.time() - shown[0] > 2 or tally.done == docs.num_rows):
            shown[0] = time.time()
            print(tally.line(docs.num_rows, *prices), file=sys.stderr, flush=True)

    table, tally = rate(docs, rubric, client, cache, args.concurrency, progress, args.repeat)
    about = {
        "prompt": {"name": rubric.name, "file": str(args.prompt), "hash": rubric.hash},
        "rubric": {
            "system": rubric.system,
            "user": rubric.user,
            "scale": rubric.scale,
            "labels": rubric.labels,
            "max_chars": rubric.max_chars,
            "temperature": rubric.temperature,
        },
        "teacher": {"model": args.model},
        "input": str(args.input),
        "sample": docs.num_rows,
        "seed": args.seed,
        "repeat": args.repeat,
    }
    write_annotations(table, out, about)
    print(
        f"{tally.line(docs.num_rows, *prices)}; retried {tally.retried}; wrote {out} "
        f"({docs.num_rows - tally.failed_parse} scored, {tally.failed_parse} unparsed)"
    )
    return 0
