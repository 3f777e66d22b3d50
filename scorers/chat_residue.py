"""What chat tools leave in instruction records: template tokens, a generation template's unfilled
slots, text of the chat page scraped with an answer, and a service's error message saved as the
answer."""

from __future__ import annotations

import regex

BBCODE = (
    "URL|IMG|QUOTE|CODE|COLOR|SIZE|FONT|LIST|CENTER|LEFT|RIGHT|SPOILER|TABLE|EMAIL|SUP|SUB|PHP"
    "|HTML|HIGHLIGHT|YOUTUBE|MEDIA|NOPARSE|INDENT|STRIKE|ATTACH|MENTION|USER|ICODE|PLAIN"
)
# Upper-case tags a base model made up to wrap its answer ("[SOL] ... [/SOL]", "[ANS]...[/ANS]");
# forum markup (BBCode's [QUOTE]...[/QUOTE], [b]) is written on purpose, and a lone "[/SCAN]"
# is a command's switch.
MADE_UP_TAG = regex.compile(rf"\[((?!(?:{BBCODE})\])[A-Z][A-Z_]{{2,15}})\].*?\[/\1\]", regex.DOTALL)
# A generation template's slot left unfilled ("I am {{name}}", "Today is {{todays_date}}",
# "{{model-name}}"); not a GitHub `${{ }}` expression, Handlebars' raw `{{{x}}}` or a slot the
# prompt asked for.
UNFILLED_SLOT = regex.compile(r"(?<![{$\\])\{\{\s*[\p{L}_][\w.\- ]{0,40}?\s*\}\}(?!\})")
# A single-brace field ("{name}"): an answer showing one explains brace syntax (f-strings,
# str.format, set notation), where "{{name}}" is an escape, not a slot.
SINGLE_BRACE_FIELD = regex.compile(r"(?<!\{)\{[\p{L}_][\w.]*\}(?!\})")
INLINE_CODE = regex.compile(r"`[^`\n]+`")
FENCED_CODE = regex.compile(r"```.*?(?:```|\Z)", regex.DOTALL)
LATEX = regex.compile(r"\\[A-Za-z]+\{|\\[(\[]|\$[^$\n]+\$")
ASKS_FOR_SLOTS = regex.compile(
    r"\{\{|\btemplat|placeholder|merge (tag|field)|brace|f-?string|\bformat|escap"
    r"|\b(jinja2?|handlebars|mustache|liquid|vue|angular|django|flask|ansible|helm|hugo|jekyll"
    r"|twig|nunjucks|postman|shopify|sendgrid|mailchimp)\b",
    regex.IGNORECASE,
)
TEMPLATE = regex.compile(
    r"<\|(im_start|im_end|endoftext|eot_id|start_header_id|end_header_id|user|assistant|system)\|>"
    r"|\[/?INST\]|<</?SYS>>|<(start|end)_of_turn>|<\|end\|>"
    r"|(?<!<s>[^\n]*)</s>"  # the end-of-sequence token as text (not HTML's <s>struck</s>)
    r"|^\s*#{2,3} ?(Instruction|Response|Input|Human|Assistant)\s*:"
    r"|^\s*\d{1,3}\.\s*Instruction\s*:"  # the next task run on (Alpaca's "18. Instruction:")
    # the chat page's own text, scraped into ShareGPT exports: a code block's "Copy code" button,
    # a counter of characters, the "1 / 1" of regenerated answers stuck to the first word
    r"|```[\w+#.-]*\s*Copy code|Copy\d+ chars / \d+ words|^\s*\d{1,2} / \d{1,2}(?=\p{L})",
    regex.MULTILINE,
)
# A chat's speaker label at a line's start: residue, unless the prompt asks for or gives a
# dialogue ("Write a dialog", "a dialogue between a user and an assistant"); "our
# conversation", a role to play or a file dialog is no such request (a model runs on into
# "Human: ...").
ROLE_LABEL = regex.compile(r"^\s*(Human|Assistant|USER|ASSISTANT)\s*:\s", regex.MULTILINE)
SPEAKS_OF_DIALOGUE = regex.compile(
    r"\b(?:dialog(?:ue)?s?|conversations?|transcripts?|interviews?)\s+between\b"
    r"|\b(?:write|create|compose|continue|generate|produce|script)\b[^.?!\n]{0,40}?"
    r"\b(?:dialog(?:ue)?s?|screenplays?|transcripts?)\b(?!\s+box)",
    regex.IGNORECASE,
)
# A chat service's error, saved in place of an answer (rate limits, outages, a prompt too long).
SERVICE_ERROR = regex.compile(
    r"\A\W*(too many requests in 1 hour|only one message at a time\. please allow"
    r"|an error occurred\. (either the engine|if this issue persists)"
    r"|the message you submitted was too long|chatgpt is at capacity"
    r"|you('ve| have) (reached|hit) (your|the) (current )?(usage cap|limit|plus plan limit)"
    r"|you('re| are) sending messages too quickly|unusual activity has been detected"
    r"|we('re| are) experiencing (exceptionally )?high demand|error in body stream"
    r"|you exceeded your current quota|hmm\.{3} ?something seems to have gone wrong"
    r"|something went wrong[,.]? (please )?try again|network error\W*\Z|conversation not found)",
    regex.IGNORECASE,
)


def has_template_residue(prompt: str, text: str) -> bool:
    """True when a conversation's text holds chat-template tokens, a run-on next task, scraped
    page text, or speaker labels ("Human: ") where the prompt is not about a dialogue."""
    if TEMPLATE.search(text) is not None:
        return True
    return ROLE_LABEL.search(text) is not None and SPEAKS_OF_DIALOGUE.search(prompt) is None


def wraps_in_made_up_tags(prompt: str, answer: str) -> bool:
    """True when an answer wraps text in an upper-case tag pair the prompt did not ask for."""
    found = MADE_UP_TAG.search(answer)
    return found is not None and f"[{found.group(1)}]" not in prompt


def leaves_slots_unfilled(prompt: str, answer: str) -> bool:
    """True when an answer's prose holds a template slot (`{{name}}`) the prompt did not ask for
    (an answer whose code holds slots, or with LaTeX or single-brace fields, may be explaining
    brace syntax)."""
    if ASKS_FOR_SLOTS.search(prompt) or LATEX.search(answer):
        return False
    if any(UNFILLED_SLOT.search(code) for code in FENCED_CODE.findall(answer)):
        return False
    prose = INLINE_CODE.sub(" ", FENCED_CODE.sub(" ", answer))
    return UNFILLED_SLOT.search(prose) is not None and SINGLE_BRACE_FIELD.search(prose) is None


def is_service_error(answer: str) -> bool:
    """True when an answer opens with a chat service's error message."""
    return SERVICE_ERROR.search(answer) is not None
