"""The language of an instruction record's prompt and answer, read with fastText on their lines
of prose, and when an answer in another language is what the prompt asked for."""

from __future__ import annotations

from typing import Any

import regex

from scorers.lang_id import fasttext_lines

# A word of prose: two letters or more, not part of a name glued to underscores or, in the Latin
# script, to digits (`str1`, `max_len`: code; Korean glues counters to numbers: "2023년에").
PROSE_WORD = regex.compile(
    r"(?<![\p{L}\p{N}_])(?=\p{Latin})\p{L}[\p{L}'’-]*\p{L}(?![\p{L}\p{N}_])"
    r"|(?<![\p{L}_])(?!\p{Latin})\p{L}[\p{L}'’-]*\p{L}(?![\p{L}_])"
)
# URLs, markup tags, inline code and inline math ($2x = 8$, \(x\); not "$5 and $10").
NOT_PROSE = regex.compile(
    r"https?://\S+|<[^<>\n]*>|`[^`\n]*`"
    r"|\$(?!\s)[^$\n]*(?<![\s\\])\$(?![\w{(])|\\\([^\n]{0,200}?\\\)|\\\[[^\n]{0,200}?\\\]"
)
PROSE_LINE_WORDS = 4  # a line with fewer is a label, a name or code, not prose
# Scripts written without spaces between words: a run of them is several words, not one (a
# Chinese question "上面的SQL语句能正确完成Task描述的需求吗？" is prose, not a label).
UNSPACED = regex.compile(r"[\p{Han}\p{Hiragana}\p{Katakana}\p{Thai}\p{Lao}\p{Khmer}\p{Myanmar}]")
UNSPACED_PER_WORD = 2  # characters; a Chinese word averages under two
UNSPACED_WIDTH = 3  # a Chinese character says as much as this many Latin ones
# Square and curly brackets, operators, underscores, backslashes, a `$` before a name (not
# parentheses, common in prose, nor money): a line with this share of them among its visible
# characters is code ("df[(df['date'] >= 202204) & ...]" reads as Turkish to fastText).
CODE_MARK = regex.compile(r"[\[\]{}<>=&|;_\\]|\$(?=[A-Za-z_{(])")
CODE_SHARE = 0.1
TABLE_ROW = regex.compile(r"^\s*\|.*\|\s*$")  # a markdown table's row: its bars are not code
GUESSES = 3  # languages fastText is asked for per text
OTHER_GUESS = 0.1  # a prompt's other guess this likely is a language it may be in
LANGUAGE_NAMES = {
    "de": "german", "es": "spanish", "fr": "french", "it": "italian", "pt": "portuguese",
    "ru": "russian", "zh": "chinese", "ja": "japanese", "pl": "polish", "nl": "dutch",
    "ko": "korean", "ar": "arabic", "hi": "hindi", "tr": "turkish", "en": "english",
    "fi": "finnish", "sv": "swedish", "da": "danish", "no": "norwegian", "cs": "czech",
    "sk": "slovak", "ro": "romanian", "hu": "hungarian", "el": "greek", "he": "hebrew",
    "vi": "vietnamese", "th": "thai", "id": "indonesian", "ms": "malay", "uk": "ukrainian",
    "bg": "bulgarian", "hr": "croatian", "sr": "serbian", "sl": "slovenian", "lt": "lithuanian",
    "lv": "latvian", "et": "estonian", "ca": "catalan", "eu": "basque", "gl": "galician",
    "fa": "persian", "ur": "urdu", "bn": "bengali", "ta": "tamil", "te": "telugu",
    "sw": "swahili", "tl": "tagalog", "la": "latin", "eo": "esperanto", "cy": "welsh",
    "ga": "irish", "is": "icelandic", "af": "afrikaans", "mr": "marathi", "gu": "gujarati",
}  # fmt: skip
# "Translate" in the languages people most often ask in ("traduce:", "übersetze"), or a request
# for another language.
ASKS_TO_TRANSLATE = regex.compile(
    r"translat|tradu[cizç]|übersetz|vertaal|przetłumacz|tłumacz|перев[оеи]д|翻[译譯訳]|번역|çevir"
    r"|\b(?:another|other|a different|a foreign)\s+language",
    regex.IGNORECASE,
)


def read_languages(
    model: Any, prompts: list[str], responses: list[str], sure: float
) -> tuple[list[str | None], list[str | None], list[list[str]]]:
    """Each prompt's and answer's language (None unless fastText gives it `sure` or more), and
    the other languages each prompt may be in: its first and last prose lines', and its other
    guesses of OTHER_GUESS or more."""
    texts = prompts + [prose(r) for r in responses] + [ln for p in prompts for ln in end_lines(p)]
    labels, probs = model.predict(fasttext_lines(texts), k=GUESSES)
    guesses = [
        [(g.removeprefix("__label__"), float(q)) for g, q in zip(label, p, strict=True)]
        if text.strip()
        else []
        for label, p, text in zip(labels, probs, texts, strict=True)
    ]
    langs = [g[0][0] if g and g[0][1] >= sure else None for g in guesses]
    n = len(prompts)
    firsts, lasts = langs[2 * n :: 2], langs[2 * n + 1 :: 2]
    # A short prompt reads as two languages ("How to walk a slackline?": nl 0.76, en 0.19).
    maybe = [{lang for lang, q in g[1:] if q >= OTHER_GUESS} for g in guesses[:n]]
    alt_langs = [
        sorted(({first, last} | others) - {None})
        for first, last, others in zip(firsts, lasts, maybe, strict=True)
    ]
    return langs[:n], langs[n : 2 * n], alt_langs


def in_other_language(
    prompt: str, prompt_lang: str | None, answer_lang: str | None, alt_langs: list[str]
) -> bool:
    """True when the answer's language is sure, differs from the prompt's and from the others
    the prompt may be in, and the prompt does not ask for it."""
    if prompt_lang is None or answer_lang is None or answer_lang == prompt_lang:
        return False
    return answer_lang not in alt_langs and not asks_for(prompt, answer_lang)


def prose(answer: str) -> str:
    """The answer's lines of prose, what its language is read on: lines of PROSE_LINE_WORDS
    words or more once URLs, markup tags and inline code are taken out, and not code."""
    lines = (NOT_PROSE.sub(" ", ln) for ln in answer.splitlines())
    return "\n".join(ln for ln in lines if _is_prose(ln))


def _is_prose(line: str) -> bool:
    """True when the line has PROSE_LINE_WORDS words or more and under CODE_SHARE code marks
    (a character of an unspaced script counting as UNSPACED_WIDTH visible ones)."""
    if TABLE_ROW.match(line):
        line = line.replace("|", " ")
    unspaced = len(UNSPACED.findall(line))
    visible = sum(map(len, line.split())) + (UNSPACED_WIDTH - 1) * unspaced
    if len(CODE_MARK.findall(line)) >= CODE_SHARE * visible:
        return False
    words = len(PROSE_WORD.findall(UNSPACED.sub(" ", line))) + unspaced // UNSPACED_PER_WORD
    return words >= PROSE_LINE_WORDS


def end_lines(prompt: str) -> tuple[str, str]:
    """The prompt's first and last lines of prose, where a request usually sits around a text
    it is about ("Read the story, then answer: ... Do they have bread?")."""
    lines = prose(prompt).splitlines() or [""]
    return lines[0], lines[-1]


def asks_for(prompt: str, lang: str) -> bool:
    """True when the prompt asks for a translation or another language, or names the answer's
    language anywhere: a prompt about a language ("Do you know how to speak German?") may be
    answered in it; a name used otherwise ("Greek yogurt") exempts too, the rarer mistake."""
    name = LANGUAGE_NAMES.get(lang)
    named = name is not None and regex.search(rf"\b{name}\b", prompt, regex.IGNORECASE)
    return ASKS_TO_TRANSLATE.search(prompt) is not None or bool(named)
