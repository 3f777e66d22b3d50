"""An answer that mostly repeats its prompt, or an earlier answer, instead of answering it."""

from __future__ import annotations

import re

import regex

from filters.text_stats import blocks, has_alnum, split_words
from scorers.lang_id import CJK_CHAR, CJK_CLASS

# A request to give the text back edited, which an answer repeating it fulfils ("Repeat this
# sentence, but with the correct capitalization", "Add punctuation: ...").
ASKS_FOR_AN_EDIT = re.compile(
    r"\b(punctuat\w*|capitali[sz]\w*|lower ?case|upper ?case|spelling|grammar\w*|typos?"
    r"|proofread\w*|correct(ed|ly|ion)?|fix|repeat|rewrite|paraphrase|spaces)\b"
    r"|\b(divide|split|break)\b[^.\n]{0,40}\bparagraphs?\b|\bparagraph breaks?\b",
    re.IGNORECASE,
)
# A request, in the prompt's first sentence, to give back part of the text ("Delete the last two
# paragraphs from the following text."), which an answer quoting the rest of it fulfils.
ASKS_TO_CUT = re.compile(r"\b(delete|remove|omit|shorten|trim)\b", re.IGNORECASE)
REQUEST_END = re.compile(r"[.?!:\n]")
KEPT_WHOLE = 0.8  # an answer with this share of the text's 4-grams gave the text back whole
# Chinese and Japanese write words unspaced, so each Han or kana character is a word of its own,
# worth half of one (else '"I want to go for a walk"这句话中包含7个单词' is 8 words, 7 of them the
# prompt's quote).
CJK_WORD_SHARE = 0.5
CJK_OR_OTHER = regex.compile(rf"[{CJK_CLASS}]|[^{CJK_CLASS}]+")


def echoes_prompt(prompt: str, response: str) -> bool:
    """True when the answer mostly repeats the prompt's own words (4-grams), its request (first
    line) included: an answer that rewrites, fixes or quotes the text given is not an echo, nor
    is one that changes the text where the prompt asks for it back edited (punctuated,
    capitalized, corrected, split into paragraphs): an answer found as it is in the prompt still
    echoes it, unless the prompt asks to cut the text and the answer leaves a part out."""
    if ASKS_FOR_AN_EDIT.search(prompt) and _paragraphs(response) not in _paragraphs(prompt):
        return False
    said, heard = _word_4grams(response), _word_4grams(prompt)
    if _cuts_as_asked(prompt, said):
        return False
    if not said:
        return _plain(response) == _plain(prompt)
    if len(said & heard) / len(said) < 0.8 or len(response) > 1.5 * len(prompt):
        return False
    request = prompt.strip().splitlines()[0]
    asked = _word_4grams(request)
    if not asked:
        return _plain(request) in _plain(response)
    return len(asked & said) / len(asked) >= 0.5


def _cuts_as_asked(prompt: str, said: set[tuple[str, ...]]) -> bool:
    """True when the prompt's first sentence asks to cut the text after it and the answer leaves
    out a part of that text."""
    request = REQUEST_END.split(prompt.strip(), maxsplit=1)
    if len(request) < 2 or not ASKS_TO_CUT.search(request[0]):
        return False
    text = _word_4grams(request[1])
    return bool(text) and len(said & text) < KEPT_WHOLE * len(text)


def repeats_earlier_answer(answers: list[str], most: float, min_words: int = 30) -> bool:
    """True when an answer after the first, of `min_words` words or more, has more than `most`
    of its words in word 5-grams of the answers before it (a Han or kana character half a
    word): the follow-up ("now make it rhyme") answered by the earlier answer again. Looping
    inside one answer is `_looped`'s."""
    earlier: set[tuple[str, ...]] = set()
    for answer in answers:
        words = _words(answer)
        weights = _weights(words)
        grams = _grams(words, weights, 5)
        if earlier and sum(weights) >= min_words:
            covered = [False] * len(words)
            for at, gram in grams:
                if gram in earlier:
                    covered[at : at + len(gram)] = [True] * len(gram)
            if sum(w for w, c in zip(weights, covered, strict=True) if c) > most * sum(weights):
                return True
        earlier.update(gram for _, gram in grams)
    return False


def _plain(text: str) -> str:
    """Lower-cased, white space collapsed."""
    return _collapsed(text.lower())


def _collapsed(text: str) -> str:
    """White space collapsed."""
    return " ".join(text.split())


def _paragraphs(text: str) -> str:
    """White space collapsed within paragraphs; paragraphs (split on blank lines) one per line."""
    return "\n".join(_collapsed(block) for block in blocks(text))


def _word_4grams(text: str) -> set[tuple[str, ...]]:
    """The lower-cased word 4-grams of `text` (words with a letter or digit)."""
    words = _words(text)
    return {gram for _, gram in _grams(words, _weights(words), 4)}


def _words(text: str) -> list[str]:
    """The lower-cased words of `text` that have a letter or digit, each Han or kana character
    on its own."""
    words = [w.lower() for w in split_words(text) if has_alnum(w)]
    if text.isascii() or not CJK_CHAR.search(text):
        return words
    return [part for w in words for part in CJK_OR_OTHER.findall(w) if has_alnum(part)]


def _weights(words: list[str]) -> list[float]:
    """How much of a word each is: a Han or kana character half of one (a Chinese word
    averages two characters)."""
    return [CJK_WORD_SHARE if len(w) == 1 and CJK_CHAR.match(w) else 1.0 for w in words]


def _grams(words: list[str], weights: list[float], n: int) -> list[tuple[int, tuple[str, ...]]]:
    """The word n-grams of `words` with where each starts; in a text with Han or kana
    characters, a gram spans words worth n by their `weights` (2n characters of Chinese)."""
    if CJK_WORD_SHARE not in weights:
        return list(enumerate(zip(*(words[i:] for i in range(n)))))
    grams = []
    for start in range(len(words)):
        total = 0.0
        for end in range(start, len(words)):
            total += weights[end]
            if total >= n:
                grams.append((start, tuple(words[start : end + 1])))
                break
    return grams
