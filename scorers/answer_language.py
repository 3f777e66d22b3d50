"""The language of an instruction record's prompt and answer, read with fastText on their lines
of prose, and when an answer in another language is what the prompt asked for."""

from __future__ import annotations

from typing import Any

import regex

from scorers.lang_id import CJK_CHAR, LETTER, fasttext_lines

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
HAN = regex.compile(r"\p{Han}")
KANA = regex.compile(r"[\p{Hiragana}\p{Katakana}]")
HANGUL = regex.compile(r"\p{Hangul}")
HAN_LANGS = ("zh", "ja", "wuu", "yue")  # what a text in Han characters alone may be
CHINESE = {"zh", "wuu", "yue"}  # Mandarin, Wu, Cantonese: fastText tells them apart poorly
LONG_HAN_TEXT = 20  # characters: a Han-only text longer than this is not Japanese
SCRIPTS = {
    "latin": regex.compile(r"\p{Latin}"),
    "cjk": CJK_CHAR,
    "hangul": HANGUL,
    "cyrillic": regex.compile(r"\p{Cyrillic}"),
    "greek": regex.compile(r"\p{Greek}"),
    "arabic": regex.compile(r"\p{Arabic}"),
    "hebrew": regex.compile(r"\p{Hebrew}"),
    "devanagari": regex.compile(r"\p{Devanagari}"),
    "thai": regex.compile(r"\p{Thai}"),
}
# Quoted words ("…", “…”, ‘…’, 「…」, 『…』, «…»), and the words after a prompt's last colon.
QUOTED = regex.compile(
    r'"([^"\n]{1,80})"|“([^”\n]{1,80})”|‘([^’\n]{1,80})’|「([^」\n]{1,80})」|『([^』\n]{1,80})』'
    r"|«([^»\n]{1,80})»"
)
COLON_TAIL = regex.compile(r"[:：][^\S\n]*+([^\n:：]{1,40}+)$")
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
    the other languages each prompt may be in: its first and last prose lines', its other
    guesses of OTHER_GUESS or more, all the Han languages for a prompt in Han characters alone,
    and the answer's when the prompt quotes words in the answer's script."""
    answers = [prose(r) for r in responses]
    texts = prompts + answers + [ln for p in prompts for ln in end_lines(p)]
    labels, probs = model.predict(fasttext_lines(texts), k=GUESSES)
    guesses = [
        _in_script(
            text, [(g.removeprefix("__label__"), float(q)) for g, q in zip(label, p, strict=True)]
        )
        if text.strip()
        else []
        for label, p, text in zip(labels, probs, texts, strict=True)
    ]
    langs = [g[0][0] if g and g[0][1] >= sure else None for g in guesses]
    n = len(prompts)
    firsts, lasts = langs[2 * n :: 2], langs[2 * n + 1 :: 2]
    # A short prompt reads as two languages ("How to walk a slackline?": nl 0.76, en 0.19).
    maybe = [{lang for lang, q in g[1:] if q >= OTHER_GUESS} for g in guesses[:n]]
    alt_langs = []
    for i, prompt in enumerate(prompts):
        alts = {firsts[i], lasts[i]} | maybe[i]
        if han_only(prompt):  # "寿司": a Chinese word, and a Japanese one
            alts |= set(HAN_LANGS)
        quoted = quoted_scripts(prompt) if langs[n + i] is not None else set()
        if quoted and main_script(answers[i]) in quoted:
            alts.add(langs[n + i])
        alt_langs.append(sorted(alts - {None}))
    return langs[:n], langs[n : 2 * n], alt_langs


def in_other_language(
    prompt: str, prompt_lang: str | None, answer_lang: str | None, alt_langs: list[str]
) -> bool:
    """True when the answer's language is sure, differs from the prompt's and from the others
    the prompt may be in, and the prompt does not ask for it."""
    if prompt_lang is None or answer_lang is None or _same(answer_lang, prompt_lang):
        return False
    others = not any(_same(answer_lang, alt) for alt in alt_langs)
    return others and not asks_for(prompt, answer_lang)


def _same(lang: str, other: str) -> bool:
    """True for one language, counting Chinese varieties as one (their writing is shared)."""
    return lang == other or (lang in CHINESE and other in CHINESE)


def han_only(text: str) -> bool:
    """True when at least half the text's letters are Han characters, with no kana and no
    Hangul: Chinese, or a Japanese name or noun phrase (Japanese prose has kana)."""
    if text.isascii():
        return False
    han = len(HAN.findall(text))
    if not han or KANA.search(text) or HANGUL.search(text):
        return False
    return han >= len(LETTER.findall(text)) - han


def _in_script(text: str, guesses: list[tuple[str, float]]) -> list[tuple[str, float]]:
    """fastText's guesses, less those the text's script rules out: Han characters alone are
    not Korean, Vietnamese or Armenian ("友谊" reads as German 0.81), and such a text longer
    than LONG_HAN_TEXT characters is Chinese, not Japanese."""
    if not han_only(text):
        return guesses
    kept = [(lang, q) for lang, q in guesses if lang in HAN_LANGS]
    if len(text) > LONG_HAN_TEXT:
        kept = [("zh" if lang == "ja" else lang, q) for lang, q in kept]
    return kept


def main_script(text: str) -> str | None:
    """The script most of the text's letters are in (a Han or kana character counting as
    UNSPACED_WIDTH letters), or None without letters."""
    counts = {name: len(pattern.findall(text)) for name, pattern in SCRIPTS.items()}
    counts["cjk"] *= UNSPACED_WIDTH
    best = max(counts, key=counts.__getitem__)
    return best if counts[best] else None


def quoted_scripts(prompt: str) -> set[str]:
    """The scripts of the words a prompt quotes, or ends on after a colon, other than the
    prompt's own: a Chinese prompt asking for a sentence with “opulent” may be answered in
    English."""
    spans = [m.group(m.lastindex) for m in QUOTED.finditer(prompt)]
    spans += COLON_TAIL.findall(prompt.rstrip())
    if not spans:
        return set()
    own = main_script(prompt)
    return {s for span in spans if (s := main_script(span)) is not None and s != own}


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
