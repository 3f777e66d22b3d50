"""Data-Juicer's verdicts on instruction records, run in the peer venv by bench_instruct_peer.py.

Usage: .dj-venv/bin/python benchmarks/datajuicer_instruct.py IN.jsonl OUT.jsonl LID_DIR [LANGS]
IN has {"id", "text"} per line; OUT gets {"id", "dropped"}: the first op that rejects the
record, or null. The ops are the per-record filters of Data-Juicer's published instruction
recipe (configs/data_juicer_recipes/alpaca_cot/alpaca-cot-en-refine.yaml, same settings; its
flagged-words filter is left out, as its word list is downloaded at run time), then the two
of its filters that aim at answers in another language and at loops: language ID at its
default score (0.8) for LANGS (comma-separated, default en) and word repetition at its
defaults. LID_DIR holds fastText's lid.176 model under the name Data-Juicer looks for.
"""

from __future__ import annotations

import json
import os
import sys
import time


def main() -> None:
    source, target, lid_dir = sys.argv[1:4]
    langs = (sys.argv[4] if len(sys.argv) > 4 else "en").split(",")
    os.environ["DATA_JUICER_EXTERNAL_MODELS_HOME"] = lid_dir  # read at import: set it first
    from data_juicer.ops.filter import (
        AlphanumericFilter,
        CharacterRepetitionFilter,
        LanguageIDScoreFilter,
        MaximumLineLengthFilter,
        TextLengthFilter,
        WordRepetitionFilter,
    )
    from data_juicer.utils.constant import Fields

    ops = {
        "alphanumeric_filter": AlphanumericFilter(tokenization=False, min_ratio=0.1),
        "character_repetition_filter": CharacterRepetitionFilter(rep_len=10, max_ratio=0.6),
        "maximum_line_length_filter": MaximumLineLengthFilter(min_len=20),
        "text_length_filter": TextLengthFilter(min_len=30),
        "language_id_score_filter": LanguageIDScoreFilter(lang=langs, min_score=0.8),
        "word_repetition_filter": WordRepetitionFilter(),
    }
    with open(source, encoding="utf-8") as lines:
        rows = [json.loads(line) for line in lines]
    start = time.perf_counter()
    samples = {"text": [r["text"] for r in rows], Fields.stats: [{} for _ in rows]}
    dropped: list[str | None] = [None] * len(rows)
    for name, op in ops.items():
        samples = op.compute_stats_batched(samples)
        for i, keep in enumerate(op.process_batched(samples)):
            if not keep and dropped[i] is None:
                dropped[i] = name
    seconds = time.perf_counter() - start
    with open(target, "w", encoding="utf-8") as out:
        for row, reason in zip(rows, dropped):
            out.write(json.dumps({"id": row["id"], "dropped": reason}) + "\n")
    print(json.dumps({"seconds": seconds, "records": len(rows)}))


if __name__ == "__main__":
    main()
