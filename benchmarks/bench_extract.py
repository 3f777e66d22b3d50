"""HTML extraction on real pages with known main text: trafilatura vs resiliparse, as the
`extract` step runs them.

    git clone https://github.com/scrapinghub/article-extraction-benchmark /tmp/aeb
    .venv/bin/python benchmarks/bench_extract.py --pages /tmp/aeb

The article-extraction-benchmark (Zyte, MIT licence) holds 181 real news and blog pages with
their hand-checked article bodies. For each extractor: word-level precision, recall and F1
against the article body (bags of lowercased words, averaged over pages) and pages per
CPU-second, measured side by side in one process.
"""

from __future__ import annotations

import argparse
import gzip
import json
import re
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from filters.extract import Extract  # noqa: E402

WORD = re.compile(r"\w+")


def pages(folder: Path) -> list[tuple[str, str]]:
    """(html, article body) for every page of the benchmark."""
    truth = json.loads((folder / "ground-truth.json").read_text())
    found = []
    for key, item in sorted(truth.items()):
        raw = gzip.decompress((folder / "html" / f"{key}.html.gz").read_bytes())
        found.append((raw.decode("utf-8", "replace"), item["articleBody"]))
    return found


def scores(extracted: str, truth: str) -> tuple[float, float, float]:
    """Word-level (precision, recall, F1) of an extraction against the true text."""
    got, want = Counter(WORD.findall(extracted.lower())), Counter(WORD.findall(truth.lower()))
    common = sum((got & want).values())
    precision = common / max(sum(got.values()), 1)
    recall = common / max(sum(want.values()), 1)
    return precision, recall, 2 * precision * recall / max(precision + recall, 1e-9)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", required=True, type=Path, help="article-extraction-benchmark")
    args = parser.parse_args()
    found = pages(args.pages)
    print(f"{len(found)} pages with known article bodies ({args.pages})")
    print("| extractor | precision | recall | F1 | empty pages | pages per CPU-second |")
    print("|---|---|---|---|---|---|")
    for name in ("trafilatura", "resiliparse"):
        step = Extract(extractor=name)
        step._extract(found[0][0])  # imports and warm-up
        start = time.process_time()
        outputs = [step._extract(html) or "" for html, _ in found]
        seconds = time.process_time() - start
        measured = np.array([scores(out, truth) for out, (_, truth) in zip(outputs, found)])
        p, r, f = measured.mean(axis=0)
        empty = sum(not o.strip() for o in outputs)
        print(f"| {name} | {p:.3f} | {r:.3f} | {f:.3f} | {empty} | {len(found) / seconds:.0f} |")


if __name__ == "__main__":
    main()
