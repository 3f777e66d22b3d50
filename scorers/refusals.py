"""Answers that refuse, or that speak as the AI that wrote them when the prompt did not ask it
to play one."""

from __future__ import annotations

import regex

REFUSAL = regex.compile(
    r"\b(i (cannot|can't|can not|am unable to|am not able to|won't) (help(?! but\b)|assist"
    r"|provide|comply|fulfill?|create|generate|do (?:that|this|it|your)|complete (?:this|that|your)"
    r"|answer|write|solve)"
    r"|i'm (sorry|afraid),? but i (cannot|can't|am unable)|i apologi[sz]e,? but i (cannot|can't))",
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
    r"|\b(?:current|today'?s) (?:date|time|year)\b|\bwhat time is it\b",
    regex.IGNORECASE,
)
OPENING_CHARS = 600  # a refusal or disclaimer comes first; later, "I cannot" is part of an answer


def refuses(answer: str) -> bool:
    """True when the answer's opening declines the request ("I'm sorry, but I cannot...")."""
    return REFUSAL.search(answer[:OPENING_CHARS]) is not None


def disclaims(prompt: str, answer: str) -> bool:
    """True when the answer's opening speaks as an AI ("As an AI language model, ...") though
    the prompt neither cast it as one nor asked about it or the date."""
    if AI_DISCLAIMER.search(answer[:OPENING_CHARS]) is None:
        return False
    return not AI_ROLE.search(prompt) and not ABOUT_ASSISTANT.search(prompt)
