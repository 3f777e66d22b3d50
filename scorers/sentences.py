"""An answer cut into its lines, or the sentences of each line, with the text between them."""

from __future__ import annotations

import re

# A sentence ends at . ! ? (and any closing quote or bracket) followed by white space.
SENTENCE_END = re.compile(r"[.!?][\"'\u201d\u2019)\]]*([ \t]+)")


def split_units(text: str, unit: str) -> list[tuple[str, str]]:
    """`text` as (unit, the separator after it) pairs: its non-blank lines, or the sentences
    of each line; joined back in order they give `text` (less leading white space)."""
    pieces: list[tuple[str, str]] = []
    for line, breaks in re.findall(r"([^\n]*)(\n*)", text.lstrip()):
        if not line.strip():
            continue
        cuts = [m.span(1) for m in SENTENCE_END.finditer(line)] if unit == "sentences" else []
        starts = [0] + [end for _, end in cuts]
        ends = [start for start, _ in cuts] + [len(line)]
        seps = [line[a:b] for a, b in cuts] + [breaks]
        pieces += [(line[a:b], s) for a, b, s in zip(starts, ends, seps, strict=True) if b > a]
    return pieces


def sentences(text: str) -> list[str]:
    """The sentences of `text`, line by line."""
    return [unit for unit, _ in split_units(text, "sentences")]
