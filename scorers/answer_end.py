"""How an answer ends: cut off (mid-sentence, a code fence left open), and where its end can be
judged by a language model and where it cannot."""

from __future__ import annotations

import re

from filters.text_stats import CLOSERS, blocks, ends_sentence

# Marks an answer may end on that a web line's sentence test leaves out: an ellipsis (C4
# counts a line ending "..." as unfinished) and markdown's `_` emphasis.
ANSWER_ELLIPSIS = "…"
ANSWER_EMPHASIS = "_"
ENDS_ON_LINK = re.compile(r"https?://\S+\s*$")
# Items on one line: `a, b; c` or `1. a 2. b`.
LIST_SEPARATOR = re.compile(r"[,;]|\s\d+[.)]\s")
BULLET = re.compile(r"^\s*(?:[-*+•]|\d+[.)])\s+")
SHORT_ANSWER_WORDS = 5  # a label or a few names is complete without a sentence mark
LIST_ITEM_WORDS = 4
LIST_ITEMS = 3
# Words a sentence does not end on: an answer ending on one was cut.
DANGLING = frozenset(
    "a an the and or but of to with from by as that which who whose is are was were be been "
    "being this these those its their our your my his her if than so because while when where "
    "into onto between".split()
)
# An answer may end asking the reader to pick one of the options it listed, as a text game or a
# menu waits for a move ("E) Propose your own path.\n\nChoose your path:"), not on a lead-in
# ("Choose one of the following:", "Enter this command:", "Select the menu item:").
CHOICE = r"(?:path|option|choice|move|action|answer|selection|decision)"
ASKS_TO_CHOOSE = re.compile(
    rf"^(?:please\s+)?(?:choose|select|pick|make)\s+(?:your|an?|one)\s+(?:\w+\s+)?{CHOICE}s?\b"
    rf"(?!.*\b(?:following|below|these|as follows)\b)[^:]{{0,60}}:$"
    rf"|^(?:enter\s+)?your\s+(?:next\s+)?(?:{CHOICE}|turn)\s*(?:\([^()]{{0,30}}\))?:$",
    re.IGNORECASE,
)
# An option line: a bullet, or "A) ...", "Option B: ..." (not a "**bold**" heading).
OPTION = re.compile(rf"{BULLET.pattern}|^(?:[A-Za-z][.)]|option\s+\w+\s*[:.)])\s+", re.I)
OPTIONS_BEFORE = 2  # an ask after fewer is a step's lead-in, not a menu
# A markdown rule ("---") closing an answer: a line, not a sentence.
HORIZONTAL_RULE = re.compile(r"^(?:[-*_][ \t]*){3,}$")
# Verse: lines of this many words (fewest, most), most ending with no mark at all ("come into
# to happier places"), where a last line ending "get her" is not cut.
VERSE_LINES = 4
VERSE_LINE_WORDS = (3, 12)
NOT_VERSE = re.compile(r"^\s*(?:[-*+•]|\d)|=")  # a list item, a quantity, an equation
FENCE = "```"
FENCE_LINE = re.compile(r"^[ \t]*```", re.M)
# A last paragraph of this many words, ending a sentence, is the answer's own closing prose: a
# fence miscounted before it (a stray or unclosed one) did not cut the answer.
CLOSING_PROSE_WORDS = 12
PROSE_FENCE = re.compile(r"```[ \t]*(?:markdown|md|text|txt|plaintext|latex|tex)\b", re.I)
CODE_LINE = re.compile(r"^(?:[ \t]|#|//|/\*|--|;)", re.M)  # indented, or a code comment


def leaves_code_fence_open(answer: str) -> bool:
    """True when a code fence is left open: an odd number of fence marks, counted both over
    the whole answer and at line starts. Either count alone misreads real answers: backticks
    written in a sentence ("wrap code in triple backticks (```)"), a fence closed at the end of
    the code's last line ("}```"). An answer ending on a paragraph of prose is not cut, whatever
    the count."""
    odd = answer.count(FENCE) % 2 == 1 and len(FENCE_LINE.findall(answer)) % 2 == 1
    # a block of prose (markdown, text) left open ends in prose too, cut or not
    return odd and (PROSE_FENCE.search(answer) is not None or not ends_on_prose(answer))


def ends_on_prose(answer: str) -> bool:
    """True when the answer's last paragraph has no fence nor code line (indented, a comment),
    CLOSING_PROSE_WORDS words or more, and ends a sentence ("This workflow gives your CI/CD
    pipeline a solid start.")."""
    last = (blocks(answer) or [""])[-1]
    return (
        FENCE not in last
        and CODE_LINE.search(last) is None
        and len(last.split()) >= CLOSING_PROSE_WORDS
        and ends_with_sentence_mark(last)
    )


def ends_on_link(answer: str) -> bool:
    """True when the answer's last word is a URL: a link ends where it ends, whatever a model
    expects next."""
    return ENDS_ON_LINK.search(answer) is not None


def ends_with_sentence_mark(answer: str) -> bool:
    """True when the answer's last visible character, past closing quotes, brackets and
    emphasis, ends a sentence (any script's full stop, or an ellipsis)."""
    end = answer.rstrip().rstrip(ANSWER_EMPHASIS)
    return ends_sentence(end) or end.rstrip(CLOSERS).endswith(ANSWER_ELLIPSIS)


def leaves_sentence_open(answer: str) -> bool:
    """True when the answer stops where a sentence could still be going on: not after a
    sentence mark, not a label of a few words, not a link, not a list's short item, which
    people end without a mark."""
    if ends_with_sentence_mark(answer) or ends_on_link(answer):
        return False
    if len(answer.split()) <= SHORT_ANSWER_WORDS:
        return False
    return not ends_on_short_item(answer)


def ends_on_short_item(answer: str) -> bool:
    """True when the answer ends on a list's short item: a bullet or numbered line after
    another, or the last of a line's items (`a, b, c`, `1. a 2. b 3. c`)."""
    lines = [line for line in answer.strip().splitlines() if line.strip()]
    if len(lines) >= 2 and BULLET.match(lines[-1]) and BULLET.match(lines[-2]):
        return 0 < len(BULLET.sub("", lines[-1]).split()) <= LIST_ITEM_WORDS
    items = [item.split() for item in LIST_SEPARATOR.split(lines[-1])]
    return len(items) >= LIST_ITEMS and all(0 < len(w) <= LIST_ITEM_WORDS for w in items[1:])


def cut_mid_sentence(answer: str) -> bool:
    """True when the answer's last line (past a closing markdown rule) is a sentence stopped
    short: it ends on a comma, colon, hyphen or an opening bracket, or, outside verse, on a word
    no sentence ends on. A line after listed options asking the reader to choose is not cut."""
    lines = [ln.strip() for ln in answer.strip().splitlines() if ln.strip()]
    while lines and HORIZONTAL_RULE.match(lines[-1]):
        lines.pop()
    if not lines:
        return False
    line = lines[-1]
    if ends_on_link(line):
        return False
    if line[-1] == "," and len(lines) > 1 and len(line.split()) <= 6:
        return False  # a letter's closing line ("Looking forward to seeing you,")
    if ASKS_TO_CHOOSE.match(line) and offers_options(lines[:-1]):
        return False
    if line[-1] in ",:-–(/[{":  # not ";", which ends code and list items
        return True
    tail = line.split()
    return len(tail) >= 4 and tail[-1].lower() in DANGLING and not reads_as_verse(lines)


def offers_options(lines: list[str]) -> bool:
    """True when the last OPTIONS_BEFORE lines are options to choose from."""
    last = lines[-OPTIONS_BEFORE:]
    return len(last) == OPTIONS_BEFORE and all(OPTION.match(ln) for ln in last)


def reads_as_verse(lines: list[str]) -> bool:
    """True when the lines before the last are verse: of 3 to 12 words, not list items (a list
    of phrases can be cut in its last item), quantities ("2 cups flour") nor worked steps
    ("= $70x"), and most end on a letter."""
    before = lines[:-1]
    if len(before) < VERSE_LINES - 1 or any(NOT_VERSE.search(ln) for ln in lines):
        return False
    short = all(VERSE_LINE_WORDS[0] <= len(ln.split()) <= VERSE_LINE_WORDS[1] for ln in before)
    return short and sum(ln[-1].isalpha() for ln in before) * 2 > len(before)
