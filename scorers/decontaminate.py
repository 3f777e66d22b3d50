"""Benchmark decontamination: records sharing a long word n-gram with a benchmark's prompts."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from pydantic import BaseModel, ConfigDict, Field

from pipeline.core.columns import set_column
from pipeline.core.registry import register
from pipeline.core.rows import Check
from pipeline.dedup.minhash import shingle_hashes
from pipeline.io.readers import discover, json_items, open_input
from pipeline.io.storage import Location
from scorers.base import Resources, Scorer, ScorerParams
from scorers.models import model_digest

# Fields tried, in order, in a benchmark record that names none.
PROMPT_FIELDS = ("prompt", "instruction", "Instruction", "question", "text", "conversations")


class Benchmark(BaseModel):
    """One benchmark: its file (JSONL, JSON array or Parquet) and the fields holding prompts."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    path: str = Field(description="File, folder or glob of the benchmark's records.")
    name: str | None = Field(None, description="Name in reasons (default: the file's stem).")
    fields: list[str] | None = Field(
        None,
        description=f"Fields of prompt text (default: the first of {', '.join(PROMPT_FIELDS)}).",
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
    are hashed once, on the driver, into a sorted index every worker loads: 10 bytes per
    n-gram (80 MB for 100k prompts of ~100 words). Works on any text: prompts, whole
    conversations, pre-training documents.

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
        self._names = [b.label for b in self.params.benchmarks]

    def score(self, batch: pa.Table) -> pa.Table:
        hashes, owners, lengths = self._index
        texts = batch[self.params.text_column]
        first = np.full(batch.num_rows, len(self._names), np.int64)
        for n in [self.params.ngram, *(int(x) for x in lengths)]:
            grams, offsets = shingle_hashes(texts, n)
            at = np.searchsorted(hashes, grams).clip(max=max(len(hashes) - 1, 0))
            hit = hashes[at] == grams if len(hashes) else np.zeros(len(grams), bool)
            owner = np.where(hit, owners[at] if len(hashes) else 0, len(self._names))
            row = np.repeat(np.arange(batch.num_rows), np.diff(offsets))
            np.minimum.at(first, row, owner)
        names = [self._names[i] if i < len(self._names) else None for i in first]
        return set_column(batch, "contaminated_by", pa.array(names, pa.string()))

    def checks(self, scored: pa.Table) -> list[Check]:
        found = np.array(scored["contaminated_by"].to_pylist(), dtype=object)
        return [Check(found == name, name) for name in dict.fromkeys(self._labels())]

    def _labels(self) -> list[str]:
        return [b.label for b in self.params.benchmarks]

    def model_digest(self) -> str | None:
        """The benchmarks' files: a changed benchmark is not reused."""
        digests = [
            model_digest(shard.path) for b in self.params.benchmarks for shard in discover(b.path)
        ]
        return "+".join(d or "?" for d in digests)


def benchmark_index(params: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(sorted n-gram hashes, the benchmark each came from, the word counts of prompts shorter
    than the n-gram) for every benchmark of a Decontaminate step's parameters."""
    hashes, owners, short = [], [], set()
    for number, benchmark in enumerate(params.benchmarks):
        texts = pa.array(benchmark_texts(benchmark), pa.string())
        words = np.array([len(t.split()) for t in texts.to_pylist()])
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
    """Every prompt text in a benchmark's files."""
    texts: list[str] = []
    for shard in discover(benchmark.path):
        if shard.format == "parquet":
            with open_input(shard.path) as source:
                records = pq.read_table(source).to_pylist()
        else:
            records = [i.value for i in json_items(shard) if isinstance(i.value, dict)]
        for record in records:
            fields = benchmark.fields or next(([f] for f in PROMPT_FIELDS if f in record), [])
            texts += [record[f] for f in fields if isinstance(record.get(f), str)]
    return texts
