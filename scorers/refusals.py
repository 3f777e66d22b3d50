"""Answers that refuse, or that speak as the AI that wrote them when the prompt did not ask it
to play one."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import regex

REFUSAL = regex.compile(
    r"\b(?:i (?:cannot|can't|can not|am unable to|am not able to|won't)|i'm (?:unable|not able) to)"
    r" (?:help(?! but\b)|assist|provide|comply|fulfill?|create|generate|do (?:that|this|it|your)"
    r"|complete (?:this|that|your)|answer|write|solve|browse|access|predict|search"
    r"|recommend (?:ways|how|using|intentionally|deliberately|specific))"
    # an apology declining; not one written for the user ("I'm sorry, but I cannot attend")
    r"|\b(?:i'm (?:sorry|afraid)|i apologi[sz]e|(?:my )?apologies)"
    r"(?: for (?:any|the) (?:inconvenience|confusion))?"
    r"(?:,? but|,) i(?: (?:cannot|can't|can not|am unable|am not able|won't)"
    r"|'m (?:unable|not able))\b"
    # not an apology written for the user ("I'm sorry, but I cannot attend", "I won't be able to
    # make it"), nor one that declines nothing ("I'm sorry, I can't help but laugh")
    r"(?!(?: to)?(?: be able to)?\s+(?:come(?!\s+up)|attend|make it|be there|travel)\b)"
    r"(?!\s+(?:help but|stop|believe|wait|thank|imagine|express)\b)"
    # Saying it lacks what it needs to answer, in place of an answer ("I do not have enough
    # context to...", "Unfortunately I do not have access to...").
    r"|\bi (?:do not|don't) have (?:enough|sufficient) (?:context|information) to\b"
    r"|^\W*unfortunately,? i (?:do not|don't) have access to\b",
    regex.IGNORECASE,
)
AI_DISCLAIMER = regex.compile(
    r"\b(as an ai(\s+language)?\s+model|as an ai(\s+assistant|\s+chatbot)?\s*,"
    r"|as a (large )?language model|i am an ai\b|i'm an ai\b"
    r"|i do(n't| not) have (personal )?(opinions|feelings|beliefs|access to real-time)"
    r"|i('m| am) (chatgpt|a (large )?language model|an artificial intelligence)"
    r"|as of my (last |latest )?(knowledge )?(update|cut-?off)"
    r"|my (knowledge|training)( data)? (cut-?off|only goes up to|goes up to))",
    regex.IGNORECASE,
)
# A prompt casting the answer as an AI ("Roleplay as an AI character", "Pretend to be a robot").
AI_ROLE = regex.compile(
    r"\b(role[ -]?play(ing)?|pretend(ing)?|imagine|act(ing)? as|play(ing)? the role of)\b"
    r"[^.\n]{0,30}\b(ai|artificial intelligence|language model|chatbot|robot|android)\b",
    regex.IGNORECASE,
)
# A prompt about the assistant itself ("Can you feel like a human?", "Who created you?", "What
# do you think about ChatGPT?", "a project you've worked on", "What assumptions have you made
# in your response?") or the date ("What's the current date?"): saying what an AI is, or what
# it cannot know, is then the answer, not a disclaimer. (An answer hedged on a training
# cut-off, "As of my last update, the President is...", is still one.)
ABOUT_ASSISTANT = regex.compile(
    r"\b(?:are|can|do|did|could|would|will|have) you(?:\s+(?:really|ever|actually|truly|even|as"
    r"|still|also|personally))*\s+(?:think(?!\s+(?:of|up|about)\b)\w*|feel\w*|conscious|sentient"
    r"|alive|human|capable|remember|dream\w*|have (?:emotions|feelings|opinions)|believe"
    r"|experienc\w*|speak|understand(?!\s+(?:my|the|this|what|how)\b)|learn)\b"
    r"|\byour (?:own |personal )?(?:opinions?|feelings?|thoughts|views?|name|creators?|training"
    r"|capabilit\w*|limitations?|favou?rite)\b|\byourself\b"
    r"|\byou(?:'ve| have) (?:worked|done|been)\b"
    r"|\bwho (?:made|created|built|trained|developed|designed|programmed) you\b"
    r"|\b(?:who|what) are you\s*\?"
    r"|\b(?:evaluate|critique|review|assess|reflect on|rate|grade) your (?:own |previous "
    r"|earlier |last )?(?:response|answer|reply)\b"
    r"|\b(?:have|did) you (?:made?|assumed?|used?) in your (?:response|answer|reply)\b"
    r"|\b(?:chatgpt|gpt-?[34]\w*|openai|language models?|chat ?bots?|artificial intelligence"
    r"|an ai)\b"
    r"|\b(?:current|today'?s) (?:date|time|year)\b|\bwhat time is it\b"
    # a bare greeting ("Hello, nice to meet you!"), where an assistant may say what it is
    r"|^\W*(?:(?:hi|hello|hey|there|greetings|good (?:morning|afternoon|evening|day)"
    r"|(?:it's )?nice to meet you|how are you(?: doing)?(?: today)?)\W*)+$",
    regex.IGNORECASE,
)
# A prompt asking what the assistant cannot or will not do ("What kind of questions can't you
# answer?", "What are your limitations?"): listing what it declines is then the answer.
ASKS_LIMITS = regex.compile(
    r"\b(?:what|which|any|things|questions|tasks|requests|topics)\b[^.?!\n]{0,30}"
    r"\b(?:you (?:can't|cannot|can not|won't|will not|are (?:not able|unable|not allowed)"
    r"|refuse|decline)|(?:can't|cannot|can not|won't|will not) you|are you (?:not able|unable"
    r"|not allowed))\b"
    r"|\byour (?:own )?(?:limitations?|limits|restrictions|capabilit\w*)\b"
    r"|\bwhat can you (?:do|help)\b",
    regex.IGNORECASE,
)
# A system turn giving the assistant tools ("You are a helpful assistant with access to the
# following functions"), where saying what it cannot do with them is part of the lesson.
GIVES_TOOLS = regex.compile(
    r"\b(?:access to|use|call)\s+(?:the\s+following|these)\s+(?:functions|tools)\b",
    regex.IGNORECASE,
)
OPENING_CHARS = 600  # a refusal or disclaimer comes first; later, "I cannot" is part of an answer


def refuses(prompt: str, answer: str) -> bool:
    """True when the answer's opening declines the request ("I'm sorry, but I cannot...")
    though the prompt did not ask what the assistant cannot do."""
    if REFUSAL.search(answer[:OPENING_CHARS].replace("’", "'")) is None:
        return False
    return not _asks_limits(prompt)


def disclaims(prompt: str, answer: str) -> bool:
    """True when the answer's opening speaks as an AI ("As an AI language model, ...") though
    the prompt neither cast it as one nor asked about it, what it cannot do, or the date."""
    if AI_DISCLAIMER.search(answer[:OPENING_CHARS]) is None:
        return False
    if AI_ROLE.search(prompt) or ABOUT_ASSISTANT.search(prompt):
        return False
    return not _asks_limits(prompt)


def _asks_limits(prompt: str) -> bool:
    """True when the prompt asks what the assistant cannot do (curly apostrophes read straight)."""
    return ASKS_LIMITS.search(prompt.replace("’", "'")) is not None


def offers_tools(fields: Sequence[Any], turns: list[dict[str, str]] | None) -> bool:
    """True when a record gives the assistant tools: one of its tool `fields` (`tools`, OpenAI's
    older `functions`) not empty once read as JSON, a tool turn, or a system turn giving "the
    following functions"."""
    if any(_given(value) for value in fields):
        return True
    return any(
        t["role"] == "tool" or (t["role"] == "system" and GIVES_TOOLS.search(t["content"]))
        for t in turns or []
    )


def _given(value: Any) -> bool:
    """True when a field holds something: a JSON string is read first ("[]", "null" are empty)."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return bool(value.strip())
    if isinstance(value, float):
        return False  # NaN, a missing value in pandas-made files
    if isinstance(value, dict):
        return any(v is not None for v in value.values())
    return bool(value)
