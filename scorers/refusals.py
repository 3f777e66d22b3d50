"""Answers that refuse, or that speak as the AI that wrote them when the prompt did not ask it
to play one."""

from __future__ import annotations

import regex

REFUSAL = regex.compile(
    r"\b(i (cannot|can't|can not|am unable to|am not able to|won't) (help(?! but\b)|assist"
    r"|provide|comply|fulfill|create|generate|do that|answer|write)"
    r"|i'm (sorry|afraid),? but i (cannot|can't|am unable)|i apologi[sz]e,? but i (cannot|can't))",
    regex.IGNORECASE,
)
AI_DISCLAIMER = regex.compile(
    r"\b(as an ai(\s+language)?\s+model|as a (large )?language model|i am an ai\b|i'm an ai\b"
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
OPENING_CHARS = 600  # a refusal or disclaimer comes first; later, "I cannot" is part of an answer


def refuses(prompt: str, answer: str) -> bool:
    """True when the answer's opening refuses, or speaks as an AI the prompt did not cast."""
    opening = answer[:OPENING_CHARS]
    if REFUSAL.search(opening):
        return True
    return AI_DISCLAIMER.search(opening) is not None and not AI_ROLE.search(prompt)
