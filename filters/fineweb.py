"""FineWeb quality rules (Penedo et al. 2024, https://arxiv.org/abs/2406.17557).

Same rules, order and defaults as datatrove's FineWebQualityFilter.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
from pydantic import Field

from filters import text_stats as ts
from filters.base import Check, Filter, FilterParams
from pipeline.core.registry import register


@dataclass(frozen=True, slots=True)
class FineWebStats:
    """What the FineWeb rules measure in one document (lines: the non-blank ones)."""

    lines: int
    line_punct_ratio: float  # lines ending in terminal punctuation
    short_line_ratio: float  # lines of at most `short_line_length` characters
    char_dup_ratio: float  # characters in repeated lines, per character
    list_ratio: float  # newlines per word


@register("fineweb_quality")
class FineWebQuality(Filter):
    """FineWeb rules on line punctuation, short lines, duplicated lines and list-like pages.

    Reads the text column. Reasons: empty, line_punct_ratio<R, short_line_ratio>R,
    char_dup_ratio>R, list_ratio>R. Lines end at LF, CRLF or CR; invisible characters
    are ignored; a line ends a sentence past trailing spaces and closing quotes (`said."`).
    """

    version = 2  # line ends, invisible characters, closing quotes
    stat_fields = tuple(FineWebStats.__dataclass_fields__)
    decision_params = Filter.decision_params | {
        "min_line_punct_ratio",
        "line_punct_exclude_zero",
        "max_short_line_ratio",
        "max_char_dup_ratio",
        "max_newline_ratio",
    }

    class Params(FilterParams):
        min_line_punct_ratio: float = Field(
            0.12, ge=0, le=1, description="Fewest lines ending in terminal punctuation."
        )
        line_punct_exclude_zero: bool = Field(False, description="Keep pages with no such line.")
        max_short_line_ratio: float = Field(0.67, ge=0, le=1, description="Most short lines.")
        short_line_length: int = Field(
            30, ge=0, description="A line this long or shorter is short."
        )
        max_char_dup_ratio: float = Field(
            0.01, ge=0, le=1, description="Most characters in repeated lines."
        )
        max_newline_ratio: float = Field(0.3, ge=0, description="Most newlines per word.")

    def checks(self, batch: pa.Table) -> list[Check]:
        p = self.params
        stats = self.statistics(batch)
        punct = stats["line_punct_ratio"]
        punct_failed = punct < p.min_line_punct_ratio
        if p.line_punct_exclude_zero:
            punct_failed &= punct != 0
        short, dup = stats["short_line_ratio"], stats["char_dup_ratio"]
        newline = stats["list_ratio"]
        short_rule = f"short_line_ratio>{p.max_short_line_ratio:g}"
        return [
            Check(stats["lines"] == 0, "empty"),
            Check(punct_failed, f"line_punct_ratio<{p.min_line_punct_ratio:g}", punct),
            Check(short > p.max_short_line_ratio, short_rule, short),
            Check(dup > p.max_char_dup_ratio, f"char_dup_ratio>{p.max_char_dup_ratio:g}", dup),
            Check(newline > p.max_newline_ratio, f"list_ratio>{p.max_newline_ratio:g}", newline),
        ]

    def measure_batch(self, texts: list[str]) -> dict[str, np.ndarray]:
        return ts.stat_columns([self.measure(t) for t in texts], FineWebStats)

    def measure(self, text: str) -> FineWebStats:
        """The FineWeb statistics of one document."""
        text = ts.for_stats(text)
        lines = [ln for ln in text.split("\n") if ln.strip()]
        if not lines:
            return FineWebStats(0, 0.0, 0.0, 0.0, 0.0)
        n = len(lines)
        words = len(ts.split_words(text))
        return FineWebStats(
            lines=n,
            line_punct_ratio=sum(map(ts.ends_sentence, lines)) / n,
            short_line_ratio=sum(len(ln) <= self.params.short_line_length for ln in lines) / n,
            char_dup_ratio=ts.duplicate_counts(lines)[1] / max(len(text) - text.count("\n"), 1),
            list_ratio=text.count("\n") / words if words else float("inf"),
        )
