"""C4 rules (Raffel et al. 2020, https://jmlr.org/papers/v21/20-074.html).

Same line rules, order and defaults as datatrove's C4QualityFilter (after TFDS c4_utils), with
one change found on real news pages: a line whose sentence ends inside closing quotes or brackets
(`was easy.”`, `(See above.)`) ends in punctuation, where C4's ASCII list drops it. By default
only document rules decide; `remove_lines: true` also rewrites kept text without the
dropped lines and records how many were removed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import regex
from pydantic import Field

from filters.base import Check, Filter, FilterParams
from filters.text_stats import ends_sentence, for_stats, sentence_count, split_words
from pipeline.core.columns import set_column, text_list
from pipeline.core.registry import register

_CITATION = regex.compile(r"\[\d*]|\[edit]|\[citation needed]")
_END_PUNCTUATION = (".", "?", "!", '"', "'")
_POLICY = (
    "terms of use",
    "privacy policy",
    "cookie policy",
    "uses cookies",
    "use of cookies",
    "use cookies",
)


@dataclass
class _LinePass:
    """Result of C4's line pass over one document."""

    kept_lines: list[str]
    total_lines: int
    sentences: int
    doc_reason: str | None
    prose_ratio: float = 1.0  # characters in kept lines, per character of the page


@register("c4")
class C4(Filter):
    """C4 heuristics: lines without terminal punctuation, short lines, javascript and policy lines
    are dropped; pages with lorem ipsum, a curly bracket or too few sentences left are rejected.

    Reads the text column; with `remove_lines` rewrites it and adds `c4_lines_removed`. Reasons:
    lorem_ipsum, curly_bracket, sentence_count<N. Invisible characters are ignored. Unlike the
    published rule, a short page of 3-4 sentences that is mostly those sentences is kept: on
    ABC news, 30% of clean stories have under 5 sentences and 93% of their characters in
    sentence lines; pages of one paragraph in site chrome have under 64%
    (benchmarks/bench_real_prose.py). `short_page_sentences: null` restores the rule.
    """

    version = 2  # invisible characters

    class Params(FilterParams):
        remove_lines: bool = Field(False, description="Rewrite kept text without dropped lines.")
        remove_citations: bool = Field(True, description="Strip wiki citations like [1], [edit].")
        filter_no_terminal_punct: bool = Field(
            True, description="Drop lines not ending in . ? ! \" '."
        )
        min_sentences: int | None = Field(5, ge=0, description="Fewest sentences left in a page.")
        short_page_sentences: int | None = Field(
            3,
            ge=0,
            description="A page under min_sentences is still kept with this many sentences when "
            "they make up short_page_prose_ratio of it (a short news story, not a paragraph "
            "wrapped in navigation). None: C4's rule as published.",
        )
        short_page_prose_ratio: float = Field(
            0.7, ge=0, le=1, description="Share of a short page's characters in kept lines."
        )
        min_words_per_line: int | None = Field(3, ge=0, description="Drop lines with fewer words.")
        max_word_length: int | None = Field(
            1000, gt=0, description="Drop lines with a longer word."
        )
        filter_lorem_ipsum: bool = Field(True, description="Reject pages with 'lorem ipsum'.")
        filter_javascript: bool = Field(True, description="Drop lines mentioning javascript.")
        filter_curly_bracket: bool = Field(True, description="Reject pages with a '{'.")
        filter_policy: bool = Field(True, description="Drop cookie / terms-of-use lines.")

    def checks(self, batch: pa.Table) -> list[Check]:
        passes = [self._line_pass(t) for t in text_list(batch, self.params.text_column)]
        reasons = np.array([p.doc_reason for p in passes], dtype=object)
        found = [
            Check(reasons == "lorem_ipsum", "lorem_ipsum"),
            Check(reasons == "curly_bracket", "curly_bracket"),
        ]
        p = self.params
        if p.min_sentences is not None:
            sentences = np.array([page.sentences for page in passes])
            few = sentences < p.min_sentences
            if p.short_page_sentences is not None:
                prose = np.array([page.prose_ratio for page in passes])
                short_story = (sentences >= p.short_page_sentences) & (
                    prose >= p.short_page_prose_ratio
                )
                few &= ~short_story
            found.append(Check(few, f"sentence_count<{p.min_sentences}", sentences))
        return found

    def output_columns(self) -> dict[str, pa.DataType]:
        lines = {"c4_lines_removed": pa.int32()} if self.params.remove_lines else {}
        return super().output_columns() | lines

    def may_change(self, column: str) -> bool:
        return self.params.remove_lines and column == self.params.text_column

    def rewrite(self, kept: pa.Table) -> pa.Table:
        if not self.params.remove_lines:
            return kept
        column = self.params.text_column
        passes = [self._line_pass(t) for t in text_list(kept, column)]
        kept = set_column(
            kept, column, pa.array(["\n".join(p.kept_lines).strip() for p in passes], pa.string())
        )
        removed = [p.total_lines - len(p.kept_lines) for p in passes]
        return set_column(kept, "c4_lines_removed", pa.array(removed, pa.int32()))

    def _line_pass(self, text: str) -> _LinePass:
        """Apply the line rules in C4's order; stop early on a page-level rule."""
        p = self.params
        lines = for_stats(text).splitlines()
        kept: list[str] = []
        sentences = 0
        for line in lines:
            line = line.strip()
            words = line.split()
            if p.max_word_length is not None and any(len(w) > p.max_word_length for w in words):
                continue
            if p.remove_citations:
                line = _CITATION.sub("", line)
            if p.filter_no_terminal_punct and (
                not (line.endswith(_END_PUNCTUATION) or ends_sentence(line)) or line.endswith("...")
            ):
                continue
            if p.min_words_per_line is not None and len(words) < p.min_words_per_line:
                continue
            lowered = line.lower()
            if p.filter_lorem_ipsum and "lorem ipsum" in lowered:
                return _LinePass(kept, len(lines), sentences, "lorem_ipsum")
            if p.filter_javascript and "javascript" in lowered:
                continue
            if p.filter_curly_bracket and "{" in line:
                return _LinePass(kept, len(lines), sentences, "curly_bracket")
            if p.filter_policy and any(phrase in lowered for phrase in _POLICY):
                continue
            sentences += sentence_count(split_words(line))
            kept.append(line)
        total = max(sum(len(ln.strip()) for ln in lines), 1)
        return _LinePass(kept, len(lines), sentences, None, sum(map(len, kept)) / total)
