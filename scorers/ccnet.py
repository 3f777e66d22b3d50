"""CCNet text normalisation and document perplexity (Wenzek et al. 2019, https://arxiv.org/abs/1911.00359)."""

from __future__ import annotations

import re
import unicodedata

_DIGITS = re.compile(r"\d")
_NON_PRINTING = re.compile("[" + "".join(map(chr, [*range(0, 32), *range(127, 160)])) + "]")
# Unicode punctuation mapped to ASCII, as CCNet's `replace_unicode_punct`.
_PUNCT = str.maketrans(
    {
        "，": ",",
        "。": ". ",
        "、": ",",
        "”": '"',
        "“": '"',
        "∶": ":",
        "：": ":",
        "？": "?",
        "《": '"',
        "》": '"',
        "）": ")",
        "！": "!",
        "（": "(",
        "；": ";",
        "」": '"',
        "「": '"',
        "０": "0",
        "１": "1",
        "２": "2",
        "３": "3",
        "４": "4",
        "５": "5",
        "６": "6",
        "７": "7",
        "８": "8",
        "９": "9",
        "～": "~",
        "’": "'",
        "…": "...",
        "━": "-",
        "〈": "<",
        "〉": ">",
        "【": "[",
        "】": "]",
        "％": "%",
        "►": "-",
        "–": "-",
        "—": " - ",
        "．": ". ",
    }
)


def normalise(line: str) -> str:
    """Lowercase, strip accents, digits to 0, ASCII punctuation, no control characters."""
    line = line.strip().lower()
    if not line:
        return line
    line = "".join(c for c in unicodedata.normalize("NFD", line) if unicodedata.category(c) != "Mn")
    line = _DIGITS.sub("0", line).translate(_PUNCT)
    return _NON_PRINTING.sub("", line)


def perplexity(log10_prob: float, tokens: int) -> float:
    """10 ** (-log10 P / tokens), rounded to one decimal as CCNet does."""
    return round(10.0 ** (-log10_prob / max(tokens, 1)), 1)
