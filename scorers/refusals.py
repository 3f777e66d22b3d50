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

# The same in Chinese ("作为一个人工智能语言模型，我无法…", "很抱歉，我是个文本机器人，我无法…").
AI_NOUN_ZH = (
    r"(?:(?<![A-Za-z])AI(?![A-Za-z])|人工智能|(?:大型)?语言模型|语言\s*AI|(?:文本|文字|聊天)\s*机器人"
    r"|虚拟助手)"
)
# What the writer is ends there ("作为人工智能，我", "我是一个语言模型不能"), not a field, a trade
# or a part ("作为 AI 领域的专家", "我是AI研究员", "作为语言模型不可或缺的一部分").
AI_NOUN_END_ZH = (
    r"\s*(?:助手|程序|系统|机器人|模型){0,2}(?=\p{P}|$|\s*(?:我|无法|不能|没有|并不|并没有))"
)
AI_DISCLAIMER_ZH = regex.compile(
    rf"作为(?:一[个名位款])?\s*[^，,。！？\n]{{0,6}}?{AI_NOUN_ZH}{AI_NOUN_END_ZH}"
    rf"|我(?:只)?是(?:一)?[个名款]?\s*[^，,。！？\n]{{0,4}}?{AI_NOUN_ZH}{AI_NOUN_END_ZH}"
)
REFUSAL_ZH = regex.compile(
    r"^\W{0,3}(?:我?(?:很|非常)?(?:抱歉|对不起)|不好意思)"
    # not sympathy or a courtesy ("很抱歉听到这个消息", "抱歉让您久等了")
    r"(?!听到|听说|让您|让你|打扰|给您|给你)[，,、\s]*(?:但是?|不过)?[，,\s]*"
    r"[^。！？\n]{0,30}?我(?:暂时)?(?:无法|不能|没有办法|没法)"
    # not a letter written for the user ("非常抱歉，我无法参加明天的会议"), nor an opinion
    r"(?!按时|准时|参加|出席|到场|赴约|前往|过来|回来|来|去|想象|同意|相信|及时)"
    r"|^\W{0,3}我(?:无法|不能|没有办法)(?:回答|提供|完成|帮助|协助|满足|执行|生成|创建|访问|获取)",
)
# A Chinese prompt about the assistant or about AI ("你是谁？", "介绍一下你自己", "你有感情吗",
# "什么是人工智能", the date, a greeting), where saying what it is is the answer.
ABOUT_ASSISTANT_ZH = regex.compile(
    r"你是谁|你叫什么|你的(?:名字|创造者|开发者|感受|看法|观点|想法)"
    r"|(?:介绍|描述)一?下?你自己|谁(?:创造|开发|训练|制造|设计)了你|^\W*你(?:都)?做(?:了|过)什么\W*$"
    r"|你(?:是|有|会|能)(?:不是|没有)?(?:人工智能|AI|机器人|感情|情感|意识|感觉|思想|梦)"
    r"|人工智能|(?<=\p{Han}\s?)AI|AI(?=\s?\p{Han})|机器人|语言模型"
    r"|(?:今天|现在)(?:是)?(?:几月几[号日]|几点|的日期|星期几)"
    # a bare greeting ("你好！", "很高兴认识你")
    r"|^\W*(?:(?:你|您)好(?:吗|呀|啊)?|嗨|哈喽|(?:早上|上午|下午|晚上)好|很高兴(?:认识|见到)(?:你|您))+\W*$",
)
# A Chinese prompt asking what the assistant can or cannot do ("你不能做什么", "你的局限是什么").
ASKS_LIMITS_ZH = regex.compile(
    r"你的(?:能力|局限|限制|缺点)|你(?:能|可以|不能|无法)(?:做|帮)(?:什么|哪些)"
    r"|你(?:不能|无法)(?:回答|做)"
)
ZH_OPENING_CHARS = 200  # OPENING_CHARS in Chinese: a character says as much as ~3 Latin ones


def refuses(prompt: str, answer: str) -> bool:
    """True when the answer's opening declines the request ("I'm sorry, but I cannot...",
    "很抱歉，我无法…") though the prompt did not ask what the assistant cannot do."""
    declines = REFUSAL.search(answer[:OPENING_CHARS].replace("’", "'"))
    if declines is None and REFUSAL_ZH.search(answer[:ZH_OPENING_CHARS]) is None:
        return False
    return not _asks_limits(prompt)


def disclaims(prompt: str, answer: str) -> bool:
    """True when the answer's opening speaks as an AI ("As an AI language model, ...",
    "作为一个人工智能，…") though the prompt neither cast it as one nor asked about it, what it
    cannot do, or the date."""
    speaks = AI_DISCLAIMER.search(answer[:OPENING_CHARS])
    if speaks is None and AI_DISCLAIMER_ZH.search(answer[:ZH_OPENING_CHARS]) is None:
        return False
    if (
        AI_ROLE.search(prompt)
        or ABOUT_ASSISTANT.search(prompt)
        or ABOUT_ASSISTANT_ZH.search(prompt)
    ):
        return False
    return not _asks_limits(prompt)


def _asks_limits(prompt: str) -> bool:
    """True when the prompt asks what the assistant cannot do (curly apostrophes read straight)."""
    return bool(ASKS_LIMITS.search(prompt.replace("’", "'")) or ASKS_LIMITS_ZH.search(prompt))


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
