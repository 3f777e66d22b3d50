"""Text statistics shared by the heuristic filters: words, lines, duplicates, n-grams.

Word splitting approximates the spaCy English tokenizer that datatrove uses for Gopher and
FineWeb rules (runs of word characters, and punctuation split off), in one C-level regex call.
"""

from __future__ import annotations

import dataclasses
import re
from collections import Counter
from collections.abc import Sequence
from functools import cache
from typing import Any

import numpy as np
import regex

# Characters counted as punctuation (datatrove's PUNCTUATION, plus C0/C1 control characters).
_PUNCTUATION = (
    "!/—”:％１〈&(、━\\【#%「」，】；+^]~“《„';’{|∶´[=-`*．（–？！：$～«〉,><》)?）。…@_.\"}►»"
    + "".join(chr(c) for c in (*range(0, 9), *range(11, 32), *range(127, 160)))
)
# Alternatives in priority order, after spaCy's English rules: initials and dotted abbreviations
# keep their periods ("U.S.", "e.g.", "c."); common clitics split off ("Pliny|'s", "don|'t",
# "we|'ll") while other apostrophes stay inside words ("ne'er", "look'd"); numbers keep inner
# separators ("3.14", "1,000"); a run of one punctuation character is one token ("...").
_WORD = re.compile(
    r"""[^\W\d_](?:\.[^\W\d_])*\.(?!\w)
    | ['’](?:s|t|ll|re|ve|m)\b
    | \w+(?:(?:[.,]|['’](?!(?:s|t|ll|re|ve|m)\b))\w+)*
    | ([^\w\s])\1*
    """,
    re.VERBOSE | re.IGNORECASE,
)
# Words spaCy keeps with their period; here the period is split off but ends no sentence.
_TITLES = frozenset(
    "mr mrs ms dr st jr sr vs etc inc ltd co corp mt prof gen gov sen rep rev capt col lt sgt "
    "jan feb mar apr jun jul aug sep sept oct nov dec".split()
)
_PUNCT_TOKEN = regex.compile(r"\p{P}+")
_SENTENCE_PUNCT = frozenset(
    ".!?։؟۔܀܁܂߹।॥၊။።፧፨᙮᜵᜶᠃᠉᥄᥅᪨᪩᪪᪫᭚᭛᭞᭟᰻᰼᱾᱿‼‽⁇⁈⁉⸮⸼꓿꘎꘏꛳꛷꡶꡷꣎꣏꤯꧈꧉꩝꩞꩟꫰꫱꯫﹒﹖﹗！．？｡。"
)
_TERMINAL = regex.compile(r"\p{Sentence_Terminal}")
_ALPHA = regex.compile(r"[^\W\d_]")
_PARAGRAPH_BREAK = regex.compile(r"\n{2,}")
# Lines holding only white space (spaces, tabs, a CR) break paragraphs as people write them.
BLANK_LINES = regex.compile(r"\n\s*\n")
# Closing quotes, brackets and emphasis a sentence mark may sit behind.
CLOSERS = "\"'”’»›)]}*"
_LINE_BREAKS = regex.compile(r"\n+")

STOP_WORDS = frozenset({"the", "be", "to", "of", "and", "that", "have", "with"})
# Characters that show nothing: zero-width space, non-joiner and joiner, word joiner, BOM,
# soft hyphen. They are left out of every statistic, so a page of zero-width "paragraphs"
# does not read as repeated paragraphs.
_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00ad"))
_LINE_ENDS = regex.compile(r"\r\n?|[\u2028\u2029\x85\x0b\x0c]")
_BLANKISH = regex.compile(r"^[\u00a0\u202f\u2007\t ]+$", regex.MULTILINE)


def for_stats(text: str) -> str:
    """`text` as the statistics read it: every line end (\\r\\n, \\r, Unicode separators)
    a newline, invisible characters gone, lines of (non-breaking) spaces blank. The text
    itself is never changed."""
    text = _LINE_ENDS.sub("\n", text.translate(_INVISIBLE))
    return _BLANKISH.sub("", text)


@cache
def terminal_punctuation() -> str:
    """Every character with the Unicode Sentence_Terminal property (. ! ? and their kin)."""
    return "".join(c for c in map(chr, range(0x20000)) if _TERMINAL.match(c))


@cache
def punctuation_chars() -> str:
    """Characters that make a word 'symbol only' when it has nothing else."""
    return _PUNCTUATION + terminal_punctuation()


def split_words(text: str) -> list[str]:
    """Words and punctuation tokens of `text`, close to spaCy's English tokenizer."""
    return [m.group() for m in _WORD.finditer(text)]


def has_alnum(token: str) -> bool:
    """True when the token has a letter or a digit (a word, not punctuation)."""
    return token.isalnum() or any(c.isalnum() for c in token)


def sentence_count(words: list[str]) -> int:
    """Sentences in a tokenised text, as spaCy's sentencizer counts them: a new one starts at the
    first non-punctuation word after a sentence-final mark (a title's period, "Mr.", is none)."""
    count, seen_end, previous = (1 if words else 0), False, ""
    for word in words:
        if word in _SENTENCE_PUNCT:
            seen_end = seen_end or previous.lower() not in _TITLES
        elif seen_end and not _PUNCT_TOKEN.fullmatch(word):
            count += 1
            seen_end = False
        previous = word
    return count


def is_symbol(word: str) -> bool:
    """True when `word` is made only of punctuation characters."""
    return not word.strip(punctuation_chars())


def has_alpha(word: str) -> bool:
    """True when `word` holds at least one letter."""
    return _ALPHA.search(word) is not None


def ends_with_terminal(line: str) -> bool:
    """True when `line` ends with a sentence-terminal character."""
    return bool(line) and _TERMINAL.match(line[-1]) is not None


def ends_sentence(line: str) -> bool:
    """True when `line` ends a sentence: its last visible character, past closing quotes and
    brackets, is sentence-terminal (`He left."`, `(See above.)` and `Done. ` all do)."""
    return ends_with_terminal(line.rstrip().rstrip(CLOSERS))


def paragraphs(text: str) -> list[str]:
    """Paragraphs as Gopher counts them: the stripped text split on runs of 2+ newlines."""
    return _PARAGRAPH_BREAK.split(text.strip())


def blocks(text: str) -> list[str]:
    """Paragraphs as a reader sees them: the text split on lines that hold only white space,
    empty ones left out."""
    return [block for block in BLANK_LINES.split(text.strip()) if block.strip()]


def nonempty_line_runs(text: str) -> list[str]:
    """Lines split on runs of newlines (so blank lines do not count)."""
    return _LINE_BREAKS.split(text)


def duplicate_counts(items: list[str]) -> tuple[int, int]:
    """(number of repeated items, characters in them) counting every occurrence after the first."""
    seen: set[str] = set()
    count = chars = 0
    for item in items:
        if item in seen:
            count += 1
            chars += len(item)
        else:
            seen.add(item)
    return count, chars


def top_ngram_chars(words: list[str], n: int) -> int:
    """Characters covered by the most frequent word n-gram (length of the n-gram x its count)."""
    if len(words) < n:
        return 0
    counts = Counter(zip(*(words[i:] for i in range(n))))
    gram, count = counts.most_common(1)[0]
    return (sum(map(len, gram)) + n - 1) * count


def repeated_ngram_chars(words: list[str], n: int) -> int:
    """Characters in n-grams that repeat an earlier n-gram, scanning without overlap (Gopher)."""
    grams = list(zip(*(words[i:] for i in range(n))))
    if len(set(grams)) == len(grams):
        return 0
    seen: set[tuple[str, ...]] = set()
    repeated = idx = 0
    while idx < len(grams):
        gram = grams[idx]
        if gram in seen:
            repeated += sum(map(len, gram))
            idx += n
        else:
            seen.add(gram)
            idx += 1
    return repeated


def stat_columns(stats: Sequence[Any], kind: type) -> dict[str, np.ndarray]:
    """Per-document statistics (instances of the dataclass `kind`) as one float array per field,
    named like the fields."""
    names = [f.name for f in dataclasses.fields(kind)]
    values = np.array([dataclasses.astuple(s) for s in stats], dtype=float).reshape(-1, len(names))
    return dict(zip(names, values.T, strict=True))
