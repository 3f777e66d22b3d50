"""An answer too short for its prompt, and the short answers that are what was asked: a label
picked, an option copied, a title."""

from __future__ import annotations

import regex

from filters.text_stats import has_alnum, split_words
from scorers.answer_language import prose

# A request for an explanation, which no title or name alone answers.
EXPLANATION = r"explain|describe|discuss|elaborate|essay|in detail|summari[sz]e|tell me about|why"
DETAILED_REQUEST = regex.compile(rf"\b({EXPLANATION})\b", regex.IGNORECASE)
# A request no label answers ("Explain the water cycle in detail", "Write ...").
OPEN_REQUEST = regex.compile(rf"\b({EXPLANATION}|write|compose)\b", regex.IGNORECASE)
# A request for a title or a name, which a short line answers ("Suggest a movie title for the
# following plot: ..."), looked for where a request sits: the prompt's first and last characters.
ASKS_FOR_NAME = regex.compile(r"\b(title|headline|name)\b", regex.IGNORECASE)
REQUEST_CHARS = 120
# A prompt offering options to pick from.
OFFERS_OPTIONS = regex.compile(r"\b(options?|choices?|choose|pick|select)\b", regex.IGNORECASE)
# An option's label before its text ("(3). ", "(II) ", "C) ", "- "), and how long an option is
# at most.
LABEL = r"(?:[A-Za-z]|\d{1,2}|[ivxIVX]{1,4})"  # a letter, a number or a Roman numeral
OPTION_LABEL = regex.compile(rf"^(?:\(?{LABEL}\)?[.):]+|[-*•])\s+")
# Where a listed option ends: a line's end, a semicolon, a " - " item, or the next label.
OPTION_BREAK = regex.compile(rf"\n|;|\s-\s|(?=\({LABEL}\)[.):]?\s)")
OPTION_WORDS = 15
CLOSING_MARKS = ".,;:!?\"'”’)]"
SYMBOL = regex.compile(r"\p{So}")


def too_few_words(answer: str, fewest: int) -> bool:
    """True when the answer has fewer than `fewest` words that say something."""
    found = 0
    for token in split_words(answer):
        found += is_word(token)
        if found >= fewest:
            return False
    return True


def too_short(prompt: str, answer: str, ratio: float, min_prompt_chars: int) -> bool:
    """True when the answer is under `ratio` characters per character of a long prompt's prose
    and is not a label picked as asked."""
    prose_chars = len(prose(prompt))
    if prose_chars < min_prompt_chars or len(answer) / max(prose_chars, 1) >= ratio:
        return False
    return not is_choice(prompt, answer)


def is_word(token: str) -> bool:
    """A token that says something: letters or digits, or an emoji."""
    return has_alnum(token) or SYMBOL.search(token) is not None


def is_choice(prompt: str, answer: str) -> bool:
    """True for a label picked as asked: one of the options a prompt lists, copied ("(3). not
    enough information"); a short line where the request asks for a title or a name and not
    for an explanation; or, to a request that is not open-ended, up to 4 words, a number among
    them or each in the prompt or yes/no/true/false ("negative", "3 stars", "The answer is
    C.")."""
    if OFFERS_OPTIONS.search(prompt) and _option_text(answer) in _options(prompt):
        return True
    request = (prompt.strip()[:REQUEST_CHARS], prompt.strip()[-REQUEST_CHARS:])
    if (
        any(ASKS_FOR_NAME.search(part) for part in request)
        and not any(DETAILED_REQUEST.search(part) for part in request)
        and _is_short_line(answer)
    ):
        return True
    if OPEN_REQUEST.search(prompt.strip().split("\n")[0]):
        return False
    words = [w.strip(CLOSING_MARKS) for w in split_words(answer.lower())]
    words = [w for w in words if has_alnum(w)]
    if not 0 < len(words) <= 4:
        return False
    named = set(split_words(prompt.lower())) | {"yes", "no", "true", "false"}
    return any(c.isdigit() for c in answer) or all(w in named for w in words)


def _options(prompt: str) -> set[str]:
    """The items a prompt lists, each past its label: its lines, and the parts of a line
    split by semicolons, " - " or labels ("(I). a; (II). b", "- yes - no")."""
    items = OPTION_BREAK.split(prompt)
    return {text for item in items if 0 < len((text := _option_text(item)).split()) <= OPTION_WORDS}


def _option_text(text: str) -> str:
    """An option's words, lower-cased, past its label and without closing marks."""
    return " ".join(OPTION_LABEL.sub("", text.strip()).rstrip(CLOSING_MARKS).lower().split())


def _is_short_line(answer: str) -> bool:
    """True for one line of a few words (a title, a name)."""
    return "\n" not in answer.strip() and 0 < len(answer.split()) <= OPTION_WORDS
