"""FineWeb quality rules (Penedo et al. 2024, https://arxiv.org/abs/2406.17557).

Same rules, order and defaults as datatrove's FineWebQualityFilter.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
from pydantic import Field

from filters import text_stats as ts
from filters.base import Check, Filter, FilterParams
from pipeline.core.columns import text_list
from pipeline.core.registry import register


@register("fineweb_quality")
class FineWebQuality(Filter):
    """FineWeb rules on line punctuation, short lines, duplicated lines and list-like pages.

    Reads the text column. Reasons: empty, line_punct_ratio<R, short_line_ratio>R,
    char_dup_ratio>R, list_ratio>R.
    """

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
        stats = np.array(
            [self._stats(t) for t in text_list(batch, p.text_column)], dtype=float
        ).reshape(-1, 5)
        n_lines, punct, short, dup, newline = stats.T
        punct_failed = punct < p.min_line_punct_ratio
        if p.line_punct_exclude_zero:
            punct_failed &= punct != 0
        return [
            Check(n_lines == 0, "empty"),
            Check(punct_failed, f"line_punct_ratio<{p.min_line_punct_ratio:g}"),
            Check(short > p.max_short_line_ratio, f"short_line_ratio>{p.max_short_line_ratio:g}"),
            Check(dup > p.max_char_dup_ratio, f"char_dup_ratio>{p.max_char_dup_ratio:g}"),
            Check(newline > p.max_newline_ratio, f"list_ratio>{p.max_newline_ratio:g}"),
        ]

    def _stats(self, text: str) -> tuple[float, ...]:
        """(lines, punctuated-line ratio, short-line ratio, dup-char ratio, newline ratio)."""
        lines = [ln for ln in text.split("\n") if ln.strip()]
        if not lines:
            return (0, 0.0, 0.0, 0.0, 0.0)
        n = len(lines)
        punct = sum(map(ts.ends_with_terminal, lines)) / n
        short = sum(len(ln) <= self.params.short_line_length for ln in lines) / n
        dup = ts.duplicate_counts(lines)[1] / max(len(text) - text.count("\n"), 1)
        words = len(ts.split_words(text))
        newline = text.count("\n") / words if words else float("inf")
        return (n, punct, short, dup, newline)
