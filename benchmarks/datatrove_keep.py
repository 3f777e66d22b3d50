"""The datatrove side of bench_real_prose.py: per document, the first web heuristic to reject it.

    .bench-venv/bin/python benchmarks/datatrove_keep.py IN OUT

Runs in the benchmark venv (`make bench` creates .bench-venv). IN is Parquet or JSONL (by its
suffix) with columns id and text. datatrove 0.10.1's GopherRepetitionFilter, GopherQualityFilter,
C4QualityFilter (filter_no_terminal_punct on, C4's defaults) and FineWebQualityFilter run with
their defaults, in that order; a document one rejects is not passed to the next.

OUT (Parquet or JSONL) has, per document: id; filter, the first filter that rejects it, named
like tamis's steps (gopher_repetition, gopher_quality, c4, fineweb_quality); reason, datatrove's
reason (both null when kept); and shipped, `filter:reason` or null as a datatrove pipeline
decides. datatrove's C4 rewrites a kept document without its dropped lines: `filter` and
`reason` give FineWeb the original text (tamis's `c4: {remove_lines: false}`), `shipped` the
rewritten one. Prints one JSON line: docs, seconds and versions.
"""

from __future__ import annotations

import json
import sys
import time
from importlib.metadata import version
from pathlib import Path

import pyarrow as pa
import pyarrow.json as pj
import pyarrow.parquet as pq
from datatrove.data import Document
from datatrove.pipeline.filters import (
    C4QualityFilter,
    FineWebQualityFilter,
    GopherQualityFilter,
    GopherRepetitionFilter,
)
from datatrove.pipeline.filters.base_filter import BaseFilter

Verdict = tuple[str, str] | None


def read(path: Path) -> pa.Table:
    """Columns id and text of a Parquet or JSONL file."""
    if path.suffix in (".jsonl", ".json"):
        return pj.read_json(path).select(["id", "text"])
    return pq.read_table(path, columns=["id", "text"])


def write(table: pa.Table, path: Path) -> None:
    """A Parquet or JSONL file, by the path's suffix."""
    if path.suffix in (".jsonl", ".json"):
        with path.open("w", encoding="utf-8") as f:
            for row in table.to_pylist():
                f.write(json.dumps(row, ensure_ascii=False) + "\n")
    else:
        pq.write_table(table, path)


def verdict(name: str, step: BaseFilter, doc: Document) -> Verdict:
    """(filter, reason) when `step` rejects `doc`, else None."""
    result = step.filter(doc)
    if result is True:
        return None
    reason = result[1] if isinstance(result, tuple) else ""
    return name, reason


def decide(doc: Document, steps: list[tuple[str, BaseFilter]]) -> tuple[Verdict, Verdict]:
    """(verdict with FineWeb on the original text, verdict as a datatrove pipeline gives it)."""
    original = doc.text
    for name, step in steps[:3]:
        found = verdict(name, step, doc)
        if found is not None:
            return found, found
    rewritten, doc.text = doc.text, original
    name, fineweb = steps[3]
    rule = verdict(name, fineweb, doc)
    shipped = verdict(name, fineweb, Document(text=rewritten, id=doc.id))
    return rule, shipped


def main(source: Path, out: Path) -> None:
    """Decide every document of `source` and write the verdicts to `out`."""
    table = read(source)
    ids = [str(i) for i in table["id"].to_pylist()]
    texts = [t or "" for t in table["text"].to_pylist()]
    steps: list[tuple[str, BaseFilter]] = [
        ("gopher_repetition", GopherRepetitionFilter()),
        ("gopher_quality", GopherQualityFilter()),
        ("c4", C4QualityFilter(filter_no_terminal_punct=True)),
        ("fineweb_quality", FineWebQualityFilter()),
    ]
    steps[1][1].filter(Document(text="warm up the tokenizer once.", id="warm-up"))
    start = time.perf_counter()
    rules, shipped = [], []
    for i, text in zip(ids, texts, strict=True):
        rule, as_shipped = decide(Document(text=text, id=i), steps)
        rules.append(rule)
        shipped.append(None if as_shipped is None else ":".join(as_shipped))
    seconds = time.perf_counter() - start
    result = pa.table(
        {
            "id": pa.array(ids, pa.string()),
            "filter": pa.array([r and r[0] for r in rules], pa.string()),
            "reason": pa.array([r and r[1] for r in rules], pa.string()),
            "shipped": pa.array(shipped, pa.string()),
        }
    )
    write(result, out)
    versions = {p: version(p) for p in ("datatrove", "spacy", "pyarrow")}
    versions["python"] = sys.version.split()[0]
    print(json.dumps({"docs": len(ids), "seconds": round(seconds, 2), "versions": versions}))


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(Path(sys.argv[1]), Path(sys.argv[2]))
