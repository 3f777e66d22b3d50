"""Gopher quality and repetition rules (Rae et al. 2021, https://arxiv.org/abs/2112.11446).

Same rules, order and default thresholds as datatrove's GopherQualityFilter and
GopherRepetitionFilter; reasons are named `<stat><op><threshold>`. Two differences, both
measured on real prose (benchmarks/bench_real_prose.py): words are whitespace-separated, as
the paper counts them (datatrove's spaCy tokens make "," and "." words without a letter, so a
news story of plain prose scores 0.75 on the 0.8 alpha-word rule; `words: datatrove` keeps its
count), and every statistic reads `\r\n` and `\r` as line ends and ignores invisible
characters.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

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

    version = 2  # whitespace words; line ends and invisible characters
    stat_fields = tuple(GopherStats.__dataclass_fields__)
    decision_params = Filter.decision_params | {
        "min_words",
        "max_words",
        "min_avg_word_length",
        "max_avg_word_length",
        "max_symbol_word_ratio",
        "max_bullet_lines_ratio",
        "max_end_ellipsis_lines_ratio",
        "min_alpha_word_ratio",
        "min_stop_words",
    }

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
        words: Literal["whitespace", "datatrove"] = Field(
            "whitespace",
            description="whitespace: words as the Gopher paper counts them (punctuation-only "
            "tokens are no words); datatrove: spaCy-like tokens, punctuation split off.",
        )

    def checks(self, batch: pa.Table) -> list[Check]:
        p = self.params
        stats = self.statistics(batch)
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
            found.append(Check(failed, f"{stat}{op}{limit:g}", values))
        return found

    def measure_batch(self, texts: list[str]) -> dict[str, np.ndarray]:
        return ts.stat_columns([self.measure(t) for t in texts], GopherStats)

    def measure(self, text: str) -> GopherStats:
        """The Gopher quality statistics of one document."""
        text = ts.for_stats(text)
        if self.params.words == "whitespace":
            words = [w for w in text.split() if not ts.is_symbol(w)]
            real = words
            stops = {w.strip(ts.punctuation_chars()).lower() for w in words}
        else:
            words = ts.split_words(text)
            real = [w for w in words if not ts.is_symbol(w)]
            stops = set(words)
        n_words = len(words) or 1
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
            stop_word_count=len(set(self.params.stop_words).intersection(stops)),
        )


@register("gopher_repetition")
class GopherRepetition(Filter):
    """Gopher repetition rules: repeated lines, paragraphs and word n-grams.

    Reads the text column. Reasons: dup_para_frac>R, dup_para_char_frac>R, dup_line_frac>R,
    dup_line_char_frac>R, top_{n}_gram_char_frac>R, dup_{n}_gram_char_frac>R.
    """

    version = 2  # line ends and invisible characters
    decision_params = Filter.decision_params | {
        "max_dup_para_frac",
        "max_dup_para_char_frac",
        "max_dup_line_frac",
        "max_dup_line_char_frac",
        "top_ngram_char_frac",
        "dup_ngram_char_frac",
    }

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
        # One reason per row: rules run in Gopher's order and the first that fires decides.
        if self.params.stats:  # every statistic is measured anyway: read them
            stats = self.statistics(batch)
            found = [self._first_rule(stats, row) for row in range(batch.num_rows)]
        else:
            found = [self._first_failure(t) for t in text_list(batch, self.params.text_column)]
        reasons = [r for r, _ in found]
        values = np.array([v for _, v in found], dtype=float)
        labels = sorted({r for r in reasons if r is not None})
        return [
            Check(np.array([r == label for r in reasons], dtype=bool), label, values)
            for label in labels
        ]

    def _first_rule(self, stats: dict[str, np.ndarray], row: int) -> tuple[str | None, float]:
        """(the first rule row `row` breaks, its value), or (None, NaN)."""
        for field, reason, limit in self._rules():
            if stats[field][row] > limit:
                return reason, float(stats[field][row])
        return None, float("nan")

    def stat_names(self) -> tuple[str, ...]:
        return tuple(field for field, _, _ in self._rules())

    def _rules(self) -> list[tuple[str, str, float]]:
        """(statistic, reason, limit) of every rule that is on, in Gopher's order."""
        p = self.params
        rules = []
        for unit, frac, char_frac in (
            ("para", p.max_dup_para_frac, p.max_dup_para_char_frac),
            ("line", p.max_dup_line_frac, p.max_dup_line_char_frac),
        ):
            for field, limit in ((f"dup_{unit}_frac", frac), (f"dup_{unit}_char_frac", char_frac)):
                if limit is not None:
                    rules.append((field, f"{field}>{limit:g}", limit))
        for kind, table in (("top", p.top_ngram_char_frac), ("dup", p.dup_ngram_char_frac)):
            for n, limit in table.items():
                field = f"{kind}_{n}_gram_char_frac"
                rules.append((field, f"{field}>{limit:g}", limit))
        return rules

    def measure_batch(self, texts: list[str]) -> dict[str, np.ndarray]:
        measured = [self.measure(t) for t in texts]
        return {f: np.array([m[f] for m in measured], float) for f, _, _ in self._rules()}

    def measure(self, text: str, stop_at_failure: bool = False) -> dict[str, float]:
        """The repetition statistics of one document, in rule order; with `stop_at_failure`,
        only up to the first rule it breaks."""
        text = ts.for_stats(text)
        size = len(text) or 1
        found: dict[str, float] = {}
        limits = {f: lim for f, _, lim in self._rules()}

        def note(field: str, value: float) -> bool:
            found[field] = value
            return stop_at_failure and field in limits and value > limits[field]

        for parts, unit in ((ts.paragraphs(text), "para"), (ts.nonempty_line_runs(text), "line")):
            dups, dup_chars = ts.duplicate_counts(parts)
            if note(f"dup_{unit}_frac", dups / len(parts)):
                return found
            if note(f"dup_{unit}_char_frac", dup_chars / size):
                return found
        words = ts.split_words(text)
        for n in self.params.top_ngram_char_frac:
            if note(f"top_{n}_gram_char_frac", ts.top_ngram_chars(words, n) / size):
                return found
        for n in self.params.dup_ngram_char_frac:
            if note(f"dup_{n}_gram_char_frac", ts.repeated_ngram_chars(words, n) / size):
                return found
        return found

    def _first_failure(self, text: str) -> tuple[str | None, float]:
        """(the first repetition rule `text` breaks, its value), or (None, NaN)."""
        measured = self.measure(text, stop_at_failure=True)
        for field, reason, limit in self._rules():
            if field in measured and measured[field] > limit:
                return reason, measured[field]
        return None, float("nan")
