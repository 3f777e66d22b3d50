"""The datatrove side of bench_heuristics.py; runs in the benchmark venv (.bench-venv).

Reads Parquet shards, applies datatrove's filters in FineWeb's order to each document in one
process, and writes id -> first filter that dropped it (or null) plus the elapsed seconds.
"""

from __future__ import annotations

import json
import sys
import time

import pyarrow as pa
import pyarrow.parquet as pq
from datatrove.data import Document
from datatrove.pipeline.filters import (
    C4QualityFilter,
    FineWebQualityFilter,
    GopherQualityFilter,
    GopherRepetitionFilter,
)


def main(inputs: list[str], out: str) -> None:
    table = pa.concat_tables([pq.read_table(p, columns=["id", "text"]) for p in inputs])
    docs = [
        Document(text=t, id=i) for i, t in zip(table["id"].to_pylist(), table["text"].to_pylist())
    ]
    filters = [
        ("gopher_repetition", GopherRepetitionFilter()),
        ("gopher_quality", GopherQualityFilter()),
        ("c4", C4QualityFilter()),
        ("fineweb_quality", FineWebQualityFilter()),
    ]
    filters[0][1].filter(Document(text="warm up the tokenizer once.", id="x"))
    verdicts = []
    start = time.perf_counter()
    for doc in docs:
        dropped = None
        for name, step in filters:
            result = step.filter(doc)
            if result is not True:
                reason = result[1] if isinstance(result, tuple) else ""
                dropped = f"{name}:{reason}"
                break
        verdicts.append(dropped)
    seconds = time.perf_counter() - start
    pq.write_table(pa.table({"id": [d.id for d in docs], "dropped": verdicts}), out)
    print(json.dumps({"docs": len(docs), "seconds": seconds}))


if __name__ == "__main__":
    main(sys.argv[2:], sys.argv[1])
