"""Gopher quality and repetition rules (Rae et al. 2021, https://arxiv.org/abs/2112.11446).

Same rules, order and default thresholds as datatrove's GopherQualityFilter and
GopherRepetitionFilter; reasons are named `<stat><op><threshold>`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
from pydantic import Field

from filters import text_stats as ts
from filters.base import Check, Filter, FilterParams
from pipeline.core.columns import text_list
from pipeline.core.registry import register


@dataclass(frozen=True, slots=True)
class GopherStats:
    """What the Gopher quality rules measure in one document; fields are named like the rules'
    reasons. Ratios are per word (all tokens) or per line."""

    word_count: int  # words that are not punctuation only
    avg_word_length: float  # of those words
    hash_ratio: float  # '#' per word
    ellipsis_ratio: float  # '...' or '…' per word
    bullet_lines_ratio: float  # lines starting with a bullet
    end_ellipsis_lines_ratio: float  # lines ending with an ellipsis
    alpha_word_ratio: float  # words holding a letter
    stop_word_count: int  # distinct stop words


@register("gopher_quality")
class GopherQuality(Filter):
    """Gopher document quality rules on word counts, word lengths, symbols, bullets and stop words.

    Reads the text column. Reasons: word_count<N, word_count>N, avg_word_length<N,
    avg_word_length>N, hash_ratio>R, ellipsis_ratio>R, bullet_lines_ratio>R,
    end_ellipsis_lines_ratio>R, alpha_word_ratio<R, stop_word_count<N.
    """

    class Params(FilterParams):
        min_words: int | None = Field(50, ge=0, description="Fewest non-symbol words.")
        max_words: int | None = Field(100_000, gt=0, description="Most non-symbol words.")
        min_avg_word_length: float | None = Field(3, ge=0, description="Shortest mean word length.")
        max_avg_word_length: float | None = Field(10, gt=0, description="Longest mean word length.")
        max_symbol_word_ratio: float | None = Field(
            0.1, ge=0, description="Most '#' or ellipses per word (each counted separately)."
        )
        max_bullet_lines_ratio: float | None = Field(
            0.9, ge=0, le=1, description="Most lines starting with a bullet."
        )
        max_end_ellipsis_lines_ratio: float | None = Field(
            0.3, ge=0, le=1, description="Most lines ending with an ellipsis."
        )
        min_alpha_word_ratio: float | None = Field(
            0.8, ge=0, le=1, description="Fewest words holding a letter, as a fraction of words."
        )
        min_stop_words: int | None = Field(2, ge=0, description="Fewest distinct stop words.")
        stop_words: list[str] = Field(sorted(ts.STOP_WORDS), description="The stop word list.")

    def checks(self, batch: pa.Table) -> list[Check]:
        p = self.params
        stats = ts.stat_columns(
            [self.measure(t) for t in text_list(batch, p.text_column)], GopherStats
        )
        # Each rule compares one statistic; a rule whose threshold is None is off.
        rules = [
            ("word_count", "<", p.min_words),
            ("word_count", ">", p.max_words),
            ("avg_word_length", "<", p.min_avg_word_length),
            ("avg_word_length", ">", p.max_avg_word_length),
            ("hash_ratio", ">", p.max_symbol_word_ratio),
            ("ellipsis_ratio", ">", p.max_symbol_word_ratio),
            ("bullet_lines_ratio", ">", p.max_bullet_lines_ratio),
            ("end_ellipsis_lines_ratio", ">", p.max_end_ellipsis_lines_ratio),
            ("alpha_word_ratio", "<", p.min_alpha_word_ratio),
            ("stop_word_count", "<", p.min_stop_words),
        ]
        found: list[Check] = []
        for stat, op, limit in rules:
            if limit is None:
                continue
            values = stats[stat]
            failed = values < limit if op == "<" else values > limit
            found.append(Check(failed, f"{stat}{op}{limit:g}"))
        return found

    def measure(self, text: str) -> GopherStats:
        """The Gopher quality statistics of one document."""
        words = ts.split_words(text)
        n_words = len(words) or 1
        real = [w for w in words if not ts.is_symbol(w)]
        lines = text.splitlines() or [""]
        return GopherStats(
            word_count=len(real),
            avg_word_length=sum(map(len, real)) / len(real) if real else 0.0,
            hash_ratio=text.count("#") / n_words,
            ellipsis_ratio=(text.count("...") + text.count("…")) / n_words,
            bullet_lines_ratio=sum(ln.lstrip().startswith(("•", "-")) for ln in lines) / len(lines),
            end_ellipsis_lines_ratio=sum(ln.rstrip().endswith(("...", "…")) for ln in lines)
            / len(lines),
            alpha_word_ratio=sum(map(ts.has_alpha, words)) / n_words,
            stop_word_count=len(set(self.params.stop_words).intersection(words)),
        )


@register("gopher_repetition")
class GopherRepetition(Filter):
    """Gopher repetition rules: repeated lines, paragraphs and word n-grams.

    Reads the text column. Reasons: dup_para_frac>R, dup_para_char_frac>R, dup_line_frac>R,
    dup_line_char_frac>R, top_{n}_gram_char_frac>R, dup_{n}_gram_char_frac>R.
    """

    class Params(FilterParams):
        max_dup_para_frac: float | None = Field(0.3, ge=0, le=1, description="Repeated paragraphs.")
        max_dup_para_char_frac: float | None = Field(
            0.2, ge=0, le=1, description="Characters in repeated paragraphs."
        )
        max_dup_line_frac: float | None = Field(0.3, ge=0, le=1, description="Repeated lines.")
        max_dup_line_char_frac: float | None = Field(
            0.2, ge=0, le=1, description="Characters in repeated lines."
        )
        top_ngram_char_frac: dict[int, float] = Field(
            {2: 0.2, 3: 0.18, 4: 0.16},
            description="n -> most characters covered by the most frequent n-gram.",
        )
        dup_ngram_char_frac: dict[int, float] = Field(
            {5: 0.15, 6: 0.14, 7: 0.13, 8: 0.12, 9: 0.11, 10: 0.10},
            description="n -> most characters in repeated n-grams.",
        )

    def checks(self, batch: pa.Table) -> list[Check]:
        p = self.params
        # One reason per row; rules run in Gopher's order and stop at the first that fires.
        reasons = [self._first_failure(t) for t in text_list(batch, p.text_column)]
        labels = sorted({r for r in reasons if r is not None})
        return [
            Check(np.array([r == label for r in reasons], dtype=bool), label) for label in labels
        ]

    def _first_failure(self, text: str) -> str | None:
        """The first repetition rule `text` breaks, or None."""
        p = self.params
        size = len(text) or 1
        for parts, max_frac, max_char_frac, unit in (
            (ts.paragraphs(text), p.max_dup_para_frac, p.max_dup_para_char_frac, "para"),
            (ts.nonempty_line_runs(text), p.max_dup_line_frac, p.max_dup_line_char_frac, "line"),
        ):
            dups, dup_chars = ts.duplicate_counts(parts)
            if max_frac is not None and dups / len(parts) > max_frac:
                return f"dup_{unit}_frac>{max_frac:g}"
            if max_char_frac is not None and dup_chars / size > max_char_frac:
                return f"dup_{unit}_char_frac>{max_char_frac:g}"
        words = ts.split_words(text)
        for n, frac in p.top_ngram_char_frac.items():
            if ts.top_ngram_chars(words, n) / size > frac:
                return f"top_{n}_gram_char_frac>{frac:g}"
        for n, frac in p.dup_ngram_char_frac.items():
            if ts.repeated_ngram_chars(words, n) / size > frac:
                return f"dup_{n}_gram_char_frac>{frac:g}"
        return None
