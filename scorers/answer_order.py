"""Order checks on an answer that need no model: worked steps, list numbers, ordinals and
connectives out of sequence."""

from __future__ import annotations

from bisect import bisect_right

import regex

from filters.text_stats import BLANK_LINES
from scorers.sentences import sentences, split_units

# An equation in a worked answer: its operands, each with up to two unit words ("1000 tiles *
# 40%", "$130 / 2 wands"), then "=" and the result ("20 - 6 = 14 meters").
OPERAND = r"[$(]*-?\d[\d,]*(?:\.\d+)?%?[)]*(?:/[A-Za-z]+)?(?:[ \t]+[A-Za-z]+(?:/[A-Za-z]+)?){0,2}"
EQUATION = regex.compile(
    rf"((?:{OPERAND}\s*[-+*/x×÷]\s*)+{OPERAND})\s*=\s*\$?(-?\d[\d,]*(?:\.\d+)?)"
)
# Factors every reader knows (seconds in a minute, minutes in an hour, percent, cents, metric
# prefixes): multiplying or dividing by one is not using a result early; adding one may be.
CONSTANTS = frozenset({60.0, 100.0, 1000.0})
MULTIPLY = regex.compile(r"[*×÷]|\bx\b|/(?![A-Za-z])")
SMALL = 3  # an operand up to this may count things the prompt names (three houses)
NUMBER = regex.compile(r"-?\d[\d,]*(?:\.\d+)?")
# A one-letter variable set to a number ("when a = 4 and b = 6, c = ..."), not a result.
SET_VALUE = regex.compile(
    r"(?<![A-Za-z0-9_.])[A-Za-z]\s*=\s*(-?\d[\d,]*+(?:\.\d+)?+)(?!\s*[-+*/x×÷])"
)
# Numbers a prompt may give in words ("five friends", "half as many", "a dozen eggs").
NUMBER_WORDS = dict(
    zip(
        "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
        "fifteen sixteen seventeen eighteen nineteen twenty".split(),
        range(21),
        strict=True,
    )
) | {
    "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80,
    "ninety": 90, "hundred": 100, "thousand": 1000, "dozen": 12, "half": 2, "halves": 2,
    "twice": 2, "double": 2, "pair": 2, "couple": 2, "triple": 3, "thrice": 3, "third": 3,
    "thirds": 3, "quarter": 4, "quarters": 4, "fourth": 4, "fourths": 4, "fifth": 5,
    "fifths": 5, "week": 7, "weeks": 7, "percent": 100,
}  # fmt: skip
# Openers that sum up what came before.
SUM_UP = (
    r"in conclusion|in summary|to summari[sz]e|to conclude|to sum(?: it)? up|all in all|overall"
)
# Openers that point back at an earlier sentence, so no answer starts with one. Words that
# also open a first sentence in another sense ("However you slice it", "Next week", "Second
# person") count only when a comma follows.
POINTS_BACK = regex.compile(
    r"^\W*(?:(?:additionally|furthermore|moreover|therefore|consequently|lastly"
    r"|secondly|thirdly|nevertheless|nonetheless|likewise|hence|thus(?! far))\b"
    r"|so,? you see,"
    rf"|(?:however|similarly|besides|second|third|next|then|afterwards?|{SUM_UP}"
    r"|as a result|that said|on the other hand"
    r"|in contrast|by contrast|after that|once again|in addition|meanwhile|also"
    r"|instead)\s*,)",
    regex.IGNORECASE,
)
# The same openers, which an answer asked for a conclusion may start with.
SUMMING_UP = regex.compile(rf"^\W*(?:{SUM_UP})\s*,", regex.I)
# A request for a conclusion, a summary or a verdict (a review, a rating), which such an opener
# then answers ("Overall, the article is clear").
ASKS_TO_CONCLUDE = regex.compile(
    r"\b(?:conclu\w*|summar\w*|sum up|recap\w*|wrap[- ]?up|evaluat\w*|review\w*|assess\w*"
    r"|verdict|opinion|critique|rating|rate (?:the|this|these|it|them|each|how)|predict\w*)\b",
    regex.I,
)
# A list item's number: "2." or "2)" opening an unindented sentence (a nested list's items are
# indented), or "2)" after a colon, semicolon or comma inside one and before the item's words
# ("include: 1) ...", 'a list like this: "1) ...'; not a tuple's last number: "(10, 4), what",
# "(0, 0) and").
LIST_NUMBER = regex.compile(
    r"(?:^\(?([1-9]\d?)[.)](?=\s|$)"
    r"|(?<=[:;,]\s{1,8}[\"“‘']?)(?<!\([^()]*)([1-9]\d?)\)(?=\s+\p{L}))"
)
# Fewest items of a countdown list: a shuffle of 3 items is reversed one time in 6.
COUNTDOWN_ITEMS = 5
# A fenced code block (or one left open at the end): its lines are not the answer's sentences.
FENCED_CODE = regex.compile(r"^\s*```.*?(?:^\s*```[^\n]*$|\Z)", regex.DOTALL | regex.MULTILINE)
ORDINAL = regex.compile(r"^\W*(first|second|third|fourth|fifth)(?:ly\b|\s*,)", regex.I)
RANKS = {"first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5}
CLOSING = regex.compile(r"^\W*(?:finally|lastly|in conclusion|in summary|to conclude)\s*,", regex.I)
NEXT_STEP = regex.compile(
    r"^\W*(?:next\s*,|(?:second|third|fourth|fifth)(?:ly\b|\s*,))", regex.IGNORECASE
)
# A step that follows others: "First, ..." does not come after one.
LATER_STEP = regex.compile(
    r"^\W*(?:(?:next|then|afterwards?|after that|second|third|finally|lastly)\s*,"
    r"|(?:secondly|thirdly)\b)",
    regex.IGNORECASE,
)
FIRST_STEP = regex.compile(r"^\W*first(?:ly)?\s*,", regex.IGNORECASE)
# Where a paragraph or a section starts: after a line of white space, or at a heading.
BLOCK_BREAK = regex.compile(BLANK_LINES.pattern + r"|\n(?=[ \t]*#)")  # or a heading


def result_used_early(prompt: str, answer: str) -> bool:
    """True when a step of a worked answer uses a number before the step that computes it: an
    equation's operand above SMALL that is not in the prompt (in digits or words) nor anywhere
    earlier in the answer, and is the result of a later equation."""
    known = {_number(x) for x in NUMBER.findall(prompt)}
    known |= {
        float(NUMBER_WORDS[w])
        for w in regex.findall(r"[a-z]+", prompt.lower())
        if w in NUMBER_WORDS
    }
    steps = sentences(answer)
    equations = [list(EQUATION.finditer(step)) for step in steps]
    last_computed = {  # each result, by the last step that computes it
        _number(m.group(2)): i for i, found in enumerate(equations) for m in found
    }
    for i, (step, found) in enumerate(zip(steps, equations, strict=True)):
        for m in found:
            operands = m.group(1)
            factors = _factors(operands)
            # a value the step sets before its equation ("when b = 6, c = 12 - 6") is given
            given = known | {_number(x) for x in SET_VALUE.findall(step[: m.start()])}
            for x in map(_number, NUMBER.findall(operands)):
                if x in given or abs(x) <= SMALL or (x in CONSTANTS and x in factors):
                    continue
                if last_computed.get(x, -1) > i:
                    return True
        known |= {_number(x) for x in NUMBER.findall(step)}
    return False


def markers_out_of_order(
    answer: str, first_reply: bool = True, asked_to_conclude: bool = False
) -> bool:
    """True when an answer's sentences open on markers no writer puts in that order: a first
    sentence pointing back ("However, ..."), list numbers that do not rise ("2." before "1.",
    inline "2)" before "1)"; a new list may start again at 1), ordinals that do not rise
    ("Second, ..." before "First, ..."), and, within a paragraph or section, a later step
    ("Next, ...", "Then, ...") before "First, ..." or a step announced ("Next, ...", "Fourth,
    ...") after the closing one ("Finally, ..."). A reply after earlier ones (`first_reply`
    False) may open pointing back at them or go on with their list; an answer asked to conclude
    or sum up may open "In conclusion,"."""
    blocks = _blocks(answer)
    every = [s for block in blocks for s in block]
    if len(every) < 2:
        return False
    summing_up = asked_to_conclude and SUMMING_UP.match(every[0])
    if first_reply and POINTS_BACK.match(every[0]) and not summing_up:
        return True
    numbers = [int(m.group(1) or m.group(2)) for s in every for m in LIST_NUMBER.finditer(s)]
    ranks = [RANKS[m.group(1).lower()] for s in every if (m := ORDINAL.match(s))]
    if _out_of_sequence(numbers, first_reply) or _out_of_sequence(ranks, first_reply):
        return True
    return any(_steps_out_of_order(block) for block in blocks)


def _blocks(answer: str) -> list[list[str]]:
    """The answer's sentences, line by line, in paragraphs and sections: a blank line (white
    space only) or a heading starts a new one."""
    starts = [m.end() for m in BLOCK_BREAK.finditer(answer)]
    blocks: list[list[str]] = [[]]
    at = passed = 0  # where the next unit is looked for; the block starts before it
    for unit, _ in split_units(answer, "sentences"):
        found = answer.find(unit, at)
        at = found if found >= 0 else at
        if bisect_right(starts, at) > passed and blocks[-1]:
            blocks.append([])
        passed = bisect_right(starts, at)
        blocks[-1].append(unit)
        at += len(unit)
    return [block for block in blocks if block]


def _steps_out_of_order(block: list[str]) -> bool:
    """True when a paragraph's sentences put a later step before "First," or announce a step
    after the closing one."""
    first = next((i for i, s in enumerate(block) if FIRST_STEP.match(s)), None)
    if first is not None and any(LATER_STEP.match(s) for s in block[:first]):
        return True
    closing = next((i for i, s in enumerate(block) if CLOSING.match(s)), None)
    return closing is not None and any(NEXT_STEP.match(s) for s in block[closing + 1 :])


def without_code(answer: str) -> str:
    """The answer with its fenced code blocks taken out."""
    return FENCED_CODE.sub("", answer)


def _out_of_sequence(values: list[int], first_reply: bool) -> bool:
    """True when item numbers break every list they could belong to: each number starts a new
    list (1), rises in the innermost open one, or resumes an outer one it rises in (after a
    sublist, "2." follows the outer "1."); a first reply's list may not start above 1 when a 1
    follows, a countdown to 1 (a top 10 from 10 to 1) is in order, and a number repeated
    is a slip."""
    if len(values) >= COUNTDOWN_ITEMS and values == list(range(len(values), 0, -1)):
        return False
    if first_reply and values and values[0] != 1 and 1 in values:
        return True
    open_lists = values[:1]  # the last number of each open list, innermost last
    for value in values[1:]:
        if value == 1:
            open_lists.append(1)
            continue
        if value == open_lists[-1]:
            continue  # a number written twice ("2." then "2.") is a slip, not a shuffle
        while open_lists and open_lists[-1] >= value:
            open_lists.pop()
        if not open_lists:
            return True
        open_lists[-1] = value
    return False


def _factors(operands: str) -> set[float]:
    """The numbers an equation multiplies or divides by (not those it adds or subtracts), and
    a whole in percent (100%)."""
    found = list(NUMBER.finditer(operands))
    factors = set()
    for k, m in enumerate(found):
        before = operands[found[k - 1].end() : m.start()] if k else ""
        after = operands[m.end() : found[k + 1].start()] if k + 1 < len(found) else ""
        if any(MULTIPLY.search(gap) for gap in (before, after)) or after.startswith("%"):
            factors.add(_number(m.group()))
    return factors


def _number(text: str) -> float:
    return float(text.replace(",", ""))
