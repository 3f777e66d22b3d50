"""`tamis annotate --runner ray`: the sample drawn by Ray tasks (one per input shard) and rated
by a pool of Ray Data actors, with the local run's cache, cache keys and output.

The concurrency cap holds over the whole cluster: `actors x threads = concurrency`, each
actor rating one batch at a time with `threads` requests in flight. The API key travels as
an object in the driver's memory (`ray.put`), fetched by each actor when it starts: never in
the job's runtime env, an environment variable of the workers, a task's arguments or a log.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from pipeline.io.readers import InputShard
from pipeline.teach.annotate import SCHEMA, Item, Tally, annotate
from pipeline.teach.cache import AnswerCache
from pipeline.teach.client import ChatClient
from pipeline.teach.prompt import Rubric

log = logging.getLogger(__name__)

ORDER = "_order"  # the row's place in the sample, to put the answers back in order
ACTOR_CPUS = 0.25  # an actor mostly waits on HTTP: leave the cores to the rest
BATCH_PER_THREAD = 8  # documents per batch and thread: small enough to lose little in a crash


@dataclass(frozen=True)
class Split:
    """How a concurrency cap is spread over Ray actors."""

    actors: int
    threads: int  # requests in flight per actor
    batch_size: int


def split_concurrency(concurrency: int, cpus: int, docs: int) -> Split:
    """`actors x threads` equal to `concurrency` exactly, with at most one actor per CPU of the
    cluster and per document: the largest divisor of `concurrency` under that bound."""
    bound = max(1, min(concurrency, cpus, docs))
    actors = max(d for d in range(1, bound + 1) if concurrency % d == 0)
    threads = concurrency // actors
    batch_size = max(1, min(threads * BATCH_PER_THREAD, -(-docs // actors)))
    return Split(actors, threads, batch_size)


def _apply(fn: Callable[[InputShard], list[Item]], shard: InputShard) -> list[Item]:
    return fn(shard)


def map_shards_on_ray(
    fn: Callable[[InputShard], list[Item]], shards: list[InputShard]
) -> Iterator[list[Item]]:
    """`fn` over the shards as Ray tasks, results as they finish; a few in flight per CPU, so
    the driver holds a bounded number of results."""
    import ray

    task = ray.remote(num_cpus=1)(_apply)
    shared = ray.put(fn)
    limit = 2 * max(1, int(ray.cluster_resources().get("CPU", 1)))
    running: list[Any] = []
    for shard in shards:
        if len(running) >= limit:
            done, running = ray.wait(running, num_returns=1)
            yield ray.get(done[0])
        running.append(task.remote(shared, shard))
    while running:
        done, running = ray.wait(running, num_returns=1)
        yield ray.get(done[0])


class Annotator:
    """A Ray Data actor: rates each batch with its own client, `threads` requests in flight."""

    def __init__(
        self,
        settings: dict[str, Any],
        key: list[Any],
        rubric: Rubric,
        cache: AnswerCache,
        threads: int,
        repeat: int,
    ) -> None:
        import ray

        api_key = ray.get(key[0]) if key else None  # a reference, resolved here only
        self.client = ChatClient(**settings, api_key=api_key)
        self.rubric, self.cache, self.threads, self.repeat = rubric, cache, threads, repeat

    def __call__(self, batch: pa.Table) -> pa.Table:
        docs = batch.select(["id", "text"])
        table, _ = annotate(
            docs, self.rubric, self.client, self.cache, self.threads, repeat=self.repeat, usage=True
        )
        return table.append_column(ORDER, batch[ORDER])


def annotate_on_ray(
    docs: pa.Table,
    rubric: Rubric,
    client: ChatClient,
    cache: AnswerCache,
    concurrency: int = 4,
    progress: Callable[[Tally], None] | None = None,
    repeat: int = 0,
) -> tuple[pa.Table, Tally]:
    """`annotate` on a Ray cluster (already joined): the same table, in the same order, and
    the same tally, from a pool of actors that share `cache` (a folder every worker sees, or
    an object store URI)."""
    import ray

    if docs.num_rows == 0:
        return SCHEMA.empty_table(), Tally()
    nodes = [n for n in ray.nodes() if n.get("Alive")]
    if len(nodes) > 1 and cache.root.local_path() is not None:
        log.warning(
            "annotate: the cache %s is a local path on a cluster of %d nodes: unless every "
            "node mounts it, answers rated on one node are not found by the others (use a "
            "shared folder or an s3:// URI as --cache)",
            cache.root,
            len(nodes),
        )
    cpus = int(ray.cluster_resources().get("CPU", 1))
    split = split_concurrency(concurrency, cpus, docs.num_rows)
    key = [ray.put(client.api_key)] if client.api_key else []
    ordered = docs.select(["id", "text"]).append_column(
        ORDER, pa.array(range(docs.num_rows), pa.int64())
    )
    # One block per batch, so that the batches spread over the actors.
    blocks = [ordered.slice(i, split.batch_size) for i in range(0, docs.num_rows, split.batch_size)]
    rated = ray.data.from_arrow(blocks).map_batches(
        Annotator,
        fn_constructor_kwargs={
            "settings": client.settings(),
            "key": key,
            "rubric": rubric,
            "cache": cache,
            "threads": split.threads,
            "repeat": repeat,
        },
        compute=ray.data.ActorPoolStrategy(size=split.actors),
        batch_size=split.batch_size,
        batch_format="pyarrow",
        num_cpus=ACTOR_CPUS,
    )
    tally = Tally()
    parts = []
    for block in rated.iter_batches(batch_size=None, batch_format="pyarrow"):
        tally.add_usage(block)
        parts.append(block.select([*SCHEMA.names, ORDER]))
        if progress is not None:
            progress(tally)
    table = pa.concat_tables(parts)
    return table.take(pc.sort_indices(table[ORDER])).select(SCHEMA.names), tally
