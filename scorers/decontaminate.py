"""Benchmark decontamination: records sharing a long word n-gram with a benchmark's prompts."""

from __future__ import annotations

import io
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
from pydantic import BaseModel, ConfigDict, Field

from pipeline.core.columns import set_column
from pipeline.core.errors import RecipeError, SchemaError
from pipeline.core.registry import register
from pipeline.core.rows import Check
from pipeline.dedup.minhash import shingle_hashes, word_counts, word_hashes, word_shingles
from pipeline.io.readers import discover, json_items, table_records
from pipeline.io.records import SHAREGPT_ROLES, turn_text
from pipeline.io.storage import Location
from scorers.base import Resources, Scorer, ScorerParams
from scorers.models import model_digest

# Fields tried, in order, in a benchmark record that names none.
PROMPT_FIELDS = (
    "prompt",
    "instruction",
    "Instruction",
    "question",
    "text",
    "turns",
    "messages",
    "conversations",
)


class Benchmark(BaseModel):
    """One benchmark: its files (JSONL, JSON array, Parquet or an HF dataset folder) and the
    fields holding prompts."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    path: str = Field(description="File, folder or glob of the benchmark's records.")
    name: str | None = Field(None, description="Name in reasons (default: the file's stem).")
    fields: list[str] | None = Field(
        None,
        description="Fields of prompt text: a string, a list of strings, or a conversation's "
        f"turns (its user turns are read); default: the first of {', '.join(PROMPT_FIELDS)}.",
    )

    @property
    def label(self) -> str:
        return self.name or Path(self.path).name.split(".")[0]


@register("decontaminate")
class Decontaminate(Scorer):
    """Reject records that share a word `ngram` (13 by default, as GPT-3 and Llama decontaminated)
    with a benchmark prompt, naming the benchmark. A benchmark prompt shorter than the n-gram
    counts whole when it has at least `min_words` words. Words are compared lowercased without
    punctuation, so light edits elsewhere in a prompt do not hide it. The benchmarks' n-grams
    are hashed once, on the driver, into a sorted index every worker loads, with a filter
    that most n-grams of clean text stop at: 12-14 bytes per n-gram (96 MB for 100k prompts
    of ~100 words). Works on any text: prompts, whole conversations, pre-training documents.

    Reads the text column; adds `contaminated_by` (the first benchmark matched, or null).
    Reasons: the benchmark's name.
    """

    resources = Resources(cpus=1, memory_gb=1)
    batch_size = 2048
    outputs = {"contaminated_by": pa.string()}

    class Params(ScorerParams):
        benchmarks: list[Benchmark] = Field(min_length=1, description="Benchmarks to match.")
        ngram: int = Field(13, ge=3, le=64, description="Words in a shared n-gram.")
        min_words: int = Field(8, ge=1, description="Shorter benchmark prompts are ignored.")

    params: Params

    def prepare(self, work: Location) -> None:
        """Hash every benchmark's n-grams into one sorted index under `work`."""
        hashes, owners, lengths = benchmark_index(self.params)
        buffer = io.BytesIO()
        np.savez(buffer, hashes=hashes, owners=owners, lengths=lengths)
        work.mkdir()
        (work / "index.npz").write_bytes(buffer.getvalue())
        self.prepared = {"index": work / "index.npz"}

    def setup(self) -> None:
        if "index" in self.prepared:
            with np.load(io.BytesIO(self.prepared["index"].read_bytes())) as found:
                self._index = (found["hashes"], found["owners"], found["lengths"])
        else:  # used as a library: build it here
            self._index = benchmark_index(self.params)
        self._filter = HashFilter(self._index[0])
        self._names = [b.label for b in self.params.benchmarks]

    def score(self, batch: pa.Table) -> pa.Table:
        hashes, owners, lengths = self._index
        texts = batch[self.params.text_column]
        first = np.full(batch.num_rows, len(self._names), np.int64)
        words = word_hashes(texts)  # once: each n-gram length below reuses them
        for n in [self.params.ngram, *(int(x) for x in lengths)]:
            grams, offsets = word_shingles(*words, n)
            maybe = np.flatnonzero(self._filter.may_hold(grams))  # most n-grams stop here
            at = np.searchsorted(hashes, grams[maybe]).clip(max=max(len(hashes) - 1, 0))
            hit = hashes[at] == grams[maybe]
            row = np.searchsorted(offsets, maybe[hit], side="right") - 1  # the hits' records
            np.minimum.at(first, row, owners[at[hit]])
        names = [self._names[i] if i < len(self._names) else None for i in first]
        return set_column(batch, "contaminated_by", pa.array(names, pa.string()))

    def checks(self, scored: pa.Table) -> list[Check]:
        found = np.array(scored["contaminated_by"].to_pylist(), dtype=object)
        return [Check(found == name, name) for name in dict.fromkeys(self._labels())]

    def _labels(self) -> list[str]:
        return [b.label for b in self.params.benchmarks]

    def model_digest(self) -> str | None:
        """The benchmarks' files: a changed benchmark is not reused."""
        digests = [model_digest(shard.path) for b in self.params.benchmarks for shard in _shards(b)]
        return "+".join(d or "?" for d in digests)


class HashFilter:
    """A one-hash Bloom filter over well-mixed uint64 hashes: 16 bits per hash, so about 6% of
    hashes not in the set pass and need the exact (binary) search; a table lookup per n-gram
    instead of ~20 cache misses."""

    def __init__(self, hashes: np.ndarray, bits_per_hash: int = 16):
        self.bits = max(16, int(np.ceil(np.log2(max(len(hashes), 1) * bits_per_hash))))
        self.table = np.zeros(1 << (self.bits - 3), np.uint8)
        byte, bit = self._places(hashes)
        np.bitwise_or.at(self.table, byte, np.left_shift(np.uint8(1), bit))

    def may_hold(self, hashes: np.ndarray) -> np.ndarray:
        """False where a hash is surely not in the set."""
        byte, bit = self._places(hashes)
        return (np.right_shift(self.table[byte], bit) & 1).astype(bool)

    def _places(self, hashes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        top = hashes >> np.uint64(64 - self.bits)  # the top bits: mix64 spreads them evenly
        return (top >> np.uint64(3)).astype(np.intp), (top & np.uint64(7)).astype(np.uint8)


def benchmark_index(params: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(sorted n-gram hashes, the benchmark each came from, the word counts of prompts shorter
    than the n-gram) for every benchmark of a Decontaminate step's parameters."""
    hashes, owners, short = [], [], set()
    for number, benchmark in enumerate(params.benchmarks):
        texts = pa.array(benchmark_texts(benchmark), pa.string())
        words = word_counts(texts)  # as shingles count them: "+" or "?" alone are no words
        texts = texts.filter(pa.array(words >= params.min_words))
        short |= {int(n) for n in words[(words >= params.min_words) & (words < params.ngram)]}
        found, _ = shingle_hashes(texts, params.ngram)
        hashes.append(found)
        owners.append(np.full(len(found), number, np.uint16))
    every = np.concatenate(hashes) if hashes else np.zeros(0, np.uint64)
    owner = np.concatenate(owners) if owners else np.zeros(0, np.uint16)
    order = np.lexsort((owner, every))  # by hash, then by benchmark: the first one wins
    every, owner = every[order], owner[order]
    keep = np.r_[True, every[1:] != every[:-1]] if len(every) else np.zeros(0, bool)
    return every[keep], owner[keep], np.array(sorted(short), np.int64)


def benchmark_texts(benchmark: Benchmark) -> list[str]:
    """Every prompt text in a benchmark's files; none found is an error naming the files."""
    texts: list[str] = []
    shards = _shards(benchmark)
    for shard in shards:
        if shard.format in ("parquet", "hf"):
            records: Iterable[Any] = table_records(shard)
        else:
            records = (item.value for item in json_items(shard))
        for record in records:
            if isinstance(record, dict):
                texts += record_prompts(record, benchmark.fields)
    if not texts:
        tried = ", ".join(benchmark.fields or PROMPT_FIELDS)
        raise RecipeError(
            f"decontaminate: no prompt text in benchmark {benchmark.path} ({len(shards)} "
            f"file(s); fields tried: {tried}): set its `fields`"
        )
    return texts


def _shards(benchmark: Benchmark) -> list[Any]:
    """A benchmark's files; none found is an error saying it is the benchmark that is missing."""
    try:
        return discover(benchmark.path)
    except SchemaError as err:
        raise RecipeError(f"decontaminate: benchmark {benchmark.label}: {err}") from None


def record_prompts(record: dict[str, Any], fields: list[str] | None) -> list[str]:
    """A benchmark record's prompts: its `fields`, else the first of PROMPT_FIELDS it has; a
    field may hold a string, a list of strings (MT-Bench's turns) or a conversation's turns
    (messages or sharegpt: the user's)."""
    names = fields or [next((f for f in PROMPT_FIELDS if record.get(f)), "")]
    return [text for name in names for text in _texts(record.get(name))]


def _texts(value: Any) -> list[str]:
    """The prompt texts a field's value holds."""
    if isinstance(value, str):
        return [value]
    if not isinstance(value, list):
        return []
    found = []
    for item in value:
        if isinstance(item, str):
            found.append(item)
        elif isinstance(item, dict):
            role = str(item.get("role", item.get("from", ""))).lower()
            if SHAREGPT_ROLES.get(role) == "user":
                found.append(turn_text(item))
    return [text for text in found if text]
